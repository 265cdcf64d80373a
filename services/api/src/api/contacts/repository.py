"""SQL of a contact's consent evidence and erasure (LGPD art. 8 and 18).

Reads the guard's `consent_events` and `opt_outs`, ingest's `contacts` and `messages`, the
api's `blacklist` and `suppressions`. Erasure is the one place the api writes other services'
rows: it blanks personal data (message texts, names, raw webhook bodies) in ingest's tables
and campaign variables in its own, because the law asks for it and no event could carry it
(docs/outreach.md, "Erasure").
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from database import Connection, Pool


@dataclass(frozen=True)
class ConsentEvent:
    """One recorded consent change and the message that caused it."""

    occurred_at: datetime
    action: str
    source: str
    keyword: str | None
    message_id: uuid.UUID | None
    text: str | None
    channel: str
    instance: str | None


@dataclass(frozen=True)
class ConsentStanding:
    """Where the contact stands today."""

    opted_out: bool
    opted_out_at: datetime | None
    blacklisted: bool
    erased: bool


async def consent_events(
    executor: Pool | Connection, tenant_id: uuid.UUID, phones: Sequence[str]
) -> list[ConsentEvent]:
    """Every consent event of the contacts with these numbers, oldest first."""
    rows = await executor.fetch(
        "SELECT e.occurred_at, e.action, e.source, e.keyword, e.message_id, m.text, i.name AS instance"
        " FROM consent_events e JOIN contacts c ON c.id = e.contact_id"
        " LEFT JOIN messages m ON m.id = e.message_id"
        " LEFT JOIN instances i ON i.id = m.instance_id"
        " WHERE e.tenant_id = $1 AND (c.phone = ANY($2::text[])"
        "   OR split_part(c.jid, '@', 1) = ANY($2::text[]))"
        " ORDER BY e.occurred_at, e.id",
        tenant_id,
        list(phones),
    )
    return [
        ConsentEvent(
            occurred_at=row["occurred_at"],
            action=row["action"],
            source=row["source"],
            keyword=row["keyword"],
            message_id=row["message_id"],
            text=row["text"],
            channel="whatsapp" if row["message_id"] is not None else "api",
            instance=row["instance"],
        )
        for row in rows
    ]


async def standing(
    executor: Pool | Connection, tenant_id: uuid.UUID, phones: Sequence[str], phone_hash: str
) -> ConsentStanding:
    """Opt-out, blacklist and erasure of a number."""
    row = await executor.fetchrow(
        "SELECT (SELECT max(o.opted_out_at) FROM opt_outs o JOIN contacts c ON c.id = o.contact_id"
        "          WHERE o.tenant_id = $1"
        "            AND (o.phone = ANY($2::text[]) OR c.phone = ANY($2::text[]))) AS opted_out_at,"
        " EXISTS (SELECT 1 FROM blacklist WHERE tenant_id = $1 AND phone = ANY($2::text[])) AS blacklisted,"
        " EXISTS (SELECT 1 FROM suppressions WHERE tenant_id = $1 AND phone_hash = $3) AS erased",
        tenant_id,
        list(phones),
        phone_hash,
    )
    assert row is not None
    return ConsentStanding(
        opted_out=row["opted_out_at"] is not None,
        opted_out_at=row["opted_out_at"],
        blacklisted=bool(row["blacklisted"]),
        erased=bool(row["erased"]),
    )


@dataclass(frozen=True)
class Erased:
    """What an erasure blanked."""

    contacts: int
    messages: int
    raw_events: int
    campaign_rows: int


_ERASE = """
WITH people AS (
    SELECT id FROM contacts
    WHERE tenant_id = $1 AND (phone = ANY($2::text[]) OR split_part(jid, '@', 1) = ANY($2::text[]))
), blanked_messages AS (
    UPDATE messages m SET text = NULL, push_name = NULL
    WHERE m.tenant_id = $1 AND m.contact_id IN (SELECT id FROM people)
      AND (m.text IS NOT NULL OR m.push_name IS NOT NULL)
    RETURNING m.raw_event_id
), blanked_raw AS (
    UPDATE raw_events r SET payload = jsonb_build_object('erased', true), body_text = NULL
    WHERE r.id IN (SELECT raw_event_id FROM blanked_messages WHERE raw_event_id IS NOT NULL)
    RETURNING r.id
), blanked_contacts AS (
    UPDATE contacts c SET push_name = NULL, updated_at = now()
    WHERE c.id IN (SELECT id FROM people) RETURNING c.id
), blanked_targets AS (
    UPDATE campaign_targets t SET variables = '{}'::jsonb, rendered_text = NULL
    WHERE t.tenant_id = $1 AND t.phone = ANY($2::text[]) RETURNING t.id
), suppressed AS (
    INSERT INTO suppressions (tenant_id, phone_hash) VALUES ($1, $3) ON CONFLICT DO NOTHING RETURNING 1
)
SELECT (SELECT count(*) FROM blanked_contacts) AS contacts,
       (SELECT count(*) FROM blanked_messages) AS messages,
       (SELECT count(*) FROM blanked_raw) AS raw_events,
       (SELECT count(*) FROM blanked_targets) AS campaign_rows,
       (SELECT count(*) FROM suppressed) AS suppressed
"""


async def erase(conn: Connection, tenant_id: uuid.UUID, phones: Sequence[str], phone_hash: str) -> Erased:
    """Blank the personal data of the contacts with these numbers and remember the hash."""
    row = await conn.fetchrow(_ERASE, tenant_id, list(phones), phone_hash)
    assert row is not None
    return Erased(
        contacts=int(row["contacts"]),
        messages=int(row["messages"]),
        raw_events=int(row["raw_events"]),
        campaign_rows=int(row["campaign_rows"]),
    )
