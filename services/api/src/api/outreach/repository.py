"""SQL of campaigns (the api writes `campaigns` and `campaign_targets`; it reads the outreach's
`campaign_target_progress`, the guard's `opt_outs` and its own `blacklist` and `suppressions`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from database import Connection, Pool


@dataclass(frozen=True)
class CampaignRow:
    """A stored campaign with its target counts."""

    id: uuid.UUID
    name: str
    status: str
    instance_names: list[str]
    template: str
    window: list[dict[str, Any]]
    pacing: dict[str, Any]
    personalise: bool
    accepted: int
    rejected: int
    counts: dict[str, int]
    created_at: datetime
    updated_at: datetime


_CAMPAIGN_SELECT = """
SELECT c.id, c.name, c.status, c.template, c.send_window, c.pacing, c.personalize, c.accepted,
       c.rejected, c.created_at, c.updated_at,
       (SELECT coalesce(array_agg(i.name ORDER BY u.n), '{}') FROM unnest(c.instance_ids)
            WITH ORDINALITY AS u(id, n) JOIN instances i ON i.id = u.id) AS instance_names,
       (SELECT coalesce(jsonb_object_agg(s.state, s.n), '{}'::jsonb) FROM (
            SELECT p.state, count(*) AS n FROM campaign_target_progress p
            WHERE p.campaign_id = c.id GROUP BY p.state) AS s) AS counts
FROM campaigns c
"""


def _campaign(row: Any) -> CampaignRow:
    # jsonb arrives decoded (the pool's codec).
    window = row["send_window"]
    return CampaignRow(
        id=row["id"],
        name=row["name"],
        status=row["status"],
        instance_names=list(row["instance_names"]),
        template=row["template"],
        window=window if isinstance(window, list) else [],
        pacing=row["pacing"],
        personalise=row["personalize"],
        accepted=row["accepted"],
        rejected=row["rejected"],
        counts={str(k): int(v) for k, v in row["counts"].items()},
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def get_campaign(
    executor: Pool | Connection, tenant_id: uuid.UUID, campaign_id: uuid.UUID
) -> CampaignRow | None:
    """One campaign of the tenant."""
    row = await executor.fetchrow(
        _CAMPAIGN_SELECT + " WHERE c.id = $1 AND c.tenant_id = $2", campaign_id, tenant_id
    )
    return _campaign(row) if row is not None else None


async def campaign_exists(executor: Pool | Connection, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> bool:
    """Whether the tenant has this campaign."""
    return bool(
        await executor.fetchval(
            "SELECT EXISTS (SELECT 1 FROM campaigns WHERE id = $1 AND tenant_id = $2)", campaign_id, tenant_id
        )
    )


async def list_campaigns(
    executor: Pool | Connection, tenant_id: uuid.UUID, *, limit: int, offset: int
) -> list[CampaignRow]:
    """The tenant's campaigns, newest first."""
    rows = await executor.fetch(
        _CAMPAIGN_SELECT + " WHERE c.tenant_id = $1 ORDER BY c.created_at DESC, c.id LIMIT $2 OFFSET $3",
        tenant_id,
        limit,
        offset,
    )
    return [_campaign(row) for row in rows]


async def instances_named(
    conn: Connection, tenant_id: uuid.UUID, names: Sequence[str]
) -> dict[str, uuid.UUID]:
    """The tenant's live instances among `names`, by name."""
    rows = await conn.fetch(
        "SELECT name, id FROM instances"
        " WHERE tenant_id = $1 AND name = ANY($2::text[]) AND state <> 'removed'",
        tenant_id,
        list(names),
    )
    return {row["name"]: row["id"] for row in rows}


@dataclass(frozen=True)
class ConsentFacts:
    """Which of the candidate numbers must not be contacted."""

    opted_out: set[str]
    blacklisted: set[str]
    # Canonical numbers of erased contacts (`contracts.phones.suppression_hash`, computed by
    # PostgreSQL for every candidate at once).
    suppressed: set[str]
    # The number each phone last talked with among the campaign's instances (stickiness).
    last_instance: dict[str, uuid.UUID]


async def consent_facts(
    conn: Connection,
    tenant_id: uuid.UUID,
    numbers: Sequence[str],
    canonical: Sequence[str],
    instance_ids: Sequence[uuid.UUID],
) -> ConsentFacts:
    """Opt-outs, blacklist entries and erased contacts among `numbers`, and who they talked to."""
    rows = await conn.fetch(
        "SELECT 'o' AS kind, phone AS value, NULL::uuid AS instance_id FROM opt_outs"
        "  WHERE tenant_id = $1 AND phone = ANY($2::text[])"
        " UNION ALL SELECT 'b', phone, NULL FROM blacklist WHERE tenant_id = $1 AND phone = ANY($2::text[])"
        " UNION ALL SELECT 's', n, NULL FROM unnest($3::text[]) AS n"
        "  WHERE EXISTS (SELECT 1 FROM suppressions s WHERE s.tenant_id = $1"
        "    AND s.phone_hash = encode(sha256(convert_to($1::text || ':' || n, 'UTF8')), 'hex'))"
        " UNION ALL SELECT * FROM (SELECT DISTINCT ON (ct.phone) 'c', ct.phone, cv.instance_id"
        "   FROM contacts ct JOIN conversations cv ON cv.contact_id = ct.id"
        "   WHERE ct.tenant_id = $1 AND ct.phone = ANY($2::text[]) AND cv.instance_id = ANY($4::uuid[])"
        "   ORDER BY ct.phone, cv.last_message_at DESC) AS talked",
        tenant_id,
        list(numbers),
        list(canonical),
        list(instance_ids),
    )
    facts = ConsentFacts(opted_out=set(), blacklisted=set(), suppressed=set(), last_instance={})
    for row in rows:
        kind, value = row["kind"], row["value"]
        if kind == "o":
            facts.opted_out.add(value)
        elif kind == "b":
            facts.blacklisted.add(value)
        elif kind == "s":
            facts.suppressed.add(value)
        else:
            facts.last_instance[value] = row["instance_id"]
    return facts


@dataclass(frozen=True)
class NewCampaign:
    """What `insert_campaign` stores."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    instance_ids: list[uuid.UUID]
    template: str
    personalise: bool
    window: list[dict[str, Any]]
    pacing: dict[str, Any]
    accepted: int
    rejected: int


async def insert_campaign(conn: Connection, campaign: NewCampaign) -> None:
    """Store the campaign row."""
    await conn.execute(
        "INSERT INTO campaigns (id, tenant_id, name, instance_ids, template, personalize, send_window,"
        " pacing,"
        " accepted, rejected) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10)",
        campaign.id,
        campaign.tenant_id,
        campaign.name,
        campaign.instance_ids,
        campaign.template,
        campaign.personalise,
        campaign.window,
        campaign.pacing,
        campaign.accepted,
        campaign.rejected,
    )


TARGET_COLUMNS = (
    "id",
    "tenant_id",
    "campaign_id",
    "row_number",
    "phone",
    "variables",
    "instance_id",
    "rendered_text",
    "validation",
)


def _jsonb_binary(value: object) -> bytes:
    # jsonb's binary form: a version byte, then the JSON text. orjson refuses integers beyond
    # 64 bits, which a contact's variables may hold; the standard encoder writes those.
    try:
        return b"\x01" + orjson.dumps(value)
    except TypeError:
        return b"\x01" + json.dumps(value).encode()


def _jsonb_binary_decode(data: bytes) -> object:
    return json.loads(data[1:])


async def copy_targets(conn: Connection, records: Sequence[tuple[object, ...]]) -> None:
    """Store every row (accepted and rejected) with one binary COPY.

    asyncpg has no binary jsonb encoder, so the connection gets one for the COPY and the
    pool's codec (Python objects in and out, as text) back afterwards.
    """
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_jsonb_binary, decoder=_jsonb_binary_decode, format="binary"
    )
    try:
        await conn.copy_records_to_table("campaign_targets", records=records, columns=TARGET_COLUMNS)
    finally:
        await conn.set_type_codec("jsonb", schema="pg_catalog", encoder=json.dumps, decoder=json.loads)


async def set_status(
    conn: Connection, tenant_id: uuid.UUID, campaign_id: uuid.UUID, *, to: str, allowed_from: Sequence[str]
) -> str | None:
    """Move the campaign to `to` from one of `allowed_from`; its status before (None: no such campaign)."""
    row = await conn.fetchrow(
        "WITH before AS (SELECT status FROM campaigns WHERE id = $1 AND tenant_id = $2 FOR UPDATE),"
        " moved AS (UPDATE campaigns SET status = $3, updated_at = now()"
        "   WHERE id = $1 AND tenant_id = $2 AND status = ANY($4::text[]) RETURNING id)"
        " SELECT (SELECT status FROM before) AS before",
        campaign_id,
        tenant_id,
        to,
        list(allowed_from),
    )
    return row["before"] if row is not None else None


@dataclass(frozen=True)
class TargetRow:
    """A target and its progress."""

    id: uuid.UUID
    row: int
    phone: str
    state: str
    reason: str | None
    next_attempt_at: datetime | None
    instance: str | None
    attempts: int
    updated_at: datetime | None


async def list_targets(
    executor: Pool | Connection, campaign_id: uuid.UUID, *, state: str | None, limit: int, offset: int
) -> tuple[list[TargetRow], int]:
    """A page of the campaign's accepted targets (a target not looked at yet is `queued`), and the total."""
    rows = await executor.fetch(
        "SELECT t.id, t.row_number, t.phone, coalesce(p.state, 'queued') AS state, p.reason,"
        "  coalesce(p.next_attempt_at, CASE WHEN p.state IS NULL THEN t.not_before END) AS next_attempt_at,"
        "  i.name AS instance, coalesce(p.attempts, 0) AS attempts, p.updated_at, count(*) OVER () AS total"
        " FROM campaign_targets t"
        " LEFT JOIN campaign_target_progress p ON p.target_id = t.id"
        " LEFT JOIN instances i ON i.id = coalesce(p.instance_id, t.instance_id)"
        " WHERE t.campaign_id = $1 AND t.validation = 'ok'"
        "   AND ($2::text IS NULL OR coalesce(p.state, 'queued') = $2)"
        " ORDER BY t.row_number LIMIT $3 OFFSET $4",
        campaign_id,
        state,
        limit,
        offset,
    )
    total = int(rows[0]["total"]) if rows else 0
    if not rows and offset > 0:
        total = int(
            await executor.fetchval(
                "SELECT count(*) FROM campaign_targets t"
                " LEFT JOIN campaign_target_progress p ON p.target_id = t.id"
                " WHERE t.campaign_id = $1 AND t.validation = 'ok'"
                "   AND ($2::text IS NULL OR coalesce(p.state, 'queued') = $2)",
                campaign_id,
                state,
            )
        )
    return (
        [
            TargetRow(
                id=row["id"],
                row=row["row_number"],
                phone=row["phone"],
                state=row["state"],
                reason=row["reason"],
                next_attempt_at=row["next_attempt_at"],
                instance=row["instance"],
                attempts=row["attempts"],
                updated_at=row["updated_at"],
            )
            for row in rows
        ],
        total,
    )
