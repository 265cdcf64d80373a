"""The generator's reads for warm-up turns (its writes go through `repository.store_reply`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from database import Connection
from generator.persona import Persona


@dataclass(frozen=True)
class TurnSetup:
    """Whether the turn was written already, and the speaker's persona (None: none)."""

    written: bool
    persona: Persona | None


async def load_turn_setup(
    conn: Connection,
    tenant_id: uuid.UUID,
    speaker_instance_id: uuid.UUID,
    persona_id: uuid.UUID | None,
    turn_id: uuid.UUID,
    request_event_id: uuid.UUID,
) -> TurnSetup:
    """The pair's persona for the speaker (else the instance's), and whether the turn has its row."""
    row = await conn.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM replies WHERE id = $4 OR request_event_id = $5) AS written,"
        " p.id, p.name, p.system_prompt, p.language, p.max_length, p.emoji, p.temperature, p.model"
        " FROM (SELECT 1) AS one"
        " LEFT JOIN instances i ON i.id = $2 AND i.tenant_id = $1"
        " LEFT JOIN personas p ON p.id = coalesce($3, i.persona_id) AND p.tenant_id = $1",
        tenant_id,
        speaker_instance_id,
        persona_id,
        turn_id,
        request_event_id,
    )
    if row is None:  # `FROM (SELECT 1)` always yields one row
        raise RuntimeError("the turn setup query returned no row")
    if row["id"] is None:
        return TurnSetup(written=row["written"], persona=None)
    persona = Persona(
        id=row["id"],
        name=row["name"],
        system_prompt=row["system_prompt"],
        language=row["language"],
        max_length=row["max_length"],
        emoji=row["emoji"],
        temperature=round(float(row["temperature"]), 3),
        model=row["model"] or None,
    )
    return TurnSetup(written=row["written"], persona=persona)
