"""Ingest's SQL: raw events, contacts, conversations, messages and their statuses.

The hot path (`store_message`) is one statement: it reserves the raw event's id,
inserts the message idempotently on (instance, provider id), records the raw
event as accepted or duplicate, touches the conversation and stages the
`message.received` event in the outbox only when the message is new — one
round trip, one implicit transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from database import Connection, Pool
from messaging import Outbox, PreparedEvents

PRODUCER = "ingest"


@dataclass(frozen=True)
class RawRecord:
    """One webhook call as it arrived, with how Mirage judged it."""

    path: str
    body_size: int
    http_status: int
    auth_result: str
    parse_result: str
    instance_name: str | None = None
    instance_id: uuid.UUID | None = None
    tenant_id: uuid.UUID | None = None
    event: str | None = None
    error: str | None = None
    # The body as JSON text when it parsed as JSON; else `body_text`.
    payload_json: str | None = None
    body_text: str | None = None


_INSERT_RAW = """
INSERT INTO raw_events (path, instance_name, instance_id, tenant_id, event, auth_result, parse_result,
                        http_status, error, body_size, payload, body_text)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::text::jsonb, $12)
RETURNING id
"""


def _storable(value: str | None) -> str | None:
    """Text PostgreSQL accepts: a NUL becomes U+FFFD and a lone surrogate `?` (both valid in JSON strings)."""
    if value is None:
        return None
    return value.replace("\x00", "\ufffd").encode("utf-8", errors="replace").decode("utf-8")


def _raw_args(record: RawRecord) -> tuple[object, ...]:
    # The envelope's own `instance` and `event` strings are whatever the caller sent.
    return (
        _storable(record.path),
        _storable(record.instance_name),
        record.instance_id,
        record.tenant_id,
        _storable(record.event),
        record.auth_result,
        record.parse_result,
        record.http_status,
        _storable(record.error),
        record.body_size,
        record.payload_json,
        record.body_text,
    )


async def record_raw(executor: Pool | Connection, record: RawRecord) -> int:
    """Store one raw webhook call."""
    raw_id: int = await executor.fetchval(_INSERT_RAW, *_raw_args(record))
    return raw_id


async def resolve_contact(
    conn: Connection,
    tenant_id: uuid.UUID,
    *,
    jid: str | None,
    lid: str | None,
    phone: str | None,
    push_name: str | None,
) -> uuid.UUID:
    """The contact known by `jid` and/or `lid`, created or completed as needed."""
    for _ in range(3):
        rows = await conn.fetch(
            "SELECT id, jid, lid FROM contacts WHERE tenant_id = $1 AND (jid = $2 OR lid = $3)"
            " ORDER BY (jid = $2) DESC NULLS LAST",
            tenant_id,
            jid,
            lid,
        )
        if not rows:
            created = await conn.fetchval(
                "INSERT INTO contacts (tenant_id, jid, lid, phone, push_name) VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT DO NOTHING RETURNING id",
                tenant_id,
                jid,
                lid,
                phone,
                push_name,
            )
            if created is not None:
                return created  # type: ignore[no-any-return]
            continue  # a concurrent webhook created it: read it
        contact = rows[0]
        # Complete the identity we just learnt, unless another contact already owns it
        # (two rows found: the phone one wins; they are not merged automatically).
        missing_jid = contact["jid"] is None and jid is not None and len(rows) == 1
        missing_lid = contact["lid"] is None and lid is not None and len(rows) == 1
        if missing_jid or missing_lid or push_name:
            await conn.execute(
                "UPDATE contacts SET jid = COALESCE(jid, $2), lid = COALESCE(lid, $3),"
                " phone = COALESCE(phone, $4), push_name = COALESCE($5, push_name), updated_at = now()"
                " WHERE id = $1 AND (push_name IS DISTINCT FROM $5 OR ($2::text IS NOT NULL AND jid IS NULL)"
                " OR ($3::text IS NOT NULL AND lid IS NULL))",
                contact["id"],
                jid if missing_jid else None,
                lid if missing_lid else None,
                phone if missing_jid else None,
                push_name,
            )
        return contact["id"]  # type: ignore[no-any-return]
    raise RuntimeError("could not resolve the contact after concurrent changes")


async def resolve_conversation(
    conn: Connection,
    *,
    tenant_id: uuid.UUID,
    instance_id: uuid.UUID,
    contact_id: uuid.UUID,
    chat_kind: str,
) -> uuid.UUID:
    """The conversation of an instance with a contact, created on first contact."""
    conversation_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO conversations (tenant_id, instance_id, contact_id, chat_kind) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (instance_id, contact_id) DO UPDATE SET chat_kind = EXCLUDED.chat_kind"
        " RETURNING id",
        tenant_id,
        instance_id,
        contact_id,
        chat_kind,
    )
    return conversation_id


@dataclass(frozen=True)
class NewMessage:
    """A message to store from `messages.upsert` or `send.message`."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    instance_id: uuid.UUID
    conversation_id: uuid.UUID
    contact_id: uuid.UUID
    provider_id: str
    direction: str
    origin: str
    source_event: str
    chat_jid: str
    sender_jid: str | None
    push_name: str | None
    message_type: str | None
    category: str
    text: str | None
    sent_at: datetime
    fresh: bool
    delivery_status: str | None
    app_origin: str | None
    script_id: str | None


@dataclass(frozen=True)
class StoreResult:
    """What `store_message` did."""

    raw_id: int
    inserted: bool
    outbox_ids: list[int]


_STORE_MESSAGE = """
WITH {chat}reserved AS (
    SELECT nextval(pg_get_serial_sequence('raw_events', 'id')) AS id{only_with_chat}
), msg AS (
    INSERT INTO messages (id, tenant_id, instance_id, conversation_id, contact_id, provider_id, direction,
                          origin, source_event, chat_jid, sender_jid, push_name, message_type, category, text,
                          sent_at, fresh, delivery_status, app_origin, script_id, raw_event_id)
    SELECT $13, $4, $3, $14, $15, $16, $17, $18, $5, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29,
           reserved.id
    FROM reserved
    ON CONFLICT (instance_id, provider_id) DO {on_conflict}
    RETURNING (xmax = 0) AS created
), raw AS (
    INSERT INTO raw_events (id, path, instance_name, instance_id, tenant_id, event, auth_result, parse_result,
                            http_status, error, body_size, payload, body_text)
    OVERRIDING SYSTEM VALUE
    SELECT reserved.id, $1, $2, $3, $4, $5, $6,
           CASE WHEN EXISTS (SELECT 1 FROM msg WHERE created) THEN 'accepted' ELSE 'duplicate' END,
           $7, $8, $9, $10::text::jsonb, $11
    FROM reserved
    RETURNING id
), touched AS (
    UPDATE conversations SET last_message_at = GREATEST(last_message_at, $25)
    WHERE id = $14 AND EXISTS (SELECT 1 FROM msg WHERE created)
), staged AS (
    INSERT INTO outbox (producer, topic, key, payload, headers)
    SELECT $12, t, k, p, h::jsonb
    FROM unnest($30::text[], $31::bytea[], $32::bytea[], $33::text[]) WITH ORDINALITY AS x(t, k, p, h, n)
    WHERE EXISTS (SELECT 1 FROM msg WHERE created)
    ORDER BY n
    RETURNING id
)
SELECT (SELECT id FROM raw) AS raw_id,
       EXISTS (SELECT 1 FROM msg WHERE created) AS inserted,
       ARRAY(SELECT id FROM staged ORDER BY id) AS outbox_ids
"""

# The first message of a chat with a contact nobody knows yet: the contact and its
# conversation, with the ids the caller chose ($15, $14), and everything `_STORE_MESSAGE` writes, in ONE
# statement: one round trip and one commit instead of BEGIN, two statements and COMMIT. When
# the contact exists (or a concurrent webhook created it first) nothing at all is written and
# `raw_id` is NULL: the caller resolves the contact the careful way, completing its identity.
# A new contact has no conversation yet, so the conversation's id is the one given.
_NEW_CHAT = """found AS (
    SELECT 1 FROM contacts WHERE tenant_id = $4 AND (jid = $34 OR lid = $35) LIMIT 1
), contact AS (
    INSERT INTO contacts (id, tenant_id, jid, lid, phone, push_name)
    SELECT $15, $4, $34, $35, $36, $21 WHERE NOT EXISTS (SELECT 1 FROM found)
    ON CONFLICT DO NOTHING
    RETURNING id
), chat AS (
    INSERT INTO conversations (id, tenant_id, instance_id, contact_id, chat_kind, last_message_at)
    SELECT $14, $4, $3, contact.id, $37, GREATEST(now(), $25) FROM contact
    RETURNING id
), """


def _store_sql(*, on_conflict: str, new_chat: bool) -> str:
    return (
        _STORE_MESSAGE.replace("{on_conflict}", on_conflict)
        .replace("{chat}", _NEW_CHAT if new_chat else "")
        .replace("{only_with_chat}", " WHERE EXISTS (SELECT 1 FROM chat)" if new_chat else "")
    )


# A new message, or nothing for a duplicate delivery.
_NEW = "NOTHING"
# Mirage's own echo (`send.message`): if the message was first seen as a `fromMe`
# upsert, it is now known to be Mirage's.
_ECHO = "UPDATE SET origin = 'mirage' WHERE messages.origin <> 'mirage'"
_STORE_NEW = _store_sql(on_conflict=_NEW, new_chat=False)
_STORE_ECHO = _store_sql(on_conflict=_ECHO, new_chat=False)
_STORE_NEW_IN_NEW_CHAT = _store_sql(on_conflict=_NEW, new_chat=True)
_STORE_ECHO_IN_NEW_CHAT = _store_sql(on_conflict=_ECHO, new_chat=True)


def _store_args(
    record: RawRecord, message: NewMessage, events: PreparedEvents, outbox: Outbox
) -> tuple[object, ...]:
    return (
        record.path,
        record.instance_name,
        record.instance_id,
        record.tenant_id,
        record.event,
        record.auth_result,
        record.http_status,
        record.error,
        record.body_size,
        record.payload_json,
        record.body_text,
        outbox.producer,
        message.id,
        message.conversation_id,
        message.contact_id,
        message.provider_id,
        message.direction,
        message.origin,
        message.chat_jid,
        message.sender_jid,
        message.push_name,
        message.message_type,
        message.category,
        message.text,
        message.sent_at,
        message.fresh,
        message.delivery_status,
        message.app_origin,
        message.script_id,
        events.topics,
        events.keys,
        events.payloads,
        events.header_texts,
    )


def _store_result(row: Any) -> StoreResult:
    return StoreResult(raw_id=row["raw_id"], inserted=row["inserted"], outbox_ids=list(row["outbox_ids"]))


async def store_message(
    conn: Connection,
    record: RawRecord,
    message: NewMessage,
    events: PreparedEvents,
    *,
    outbox: Outbox,
    echo: bool = False,
) -> StoreResult:
    """Store the raw call and the message; stage `events` only if the message is new."""
    row = await conn.fetchrow(
        _STORE_ECHO if echo else _STORE_NEW, *_store_args(record, message, events, outbox)
    )
    assert row is not None
    return _store_result(row)


@dataclass(frozen=True)
class NewChat:
    """Who a chat with a contact nobody knows is with: the contact row to create."""

    jid: str | None
    lid: str | None
    phone: str | None
    chat_kind: str


async def store_message_in_new_chat(
    executor: Pool | Connection,
    record: RawRecord,
    message: NewMessage,
    events: PreparedEvents,
    chat: NewChat,
    *,
    outbox: Outbox,
    echo: bool = False,
) -> StoreResult | None:
    """Create the contact (`message.contact_id`) and its conversation (`message.conversation_id`)
    and store the message as `store_message` does, in one statement; None, with nothing written,
    when a contact with that jid or lid exists."""
    row = await executor.fetchrow(
        _STORE_ECHO_IN_NEW_CHAT if echo else _STORE_NEW_IN_NEW_CHAT,
        *_store_args(record, message, events, outbox),
        chat.jid,
        chat.lid,
        chat.phone,
        chat.chat_kind,
    )
    assert row is not None
    if row["raw_id"] is None:
        return None
    return _store_result(row)


# The status moves forward along the delivery order (a late ack never downgrades it), and the
# raw event is stored with what that did, in one statement (one round trip, one commit).
_UPDATE_DELIVERY_STATUS = """
WITH moved AS (
    UPDATE messages SET delivery_status = $14, status_updated_at = now()
    WHERE instance_id = $15 AND provider_id = $16
      AND COALESCE(array_position($17::text[], delivery_status), 0) < array_position($17::text[], $14)
    RETURNING true
)
INSERT INTO raw_events (path, instance_name, instance_id, tenant_id, event, auth_result, parse_result,
                        http_status, error, body_size, payload, body_text)
VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN EXISTS (SELECT 1 FROM moved) THEN $7 ELSE $13 END,
        $8, $9, $10, $11::text::jsonb, $12)
RETURNING id, EXISTS (SELECT 1 FROM moved) AS moved
"""


async def update_delivery_status(
    executor: Pool | Connection,
    record: RawRecord,
    *,
    instance_id: uuid.UUID,
    provider_id: str,
    status: str,
    order: list[str],
    unchanged_result: str,
) -> tuple[int, bool]:
    """Move a message's delivery status forward and store the raw event (its parse result is the
    record's when the status moved, `unchanged_result` when not); (raw id, whether it moved)."""
    row = await executor.fetchrow(
        _UPDATE_DELIVERY_STATUS,
        *_raw_args(record),
        unchanged_result,
        status,
        instance_id,
        provider_id,
        order,
    )
    if row is None:  # pragma: no cover - an INSERT … RETURNING always yields its row
        raise RuntimeError("the delivery status statement returned no row")
    return row["id"], bool(row["moved"])


async def apply_edit(conn: Connection, instance_id: uuid.UUID, provider_id: str, text: str) -> bool:
    """Replace a message's text after an edit."""
    updated = await conn.fetchval(
        "UPDATE messages SET text = $3, edited_at = now() WHERE instance_id = $1 AND provider_id = $2"
        " RETURNING true",
        instance_id,
        provider_id,
        text,
    )
    return bool(updated)


async def apply_revoke(conn: Connection, instance_id: uuid.UUID, provider_id: str) -> bool:
    """Mark a message deleted for everyone."""
    updated = await conn.fetchval(
        "UPDATE messages SET revoked_at = now() WHERE instance_id = $1 AND provider_id = $2 RETURNING true",
        instance_id,
        provider_id,
    )
    return bool(updated)
