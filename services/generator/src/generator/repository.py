"""The generator's SQL: it writes `replies` (and its outbox rows) and only reads the rest."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from database import Connection, Pool
from generator.media_replies import BurstMedia
from generator.persona import Persona
from generator.prompt import ContextMessage, Speaker
from messaging import Outbox, PreparedEvents


@dataclass(frozen=True)
class NewReply:
    """A `replies` row about to be written."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    request_event_id: uuid.UUID
    kind: str
    conversation_id: uuid.UUID | None
    instance_id: uuid.UUID
    persona_id: uuid.UUID | None
    text: str
    parts: Sequence[str]
    model: str
    offline: bool
    latency_ms: int
    error: str | None
    message_ids: Sequence[uuid.UUID]


@dataclass(frozen=True)
class ConsentKeywords:
    """The first opt-in and opt-out keyword of a tenant, named in confirmations."""

    opt_in: str | None
    opt_out: str | None


@dataclass(frozen=True)
class ReplySetup:
    """What a reply needs before its context: whether it exists already, and the persona."""

    answered: bool
    # None when the instance has no persona.
    persona: Persona | None
    # The persona's behaviour per media kind (`personas.media_replies`; docs/media.md).
    media_replies: dict[str, str] = field(default_factory=dict)


# The request's setup: whether it has a reply already (a redelivery) and the instance's
# persona; `{instance}`, `{tenant}` and `{request}` are the statement's placeholders.
_SETUP_SQL = """
SELECT EXISTS (SELECT 1 FROM replies WHERE request_event_id = {request}) AS answered,
       p.id AS persona_id, p.name, p.system_prompt, p.language, p.max_length, p.emoji, p.temperature,
       p.model, p.media_replies
FROM (SELECT 1) AS one
LEFT JOIN instances i ON i.id = {instance} AND i.tenant_id = {tenant}
LEFT JOIN personas p ON p.id = i.persona_id AND p.tenant_id = i.tenant_id
"""


async def load_reply_setup(
    conn: Connection, tenant_id: uuid.UUID, instance_id: uuid.UUID, request_event_id: uuid.UUID
) -> ReplySetup:
    """Whether the request already has a reply (a redelivery), and the instance's persona."""
    row = await conn.fetchrow(
        _SETUP_SQL.format(instance="$1", tenant="$2", request="$3"), instance_id, tenant_id, request_event_id
    )
    if row is None:  # `FROM (SELECT 1)` always yields one row
        raise RuntimeError("the reply setup query returned no row")
    return _setup(row)


def _setup(row: Any) -> ReplySetup:
    if row["persona_id"] is None:
        return ReplySetup(answered=row["answered"], persona=None)
    persona = Persona(
        id=row["persona_id"],
        name=row["name"],
        system_prompt=row["system_prompt"],
        language=row["language"],
        max_length=row["max_length"],
        emoji=row["emoji"],
        # `real` comes back as 0.699999988…; the model does not need that noise.
        temperature=round(float(row["temperature"]), 3),
        model=row["model"] or None,
    )
    return ReplySetup(answered=row["answered"], persona=persona, media_replies=_media_replies(row))


def _media_replies(row: Any) -> dict[str, str]:
    value = row.get("media_replies") if hasattr(row, "get") else None
    if not isinstance(value, dict):
        return {}
    return {str(key): item for key, item in value.items() if isinstance(item, str) and item.strip()}


# One round trip for the whole context:
# - the burst, and the conversation's latest messages up to the burst's newest one (what
#   arrived after it gets its own reply); reactions and protocol messages are not conversation;
# - the parts of Mirage's replies the person has (or will have) seen but whose `send.message`
#   echo is not in `messages` yet. A part whose send failed or was refused never reached the
#   person; a reply older than a full window is outside it. A pending part is placed after
#   the echoes of the same reply's earlier parts, which arrive after the reply row was written.
_CONTEXT_CTES = """
burst AS (
    SELECT m.id, m.origin, m.direction, m.category, coalesce(m.text, mm.transcript) AS text,
           m.push_name, m.sent_at, m.message_type,
           mm.transcript IS NOT NULL AND mm.status = 'transcribed' AS transcribed
    FROM messages m
    LEFT JOIN message_media mm ON mm.message_id = m.id
    WHERE m.conversation_id = $1 AND m.id = ANY($2::uuid[])
), recent AS (
    SELECT m.id, m.origin, m.direction, m.category, coalesce(m.text, mm.transcript) AS text,
           m.push_name, m.sent_at, m.message_type,
           mm.transcript IS NOT NULL AND mm.status = 'transcribed' AS transcribed
    FROM messages m
    LEFT JOIN message_media mm ON mm.message_id = m.id
    WHERE m.conversation_id = $1
      AND NOT (m.id = ANY($2::uuid[]))
      AND m.revoked_at IS NULL
      AND m.category NOT IN ('reaction', 'protocol', 'poll_update')
      AND m.sent_at <= coalesce((SELECT max(sent_at) FROM burst), 'infinity')
    ORDER BY m.sent_at DESC, m.received_at DESC
    LIMIT $3
), window_start AS (
    SELECT CASE WHEN count(*) >= $3 THEN min(sent_at) END AS since FROM recent
), echoed AS (
    SELECT s.reply_id, s.part_index, echo.sent_at
    FROM sends s
    JOIN messages echo ON echo.instance_id = s.instance_id AND echo.provider_id = s.provider_message_id
    WHERE s.conversation_id = $1 AND s.reply_id IS NOT NULL
), undelivered AS (
    SELECT reply_id, part_index FROM sends
    WHERE conversation_id = $1 AND reply_id IS NOT NULL AND status IN ('failed', 'refused')
), pending AS (
    SELECT part.text, part.number, r.created_at,
           greatest(r.created_at, (
               SELECT max(e.sent_at) FROM echoed e
               WHERE e.reply_id = r.id AND e.part_index < part.number - 1
           )) AS at
    FROM replies r
    CROSS JOIN LATERAL unnest(r.parts) WITH ORDINALITY AS part(text, number)
    WHERE r.conversation_id = $1
      AND r.created_at >= coalesce((SELECT since FROM window_start), '-infinity')
      AND NOT EXISTS (SELECT 1 FROM echoed e WHERE e.reply_id = r.id AND e.part_index = part.number - 1)
      AND NOT EXISTS (SELECT 1 FROM undelivered u WHERE u.reply_id = r.id AND u.part_index = part.number - 1)
    ORDER BY r.created_at DESC, part.number DESC
    LIMIT $3
)"""
_CONTEXT_ROWS = """
SELECT 'burst' AS source, id, origin, direction, category, text, push_name, sent_at AS at,
       NULL::timestamptz AS created_at, NULL::bigint AS number, message_type, transcribed{setup}
FROM burst
UNION ALL
SELECT 'recent', id, origin, direction, category, text, push_name, sent_at, NULL, NULL,
       message_type, transcribed{setup}
FROM recent
UNION ALL
SELECT 'pending', NULL, 'mirage', 'outbound', 'text', text, NULL, at, created_at, number, NULL, false{setup}
FROM pending
"""
# The setup and the context in ONE round trip: the setup's columns are appended to every
# context row (NULL there), and one more row, `source` 'setup', carries them.
_SETUP_AND_CONTEXT_SQL = (
    f"WITH setup AS ({_SETUP_SQL.format(instance='$4', tenant='$5', request='$6')}),"
    f"{_CONTEXT_CTES}"
    "\nSELECT 'setup' AS source, NULL::uuid AS id, NULL::text AS origin, NULL::text AS direction,"
    " NULL::text AS category, NULL::text AS text, NULL::text AS push_name, NULL::timestamptz AS at,"
    " NULL::timestamptz AS created_at, NULL::bigint AS number, NULL::text AS message_type,"
    " NULL::boolean AS transcribed, setup.* FROM setup\nUNION ALL"
    + _CONTEXT_ROWS.format(setup=", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL")
)


def _speaker(origin: str, direction: str) -> Speaker:
    # An operator's message and Mirage's own echoes both speak for the business.
    if origin == "contact" or (origin == "unknown" and direction == "inbound"):
        return "contact"
    return "business"


async def load_setup_and_context(
    conn: Connection,
    *,
    tenant_id: uuid.UUID,
    instance_id: uuid.UUID,
    request_event_id: uuid.UUID,
    conversation_id: uuid.UUID,
    burst_ids: Sequence[uuid.UUID],
    limit: int,
) -> tuple[ReplySetup, list[ContextMessage], list[ContextMessage]]:
    """What `load_reply_setup` returns, the stored messages (the burst and up to `limit`
    before it) and Mirage's pending parts, in one round trip."""
    rows = await conn.fetch(
        _SETUP_AND_CONTEXT_SQL,
        conversation_id,
        list(burst_ids),
        limit,
        instance_id,
        tenant_id,
        request_event_id,
    )
    setup = [row for row in rows if row["source"] == "setup"]
    if len(setup) != 1:  # `FROM (SELECT 1)` always yields one row
        raise RuntimeError("the reply setup query returned no row")
    stored, pending = _context([row for row in rows if row["source"] != "setup"])
    return _setup(setup[0]), stored, pending


def _context(rows: Sequence[Any]) -> tuple[list[ContextMessage], list[ContextMessage]]:
    stored = [
        ContextMessage(
            speaker=_speaker(row["origin"], row["direction"]),
            text=row["text"],
            at=row["at"],
            category=row["category"],
            in_burst=row["source"] == "burst",
            push_name=row["push_name"],
            message_id=row["id"],
            message_type=row["message_type"],
            transcribed=bool(row["transcribed"]),
        )
        for row in rows
        if row["source"] != "pending"
    ]
    pending_rows = sorted(
        (row for row in rows if row["source"] == "pending"),
        key=lambda row: (row["created_at"], row["number"]),
    )
    pending = [
        ContextMessage(speaker="business", text=row["text"], at=row["at"], pending=True)
        for row in pending_rows
    ]
    return stored, pending


_BURST_MEDIA_SQL = """
SELECT m.category, m.message_type, mm.status, mm.failure_reason, mm.content IS NOT NULL AS has_content
FROM messages m
LEFT JOIN message_media mm ON mm.message_id = m.id
WHERE m.conversation_id = $1 AND m.id = ANY($2::uuid[])
ORDER BY m.sent_at
"""


async def load_burst_media(
    conn: Connection, conversation_id: uuid.UUID, burst_ids: Sequence[uuid.UUID]
) -> list[BurstMedia]:
    """What a burst without text held, with what the guard's media step recorded about each."""
    rows = await conn.fetch(_BURST_MEDIA_SQL, conversation_id, list(burst_ids))
    return [
        BurstMedia(
            category=row["category"],
            message_type=row.get("message_type"),
            status=row.get("status"),
            failure_reason=row.get("failure_reason"),
            has_content=bool(row.get("has_content")),
        )
        for row in rows
    ]


async def load_images(
    conn: Connection, message_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[bytes, str]]:
    """The stored bytes and mimetype of the images among `message_ids` (those still kept)."""
    rows = await conn.fetch(
        "SELECT message_id, content, coalesce(mimetype, 'image/jpeg') AS mimetype FROM message_media"
        " WHERE message_id = ANY($1::uuid[]) AND kind = 'image' AND content IS NOT NULL",
        list(message_ids),
    )
    return {row["message_id"]: (bytes(row["content"]), row["mimetype"]) for row in rows}


async def load_consent_keywords(conn: Connection, tenant_id: uuid.UUID) -> ConsentKeywords:
    """The tenant's first opt-in and opt-out keywords (None when it has none)."""
    row = await conn.fetchrow(
        "SELECT opt_in_keywords[1] AS opt_in, opt_out_keywords[1] AS opt_out FROM tenants WHERE id = $1",
        tenant_id,
    )
    if row is None:
        return ConsentKeywords(opt_in=None, opt_out=None)
    return ConsentKeywords(opt_in=row["opt_in"], opt_out=row["opt_out"])


# The reply and its events in one statement (one commit). A request already answered (a
# redelivery) conflicts on the reply's id, derived from the request's event id, and stages
# nothing: the reply row is the generator's record that it handled that event.
_STORE_REPLY_SQL = (
    "WITH stored AS ("  # noqa: S608 - built from constants, no input in the SQL text
    " INSERT INTO replies (id, tenant_id, request_event_id, kind, conversation_id, instance_id,"
    " persona_id, text, parts, model, offline, latency_ms, error, message_ids)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    " ON CONFLICT DO NOTHING RETURNING 1), "
    + Outbox.staging_cte("staged", 15, when="EXISTS (SELECT 1 FROM stored)")
    + " SELECT EXISTS (SELECT 1 FROM stored) AS stored, ARRAY(SELECT id FROM staged ORDER BY id) AS ids"
)


async def store_reply(
    executor: Connection | Pool, reply: NewReply, outbox: Outbox, events: PreparedEvents
) -> list[int] | None:
    """Write the reply and stage its events; the staged ids, None when the request has one already."""
    record = await executor.fetchrow(
        _STORE_REPLY_SQL,
        reply.id,
        reply.tenant_id,
        reply.request_event_id,
        reply.kind,
        reply.conversation_id,
        reply.instance_id,
        reply.persona_id,
        reply.text,
        list(reply.parts),
        reply.model,
        reply.offline,
        reply.latency_ms,
        reply.error,
        list(reply.message_ids),
        *outbox.staging_arguments(events),
    )
    if record is None or not record["stored"]:
        return None
    return list(record["ids"])
