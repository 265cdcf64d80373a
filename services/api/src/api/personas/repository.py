"""SQL of personas (written by the api; read by the generator)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from database import Connection, Pool

_COLUMNS = (
    "id, tenant_id, name, system_prompt, language, max_length, emoji, temperature, model,"
    " created_at, updated_at, media_replies"
)
EDITABLE = (
    "name",
    "system_prompt",
    "language",
    "max_length",
    "emoji",
    "temperature",
    "model",
    "media_replies",
)


@dataclass(frozen=True)
class Persona:
    """One persona row."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    system_prompt: str
    language: str
    max_length: int
    emoji: bool
    temperature: float
    model: str | None
    created_at: datetime
    updated_at: datetime
    # How the persona answers media it cannot read, per kind (jsonb; docs/media.md).
    media_replies: dict[str, str] = field(default_factory=dict)


class PersonaNameTakenError(Exception):
    """The tenant already has a persona with this name."""


def _persona(row: Any) -> Persona:
    values = {key: row[key] for key in Persona.__dataclass_fields__}
    values["media_replies"] = _media_replies(values["media_replies"])
    return Persona(**values)


def _media_replies(value: Any) -> dict[str, str]:
    """The stored media replies (text values only: the column is also writable in SQL)."""
    if not isinstance(value, dict):
        return {}
    return {str(key): item for key, item in value.items() if isinstance(item, str)}


async def insert(executor: Pool | Connection, tenant_id: uuid.UUID, values: dict[str, Any]) -> Persona:
    """Create a persona."""
    columns = [column for column in EDITABLE if column in values]
    placeholders = ", ".join(f"${index + 2}" for index in range(len(columns)))
    try:
        row = await executor.fetchrow(
            f"INSERT INTO personas (tenant_id, {', '.join(columns)}) VALUES ($1, {placeholders})"  # noqa: S608
            f" RETURNING {_COLUMNS}",
            tenant_id,
            *(values[column] for column in columns),
        )
    except asyncpg.UniqueViolationError as error:
        raise PersonaNameTakenError(values.get("name")) from error
    return _persona(row)


async def ensure(executor: Pool | Connection, tenant_id: uuid.UUID, values: dict[str, Any]) -> Persona:
    """The tenant's persona named `values["name"]`, created with `values` when missing."""
    row = await executor.fetchrow(
        f"SELECT {_COLUMNS} FROM personas WHERE tenant_id = $1 AND name = $2",  # noqa: S608
        tenant_id,
        values["name"],
    )
    if row is not None:
        return _persona(row)
    try:
        return await insert(executor, tenant_id, values)
    except PersonaNameTakenError:
        row = await executor.fetchrow(
            f"SELECT {_COLUMNS} FROM personas WHERE tenant_id = $1 AND name = $2",  # noqa: S608
            tenant_id,
            values["name"],
        )
        return _persona(row)


async def get(executor: Pool | Connection, tenant_id: uuid.UUID, persona_id: uuid.UUID) -> Persona | None:
    """The tenant's persona."""
    row = await executor.fetchrow(
        f"SELECT {_COLUMNS} FROM personas WHERE id = $1 AND tenant_id = $2",  # noqa: S608
        persona_id,
        tenant_id,
    )
    return _persona(row) if row else None


async def list_for_tenant(
    executor: Pool | Connection, tenant_id: uuid.UUID, *, limit: int, offset: int
) -> list[Persona]:
    """The tenant's personas by name."""
    rows = await executor.fetch(
        f"SELECT {_COLUMNS} FROM personas WHERE tenant_id = $1 ORDER BY name, id LIMIT $2 OFFSET $3",  # noqa: S608
        tenant_id,
        limit,
        offset,
    )
    return [_persona(row) for row in rows]


async def update(
    executor: Pool | Connection, tenant_id: uuid.UUID, persona_id: uuid.UUID, changes: dict[str, Any]
) -> Persona | None:
    """Apply `changes` (editable columns only); None when the persona is not the tenant's."""
    columns = [column for column in EDITABLE if column in changes]
    assignments = "".join(f"{column} = ${index + 3}, " for index, column in enumerate(columns))
    try:
        row = await executor.fetchrow(
            f"UPDATE personas SET {assignments}updated_at = now() WHERE id = $1 AND tenant_id = $2"  # noqa: S608
            f" RETURNING {_COLUMNS}",
            persona_id,
            tenant_id,
            *(changes[column] for column in columns),
        )
    except asyncpg.UniqueViolationError as error:
        raise PersonaNameTakenError(changes.get("name")) from error
    return _persona(row) if row else None


async def delete(executor: Pool | Connection, tenant_id: uuid.UUID, persona_id: uuid.UUID) -> bool:
    """Delete the persona (instances using it fall back to none); False when not the tenant's."""
    return bool(
        await executor.fetchval(
            "DELETE FROM personas WHERE id = $1 AND tenant_id = $2 RETURNING true", persona_id, tenant_id
        )
    )
