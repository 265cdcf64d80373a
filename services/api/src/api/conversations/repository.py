"""SQL of conversations: reads of ingest's and the guard's tables, writes of `conversation_controls`.

A conversation's *state* is derived, never stored: `blocked` when the guard blocked
it (bot loop) and the operator has not unblocked it since; `paused` when the
operator paused the bot, or a human takeover pause still runs and the operator
has not resumed the bot since; `active` otherwise. The same rules as the guard's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from database import Connection, Pool

_STATE = """
CASE
    WHEN gs.blocked_at IS NOT NULL AND (cc.unblocked_at IS NULL OR cc.unblocked_at <= gs.blocked_at)
        THEN 'blocked'
    WHEN coalesce(cc.bot_paused, false)
        OR (gs.paused_until > now() AND NOT coalesce(cc.resumed_at > gs.paused_at, false))
        THEN 'paused'
    ELSE 'active'
END
"""

_SELECT = f"""
SELECT c.id, c.tenant_id, c.instance_id, i.name AS instance_name, c.chat_kind, c.created_at,
       c.last_message_at, ct.id AS contact_id, ct.phone AS contact_phone, ct.jid AS contact_jid,
       ct.lid AS contact_lid, ct.push_name AS contact_push_name,
       ({_STATE}) AS state,
       coalesce(cc.bot_paused, false) AS bot_paused, cc.resumed_at, cc.unblocked_at,
       gs.paused_until, gs.pause_reason, gs.blocked_at, gs.block_reason,
       coalesce(gs.loop_count, 0) AS loop_count
FROM conversations c
JOIN instances i ON i.id = c.instance_id
JOIN contacts ct ON ct.id = c.contact_id
LEFT JOIN conversation_guard_state gs ON gs.conversation_id = c.id
LEFT JOIN conversation_controls cc ON cc.conversation_id = c.id
"""  # noqa: S608


@dataclass(frozen=True)
class Conversation:
    """A conversation with its contact, derived state and operator controls."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    instance_id: uuid.UUID
    instance_name: str
    chat_kind: str
    created_at: datetime
    last_message_at: datetime
    contact_id: uuid.UUID
    contact_phone: str | None
    contact_jid: str | None
    contact_lid: str | None
    contact_push_name: str | None
    state: str
    bot_paused: bool
    resumed_at: datetime | None
    unblocked_at: datetime | None
    paused_until: datetime | None
    pause_reason: str | None
    blocked_at: datetime | None
    block_reason: str | None
    loop_count: int


@dataclass(frozen=True)
class MessageWithDecision:
    """A message of a conversation and the guard's decision on it (if any)."""

    id: uuid.UUID
    provider_id: str
    direction: str
    origin: str
    source_event: str
    push_name: str | None
    message_type: str | None
    category: str
    text: str | None
    sent_at: datetime
    received_at: datetime
    fresh: bool
    edited_at: datetime | None
    revoked_at: datetime | None
    delivery_status: str | None
    app_origin: str | None
    script_id: str | None
    decision: str | None
    decision_reason: str | None
    decided_at: datetime | None
    reply_request_id: uuid.UUID | None


@dataclass(frozen=True)
class ConversationFilter:
    """What `GET /conversations` narrows to."""

    instance_id: uuid.UUID | None = None
    state: str | None = None
    since: datetime | None = None
    contact_phone: str | None = None


def _conversation(row: Any) -> Conversation:
    return Conversation(**{key: row[key] for key in Conversation.__dataclass_fields__})


async def get(
    executor: Pool | Connection, tenant_id: uuid.UUID, conversation_id: uuid.UUID
) -> Conversation | None:
    """The tenant's conversation."""
    row = await executor.fetchrow(
        f"{_SELECT} WHERE c.id = $1 AND c.tenant_id = $2", conversation_id, tenant_id
    )
    return _conversation(row) if row else None


async def list_for_tenant(
    executor: Pool | Connection, tenant_id: uuid.UUID, where: ConversationFilter, *, limit: int, offset: int
) -> list[Conversation]:
    """The tenant's conversations, most recent first."""
    rows = await executor.fetch(
        f"SELECT * FROM ({_SELECT} WHERE c.tenant_id = $1"  # noqa: S608
        " AND ($2::uuid IS NULL OR c.instance_id = $2)"
        " AND ($3::timestamptz IS NULL OR c.last_message_at >= $3)"
        " AND ($4::text IS NULL OR regexp_replace(coalesce(ct.phone, ct.jid, ''), '[^0-9]', '', 'g') = $4)"
        ") listed WHERE ($5::text IS NULL OR state = $5)"
        " ORDER BY last_message_at DESC, id LIMIT $6 OFFSET $7",
        tenant_id,
        where.instance_id,
        where.since,
        where.contact_phone,
        where.state,
        limit,
        offset,
    )
    return [_conversation(row) for row in rows]


async def messages(
    executor: Pool | Connection, conversation_id: uuid.UUID, *, before: datetime | None, limit: int
) -> list[MessageWithDecision]:
    """The latest `limit` messages sent before `before`, oldest first, with the guard's decisions."""
    rows = await executor.fetch(
        "SELECT * FROM ("
        " SELECT m.id, m.provider_id, m.direction, m.origin, m.source_event, m.push_name, m.message_type,"
        " m.category, m.text, m.sent_at, m.received_at, m.fresh, m.edited_at, m.revoked_at,"
        " m.delivery_status, m.app_origin, m.script_id, d.decision, d.reason AS decision_reason,"
        " d.decided_at, d.reply_request_id"
        " FROM messages m LEFT JOIN guard_decisions d ON d.message_id = m.id"
        " WHERE m.conversation_id = $1 AND ($2::timestamptz IS NULL OR m.sent_at < $2)"
        " ORDER BY m.sent_at DESC, m.id DESC LIMIT $3"
        ") latest ORDER BY sent_at, id",
        conversation_id,
        before,
        limit,
    )
    return [
        MessageWithDecision(**{key: row[key] for key in MessageWithDecision.__dataclass_fields__})
        for row in rows
    ]


async def set_bot_paused(conn: Connection, conversation: Conversation, *, paused: bool) -> None:
    """Pause the bot (until resumed), or resume it: resuming also lifts a human-takeover pause."""
    await conn.execute(
        "INSERT INTO conversation_controls (conversation_id, tenant_id, bot_paused, resumed_at)"
        " VALUES ($1, $2, $3, CASE WHEN $3 THEN NULL ELSE now() END)"
        " ON CONFLICT (conversation_id) DO UPDATE SET bot_paused = EXCLUDED.bot_paused,"
        " resumed_at = CASE WHEN EXCLUDED.bot_paused THEN conversation_controls.resumed_at ELSE now() END,"
        " updated_at = now()",
        conversation.id,
        conversation.tenant_id,
        paused,
    )


async def unblock(conn: Connection, conversation: Conversation) -> None:
    """Lift the guard's block (a block the guard raises later applies again)."""
    await conn.execute(
        "INSERT INTO conversation_controls (conversation_id, tenant_id, unblocked_at) VALUES ($1, $2, now())"
        " ON CONFLICT (conversation_id) DO UPDATE SET unblocked_at = now(), updated_at = now()",
        conversation.id,
        conversation.tenant_id,
    )
