"""Every SQL statement of the guard.

The guard writes `guard_decisions`, `conversation_guard_state`, `consent_events` and
`opt_outs`; it reads messages, contacts, instances, tenants and sends (ingest's, api's and
the sender's tables) and the operator's `conversation_controls` and `blacklist`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from database import Connection
from guard.facts import ContactStanding, ConversationState, GuardState, MessageFacts, OperatorControls
from guard.verdicts import Decision, Reason
from messaging import Outbox, PreparedEvents

# The columns of `conversation_guard_state` that `_state` reads, in every statement that reads it.
_STATE_COLUMNS = "paused_at, paused_until, pause_reason, blocked_at, block_reason, last_script_id, loop_count"

# Both statements below read the contact's phone numbers (those the caller read from the
# message's JIDs plus the contact's stored phone), match opt-outs by contact or phone and the
# operator's blacklist by phone (digits, as the api stores them), and read the operator's controls.
_MESSAGE_FACTS = """
WITH contact AS (
    SELECT c.jid, nullif(regexp_replace(coalesce(c.phone, ''), '[^0-9]', '', 'g'), '') AS phone
    FROM contacts c WHERE c.id = $5
),
phones AS (
    SELECT p FROM unnest($11::text[]) AS p
    UNION SELECT phone FROM contact WHERE phone IS NOT NULL
),
{claim_and_state}
SELECT
    {claimed} AS claimed,
    m.id IS NOT NULL AS message_stored,
    m.origin AS stored_origin,
    EXISTS (SELECT 1 FROM guard_decisions d WHERE d.message_id = $1) AS already_decided,
    EXISTS (SELECT 1 FROM sends s WHERE s.provider_message_id = $2) AS sent_by_mirage,
    CASE WHEN $7::boolean THEN false ELSE EXISTS (
        SELECT 1 FROM instances own
        WHERE own.id <> $3 AND own.state <> 'removed' AND own.owner_jid IS NOT NULL
          AND regexp_replace(split_part(split_part(own.owner_jid, '@', 1), ':', 1), '[^0-9]', '', 'g')
              IN (SELECT p FROM phones)
    ) END AS from_own_number,
    CASE WHEN $7::boolean AND $8::text IS NOT NULL THEN EXISTS (
        SELECT 1 FROM sends s
        WHERE s.instance_id = $3
          AND s.recipient_digits = ANY($9::text[])
          AND s.provider_message_id IS NULL
          AND greatest(s.created_at, s.updated_at) > now() - make_interval(secs => $10::double precision)
          AND btrim(s.text) = btrim($8::text)
    ) ELSE false END AS echo_of_send_in_flight,
    coalesce(i.reply_to_groups, false) AS reply_to_groups,
    coalesce(i.reply_to_broadcasts, false) AS reply_to_broadcasts,
    coalesce(t.opt_out_keywords, '{}'::text[]) AS opt_out_keywords,
    coalesce(t.opt_in_keywords, '{}'::text[]) AS opt_in_keywords,
    (SELECT jid FROM contact) AS contact_jid,
    (SELECT phone FROM contact) AS contact_phone,
    EXISTS (
        SELECT 1 FROM opt_outs o
        WHERE o.tenant_id = $4 AND (o.contact_id = $5 OR o.phone IN (SELECT p FROM phones))
    ) AS opted_out,
    EXISTS (
        SELECT 1 FROM blacklist b WHERE b.tenant_id = $4 AND b.phone IN (SELECT p FROM phones)
    ) AS blacklisted,
    coalesce(cc.bot_paused, false) AS bot_paused,
    cc.resumed_at,
    cc.unblocked_at,
    gs.loop_count IS NOT NULL AS state_found,
    {state_version} AS state_version,
    gs.paused_at,
    gs.paused_until,
    gs.pause_reason,
    gs.blocked_at,
    gs.block_reason,
    gs.last_script_id,
    gs.loop_count,
    now() AS db_now
FROM (SELECT 1) AS one
LEFT JOIN messages m ON m.id = $1
LEFT JOIN instances i ON i.id = $3
LEFT JOIN tenants t ON t.id = $4
LEFT JOIN conversation_controls cc ON cc.conversation_id = $6
LEFT JOIN state gs ON true
"""

# In the decision's transaction: claim the event in the ledger and, when the caller may answer
# ($14), lock the conversation's guard state until COMMIT (creating the row when missing), as
# `lock_guard_state` reads it: one round trip fewer per answer. A row a concurrent transaction is
# creating is neither locked nor created here: the caller then locks it with `lock_guard_state`.
_CLAIM_AND_LOCK = """
claim AS (
    INSERT INTO processed_events (consumer, event_id) VALUES ($12, $13)
    ON CONFLICT DO NOTHING RETURNING true
),
state_locked AS (
    SELECT {state_columns}
    FROM conversation_guard_state WHERE $14::boolean AND conversation_id = $6 FOR UPDATE
),
state_created AS (
    INSERT INTO conversation_guard_state (conversation_id, tenant_id)
    SELECT $6, $4 WHERE $14::boolean AND NOT EXISTS (SELECT 1 FROM state_locked)
    ON CONFLICT (conversation_id) DO NOTHING
    RETURNING {state_columns}
),
state AS (SELECT * FROM state_locked UNION ALL SELECT * FROM state_created)"""

# For a decision recorded in one statement: nothing written or locked; whether the ledger
# still lacks the event, and the guard state ($14) with its row version (`xmin`).
_READ_ONLY = """
state AS (
    SELECT {state_columns}, xmin::text AS version
    FROM conversation_guard_state WHERE $14::boolean AND conversation_id = $6
)"""


def _facts_statement(claim_and_state: str, *, claimed: str, state_version: str) -> str:
    return (
        _MESSAGE_FACTS.replace("{claim_and_state}", claim_and_state)
        .replace("{claimed}", claimed)
        .replace("{state_version}", state_version)
        .replace("{state_columns}", _STATE_COLUMNS)
    )


_FACTS_IN_TRANSACTION = _facts_statement(
    _CLAIM_AND_LOCK, claimed="EXISTS (SELECT 1 FROM claim)", state_version="NULL::text"
)
_FACTS_READ_ONLY = _facts_statement(
    _READ_ONLY,
    claimed="NOT EXISTS (SELECT 1 FROM processed_events WHERE consumer = $12 AND event_id = $13)",
    state_version="gs.version",
)


_STANDING = """
WITH contact AS (
    SELECT nullif(regexp_replace(coalesce(c.phone, ''), '[^0-9]', '', 'g'), '') AS phone
    FROM contacts c WHERE c.id = $2
),
phones AS (
    SELECT p FROM unnest($4::text[]) AS p
    UNION SELECT phone FROM contact WHERE phone IS NOT NULL
)
SELECT
    EXISTS (
        SELECT 1 FROM opt_outs o
        WHERE o.tenant_id = $1 AND (o.contact_id = $2 OR o.phone IN (SELECT p FROM phones))
    ) AS opted_out,
    EXISTS (
        SELECT 1 FROM blacklist b WHERE b.tenant_id = $1 AND b.phone IN (SELECT p FROM phones)
    ) AS blacklisted,
    coalesce(cc.bot_paused, false) AS bot_paused,
    cc.resumed_at,
    cc.unblocked_at
FROM (SELECT 1) AS one
LEFT JOIN conversation_controls cc ON cc.conversation_id = $3
"""


_LOCK_STATE = """
SELECT {state_columns}, now() AS db_now
FROM conversation_guard_state WHERE conversation_id = $1 FOR UPDATE
""".replace("{state_columns}", _STATE_COLUMNS)

_CREATE_STATE = """
INSERT INTO conversation_guard_state (conversation_id, tenant_id) VALUES ($1, $2)
ON CONFLICT (conversation_id) DO NOTHING
RETURNING {state_columns}, now() AS db_now
""".replace("{state_columns}", _STATE_COLUMNS)

_SHARE_STATE = """
SELECT {state_columns}, now() AS db_now
FROM conversation_guard_state WHERE conversation_id = $1 FOR SHARE
""".replace("{state_columns}", _STATE_COLUMNS)


@dataclass(frozen=True)
class DecisionRecord:
    """One row of `guard_decisions`: the decision and what a later flush needs to answer it."""

    message_id: uuid.UUID
    tenant_id: uuid.UUID
    conversation_id: uuid.UUID
    decision: Decision
    reason: Reason
    event_id: uuid.UUID
    correlation_id: uuid.UUID
    instance_id: uuid.UUID
    contact_id: uuid.UUID
    reply_to: str
    reply_delay_ms: int = 0
    reply_request_id: uuid.UUID | None = None
    # W3C `traceparent` of the message's processing: the burst's reply continues its trace.
    trace_parent: str | None = None


@dataclass(frozen=True)
class BurstMessage:
    """A debounced message waiting for its burst's reply."""

    message_id: uuid.UUID
    tenant_id: uuid.UUID
    reason: str
    event_id: uuid.UUID | None
    correlation_id: uuid.UUID | None
    instance_id: uuid.UUID
    instance_name: str
    contact_id: uuid.UUID
    reply_to: str
    reply_delay_ms: int
    text: str | None
    trace_parent: str | None = None


@dataclass(frozen=True)
class UnansweredMessage:
    """A message still `debounced` long after its window: its Redis entry was lost."""

    conversation_id: uuid.UUID
    message_id: uuid.UUID


async def load_message_facts(
    conn: Connection,
    *,
    message_id: uuid.UUID,
    provider_message_id: str,
    instance_id: uuid.UUID,
    tenant_id: uuid.UUID,
    contact_id: uuid.UUID,
    conversation_id: uuid.UUID,
    from_me: bool,
    text: str | None,
    address_digits: Sequence[str],
    phone_digits: Sequence[str],
    echo_window_s: float,
    consumer: str,
    event_id: uuid.UUID,
    lock_state: bool,
    read_only: bool = False,
) -> tuple[bool, MessageFacts]:
    """Claim the event in the processed-event ledger and read everything the rules need about
    its message, in one round trip; whether this call claimed it, and the facts. With
    `lock_state`, the facts carry the conversation's guard state locked until COMMIT, as
    `lock_guard_state` returns it (unless a concurrent transaction is creating that row).

    `read_only` (outside a transaction, for `record_decision_if_unchanged`): nothing is
    claimed, locked or created; the first value says whether the ledger still lacks the
    event, and with `lock_state` the state carries the row version that statement checks."""
    row = await conn.fetchrow(
        _FACTS_READ_ONLY if read_only else _FACTS_IN_TRANSACTION,
        message_id,
        provider_message_id,
        instance_id,
        tenant_id,
        contact_id,
        conversation_id,
        from_me,
        text,
        list(address_digits),
        echo_window_s,
        list(phone_digits),
        consumer,
        event_id,
        lock_state,
    )
    row = _one(row)
    return row["claimed"], MessageFacts(
        message_stored=row["message_stored"],
        already_decided=row["already_decided"],
        stored_origin=row["stored_origin"],
        sent_by_mirage=row["sent_by_mirage"],
        from_own_number=row["from_own_number"],
        echo_of_send_in_flight=row["echo_of_send_in_flight"],
        reply_to_groups=row["reply_to_groups"],
        reply_to_broadcasts=row["reply_to_broadcasts"],
        opt_out_keywords=tuple(row["opt_out_keywords"]),
        opt_in_keywords=tuple(row["opt_in_keywords"]),
        contact_jid=row["contact_jid"],
        contact_phone=row["contact_phone"],
        standing=_standing(row),
        controls=_controls(row),
        state=_conversation_state(row, read_only=read_only, state_read=lock_state),
    )


def _conversation_state(row: Any, *, read_only: bool, state_read: bool) -> ConversationState | None:
    if row["state_found"]:
        return ConversationState(_state(row), row["db_now"], version=row["state_version"])
    if read_only and state_read:
        # No row yet: the default state, and a version (None) that says it must still be absent.
        return ConversationState(GuardState(), row["db_now"])
    return None


async def load_standing(
    conn: Connection,
    *,
    tenant_id: uuid.UUID,
    contact_id: uuid.UUID,
    conversation_id: uuid.UUID,
    phone_digits: Sequence[str],
) -> tuple[ContactStanding, OperatorControls]:
    """The contact's opt-out and blacklist standing and the operator's controls."""
    row = _one(await conn.fetchrow(_STANDING, tenant_id, contact_id, conversation_id, list(phone_digits)))
    return _standing(row), _controls(row)


def _one(row: Any) -> Any:
    """The row a statement always returns (`FROM (SELECT 1)`, an upsert with RETURNING)."""
    if row is None:
        raise RuntimeError("the statement returned no row")
    return row


def _standing(row: Any) -> ContactStanding:
    return ContactStanding(opted_out=row["opted_out"], blacklisted=row["blacklisted"])


def _controls(row: Any) -> OperatorControls:
    return OperatorControls(
        bot_paused=row["bot_paused"], resumed_at=row["resumed_at"], unblocked_at=row["unblocked_at"]
    )


def _state(row: Any) -> GuardState:
    return GuardState(
        paused_at=row["paused_at"],
        paused_until=row["paused_until"],
        pause_reason=row["pause_reason"],
        blocked_at=row["blocked_at"],
        block_reason=row["block_reason"],
        last_script_id=row["last_script_id"],
        loop_count=row["loop_count"],
    )


async def lock_guard_state(
    conn: Connection, conversation_id: uuid.UUID, tenant_id: uuid.UUID
) -> tuple[GuardState, datetime]:
    """The conversation's guard state, locked until COMMIT (created when missing), and the
    database's `now()`, the clock the operator's controls were written with.

    The lock serialises everything that reads and writes one conversation's state: two
    handlers during a consumer rebalance, or a handler and a burst flush.
    """
    row = await conn.fetchrow(_LOCK_STATE, conversation_id)
    if row is None:
        # First message of the conversation: a row this transaction inserts is its own until
        # COMMIT. Only when a concurrent transaction created it first is a second read needed.
        row = await conn.fetchrow(_CREATE_STATE, conversation_id, tenant_id)
        if row is None:
            row = _one(await conn.fetchrow(_LOCK_STATE, conversation_id))
    return _state(row), row["db_now"]


async def share_guard_state(conn: Connection, conversation_id: uuid.UUID) -> tuple[GuardState, datetime]:
    """The conversation's guard state, read under a share lock (waits for a handler's changes)."""
    row = await conn.fetchrow(_SHARE_STATE, conversation_id)
    if row is None:
        return GuardState(), await conn.fetchval("SELECT now()")
    return _state(row), row["db_now"]


async def pause_for_takeover(
    conn: Connection,
    *,
    conversation_id: uuid.UUID,
    tenant_id: uuid.UUID,
    typed_at: datetime,
    minutes: float,
) -> None:
    """Pause the bot for `minutes` from when the operator typed (never from the future)."""
    # GREATEST keeps a later pause already recorded (messages may arrive out of order).
    await conn.execute(
        "INSERT INTO conversation_guard_state AS s"
        " (conversation_id, tenant_id, paused_at, paused_until, pause_reason)"
        " SELECT $1, $2, at, at + make_interval(secs => $4::double precision * 60), $5"
        " FROM (SELECT least($3::timestamptz, now()) AS at) AS typed"
        " ON CONFLICT (conversation_id) DO UPDATE SET"
        "  paused_at = greatest(s.paused_at, EXCLUDED.paused_at),"
        "  paused_until = greatest(s.paused_until, EXCLUDED.paused_until),"
        "  pause_reason = EXCLUDED.pause_reason,"
        "  updated_at = now()",
        conversation_id,
        tenant_id,
        typed_at,
        minutes,
        str(Reason.HUMAN_TAKEOVER),
    )


async def clear_block(conn: Connection, conversation_id: uuid.UUID) -> None:
    """The operator unblocked the conversation: forget the block and restart the loop counter."""
    await conn.execute(
        "UPDATE conversation_guard_state SET blocked_at = NULL, block_reason = NULL,"
        " loop_count = 0, last_script_id = NULL, updated_at = now() WHERE conversation_id = $1",
        conversation_id,
    )


async def save_loop_state(
    conn: Connection, conversation_id: uuid.UUID, loop_count: int, last_script_id: str | None
) -> None:
    """Mirror the Redis loop counter."""
    await conn.execute(
        "UPDATE conversation_guard_state SET loop_count = $2, last_script_id = $3, updated_at = now()"
        " WHERE conversation_id = $1",
        conversation_id,
        loop_count,
        last_script_id,
    )


async def block_conversation(
    conn: Connection, conversation_id: uuid.UUID, reason: Reason, loop_count: int, last_script_id: str | None
) -> None:
    """Block the conversation (until the operator unblocks it)."""
    await conn.execute(
        "UPDATE conversation_guard_state SET blocked_at = now(), block_reason = $2, loop_count = $3,"
        " last_script_id = $4, updated_at = now() WHERE conversation_id = $1",
        conversation_id,
        str(reason),
        loop_count,
        last_script_id,
    )


# The decision and the events it calls for in one statement: one round trip.
# The columns of a `guard_decisions` row, in the order of `_decision_arguments` ($1 to $13).
_DECISION_COLUMNS = (
    "message_id, tenant_id, conversation_id, decision, reason, reply_request_id, event_id,"
    " correlation_id, instance_id, contact_id, reply_to, reply_delay_ms, trace_parent"
)
_DECISION_VALUES = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13"

_RECORD_DECISION = (
    "WITH decided AS ("  # noqa: S608 - built from constants, no input in the SQL text
    f" INSERT INTO guard_decisions ({_DECISION_COLUMNS}) VALUES ({_DECISION_VALUES}) RETURNING 1), "
    + Outbox.staging_cte("staged", 14, when="EXISTS (SELECT 1 FROM decided)")
    + " SELECT ARRAY(SELECT id FROM staged ORDER BY id) AS ids"
)


async def record_decision(
    conn: Connection, record: DecisionRecord, outbox: Outbox, events: PreparedEvents
) -> list[int]:
    """Insert the decision on one message and stage `events`; the staged outbox ids."""
    arguments = (*_decision_arguments(record), *outbox.staging_arguments(events))
    ids = await conn.fetchval(_RECORD_DECISION, *arguments)
    return list(ids)


def _decision_arguments(record: DecisionRecord) -> tuple[object, ...]:
    """The thirteen parameters of a `guard_decisions` row, in the order of `_DECISION_COLUMNS`."""
    return (
        record.message_id,
        record.tenant_id,
        record.conversation_id,
        str(record.decision),
        str(record.reason),
        record.reply_request_id,
        record.event_id,
        record.correlation_id,
        record.instance_id,
        record.contact_id,
        record.reply_to,
        record.reply_delay_ms,
        record.trace_parent,
    )


# The decision of `_RECORD_DECISION` with the ledger claim, in one statement outside any
# transaction, recorded only if the facts it was made on still hold:
# - the event is still unclaimed ($14 consumer; the event id is $7);
# - when the decision read the conversation's guard state ($15), that row is still the version
#   read ($16; NULL: it did not exist, and it is created here). The row is locked for the rest of
#   the statement, so a change committed after the read (or being committed now) is seen.
# Otherwise nothing is written (only the claim, when the message was decided meanwhile under
# another event) and the caller decides again in a transaction.
_RECORD_DECISION_IF_UNCHANGED = (
    "WITH state_now AS ("  # noqa: S608 - built from constants, no input in the SQL text
    " SELECT xmin::text AS version FROM conversation_guard_state"
    " WHERE $15::boolean AND conversation_id = $3 FOR UPDATE),"
    " state_created AS ("
    " INSERT INTO conversation_guard_state (conversation_id, tenant_id)"
    " SELECT $3, $2 WHERE $15::boolean AND $16::text IS NULL AND NOT EXISTS (SELECT 1 FROM state_now)"
    " ON CONFLICT (conversation_id) DO NOTHING RETURNING 1),"
    " unchanged AS ("
    " SELECT 1 WHERE NOT $15::boolean"
    " OR EXISTS (SELECT 1 FROM state_created)"
    " OR EXISTS (SELECT 1 FROM state_now WHERE version = $16::text)),"
    " claim AS ("
    " INSERT INTO processed_events (consumer, event_id) SELECT $14, $7 WHERE EXISTS (SELECT 1 FROM unchanged)"
    " ON CONFLICT DO NOTHING RETURNING 1),"
    " decided AS ("
    f" INSERT INTO guard_decisions ({_DECISION_COLUMNS})"
    f" SELECT {_DECISION_VALUES} WHERE EXISTS (SELECT 1 FROM claim)"
    # Decided meanwhile under another event: the claim stands, the caller sees it taken.
    " ON CONFLICT (message_id) DO NOTHING RETURNING 1), "
    + Outbox.staging_cte("staged", 17, when="EXISTS (SELECT 1 FROM decided)")
    + " SELECT EXISTS (SELECT 1 FROM decided) AS decided, ARRAY(SELECT id FROM staged ORDER BY id) AS ids"
)


async def record_decision_if_unchanged(
    conn: Connection,
    record: DecisionRecord,
    outbox: Outbox,
    events: PreparedEvents,
    *,
    consumer: str,
    state: ConversationState | None,
) -> list[int] | None:
    """Claim the event, insert the decision and stage `events` in one statement, unless the
    event was claimed or the conversation's guard state changed since `state` was read
    (`load_message_facts(read_only=True)`); the staged outbox ids, or None when nothing was
    written. Runs outside a transaction: the statement is its own."""
    row = _one(
        await conn.fetchrow(
            _RECORD_DECISION_IF_UNCHANGED,
            *_decision_arguments(record),
            consumer,
            state is not None,
            None if state is None else state.version,
            *outbox.staging_arguments(events),
        )
    )
    return list(row["ids"]) if row["decided"] else None


async def awaits_burst_reply(conn: Connection, message_id: uuid.UUID) -> bool:
    """The message was debounced and its burst has not been answered yet."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM guard_decisions WHERE message_id = $1"
            " AND decision = 'debounced' AND reply_request_id IS NULL)",
            message_id,
        )
    )


async def add_opt_out(
    conn: Connection,
    *,
    tenant_id: uuid.UUID,
    contact_id: uuid.UUID,
    phone: str | None,
    jid: str | None,
    keyword: str,
    source: str,
) -> bool:
    """Opt the contact out; False when it already was."""
    inserted = await conn.fetchval(
        "INSERT INTO opt_outs (tenant_id, contact_id, phone, jid, keyword, source)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true",
        tenant_id,
        contact_id,
        phone,
        jid,
        keyword,
        source,
    )
    return bool(inserted)


async def remove_opt_out(
    conn: Connection, *, tenant_id: uuid.UUID, contact_id: uuid.UUID, phone_digits: Sequence[str]
) -> bool:
    """Lift the contact's opt-out (by contact or phone); False when there was none."""
    removed = await conn.fetch(
        "DELETE FROM opt_outs WHERE tenant_id = $1 AND (contact_id = $2 OR phone = ANY($3::text[]))"
        " RETURNING contact_id",
        tenant_id,
        contact_id,
        list(phone_digits),
    )
    return bool(removed)


async def append_consent_event(
    conn: Connection,
    *,
    tenant_id: uuid.UUID,
    contact_id: uuid.UUID,
    action: str,
    keyword: str,
    source: str,
    message_id: uuid.UUID,
) -> None:
    """Append one change to the consent ledger."""
    await conn.execute(
        "INSERT INTO consent_events (tenant_id, contact_id, action, keyword, source, message_id)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        tenant_id,
        contact_id,
        action,
        keyword,
        source,
        message_id,
    )


async def lock_burst(
    conn: Connection, conversation_id: uuid.UUID, message_ids: Sequence[uuid.UUID]
) -> list[BurstMessage]:
    """The burst's messages still waiting for a reply, oldest first, locked until COMMIT.

    Messages already answered (a successor re-claimed a burst its predecessor had
    answered) or never recorded are left out.
    """
    rows = await conn.fetch(
        "SELECT d.message_id, d.tenant_id, d.reason, d.event_id, d.correlation_id, d.instance_id,"
        " i.name AS instance_name, d.contact_id, d.reply_to, d.reply_delay_ms,"
        # A voice note's transcript is its text (docs/media.md).
        " coalesce(m.text, mm.transcript) AS text, d.trace_parent"
        " FROM guard_decisions d"
        " JOIN messages m ON m.id = d.message_id"
        " JOIN instances i ON i.id = d.instance_id"
        " LEFT JOIN message_media mm ON mm.message_id = d.message_id"
        " WHERE d.conversation_id = $1 AND d.message_id = ANY($2::uuid[])"
        " AND d.decision = 'debounced' AND d.reply_request_id IS NULL"
        " ORDER BY m.sent_at, d.decided_at, m.received_at"
        " FOR UPDATE OF d",
        conversation_id,
        list(message_ids),
    )
    return [
        BurstMessage(
            message_id=row["message_id"],
            tenant_id=row["tenant_id"],
            reason=row["reason"],
            event_id=row["event_id"],
            correlation_id=row["correlation_id"],
            instance_id=row["instance_id"],
            instance_name=row["instance_name"],
            contact_id=row["contact_id"],
            reply_to=row["reply_to"],
            reply_delay_ms=row["reply_delay_ms"],
            text=row["text"],
            trace_parent=row["trace_parent"],
        )
        for row in rows
    ]


async def settle_burst(
    conn: Connection,
    message_ids: Sequence[uuid.UUID],
    *,
    decision: Decision,
    reason: Reason | None,
    reply_request_id: uuid.UUID | None,
) -> None:
    """Record how a debounced burst ended: answered by `reply_request_id`, or held."""
    await conn.execute(
        "UPDATE guard_decisions SET decision = $2, reason = coalesce($3, reason), reply_request_id = $4"
        " WHERE message_id = ANY($1::uuid[])",
        list(message_ids),
        str(decision),
        None if reason is None else str(reason),
        reply_request_id,
    )


async def unanswered_messages(
    conn: Connection, *, older_than_s: float, limit: int
) -> list[UnansweredMessage]:
    """Debounced messages older than `older_than_s` whose burst was never answered."""
    rows = await conn.fetch(
        "SELECT conversation_id, message_id FROM guard_decisions"
        " WHERE decision = 'debounced' AND reply_request_id IS NULL"
        " AND decided_at < now() - make_interval(secs => $1::double precision)"
        " ORDER BY decided_at LIMIT $2",
        older_than_s,
        limit,
    )
    return [UnansweredMessage(row["conversation_id"], row["message_id"]) for row in rows]
