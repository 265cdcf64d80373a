"""The sender's SQL: the `sends` ledger it owns, and what it reads of other services' tables.

Every state change of a send is a compare-and-set on (status, in_flight,
attempts): whoever changes a row must have seen its current state, so two
consumers handling the same send (a rebalance, a redelivery) can never both
start the same attempt or both settle it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from contracts import InstanceState, SendPurpose, SendText, SendTextData, stable_id
from contracts.phones import suppression_hash
from database import Connection, Pool
from messaging import Outbox, PreparedEvents
from sender.gates import InstanceAccess, RecipientFacts


@dataclass(frozen=True)
class SendRow:
    """The ledger row of one send, with the database's clock at the time it was read."""

    send_id: uuid.UUID
    status: str
    in_flight: bool
    attempts: int
    attempt_started_at: datetime | None
    in_flight_until: datetime | None
    provider_message_id: str | None
    failure_code: str | None
    last_error: str | None
    last_status_code: int | None
    created_at: datetime
    read_at: datetime

    @property
    def in_flight_remaining_s(self) -> float:
        """Seconds until the attempt in flight must have ended (0 when it must have)."""
        if not self.in_flight or self.in_flight_until is None:
            return 0.0
        return max(0.0, (self.in_flight_until - self.read_at).total_seconds())


@dataclass(frozen=True)
class Echo:
    """A `send.message` echo ingest recorded: proof that Evolution sent a message."""

    provider_message_id: str
    sent_at: datetime


def _row(record: asyncpg.Record) -> SendRow:
    return SendRow(**dict(record))


async def insert_send(
    conn: Connection | Pool,
    command: SendText,
    recipient_digits: str,
    *,
    in_flight_for_s: float | None = None,
) -> tuple[SendRow, bool]:
    """Create the row of a new send, or return the existing one; True when this call created it.

    With `in_flight_for_s` the row starts with its first attempt already in flight (the
    gates passed and the HTTP call follows at once): claiming the send and starting its
    attempt are one commit.
    """
    data = command.data
    inserted = await conn.fetchrow(
        "INSERT INTO sends (send_id, tenant_id, instance_id, instance_name, conversation_id, contact_id,"
        " recipient, recipient_digits, text, purpose, app_origin, script_id, reply_id, part_index,"
        " campaign_id, target_id, round_id, status, in_flight, attempts, attempt_started_at, in_flight_until,"
        " command_event_id, correlation_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 'sending',"
        " $18::float8 IS NOT NULL, CASE WHEN $18::float8 IS NULL THEN 0 ELSE 1 END,"
        " CASE WHEN $18::float8 IS NULL THEN NULL ELSE now() END,"
        " now() + make_interval(secs => $18::float8), $19, $20)"
        " ON CONFLICT (send_id) DO NOTHING RETURNING send_id, status, in_flight, attempts,"
        " attempt_started_at, in_flight_until, provider_message_id, failure_code, last_error,"
        " last_status_code, created_at, now() AS read_at",
        data.send_id,
        command.tenant_id,
        data.instance_id,
        data.instance_name,
        data.conversation_id,
        data.contact_id,
        data.to,
        recipient_digits,
        data.text,
        str(data.purpose),
        data.app_origin,
        data.script_id,
        data.reply_id,
        data.part_index,
        data.campaign_id,
        data.target_id,
        data.round_id,
        in_flight_for_s,
        command.event_id,
        command.correlation_id,
    )
    if inserted is not None:
        return _row(inserted), True
    existing = await load_send(conn, data.send_id)
    if existing is None:  # pragma: no cover - a row that conflicted cannot vanish (sends are never deleted)
        raise RuntimeError(f"send {data.send_id} conflicted but cannot be read")
    return existing, False


async def load_send(conn: Connection | Pool, send_id: uuid.UUID) -> SendRow | None:
    """The current row of a send."""
    record = await conn.fetchrow(
        "SELECT send_id, status, in_flight, attempts, attempt_started_at, in_flight_until,"
        " provider_message_id, failure_code, last_error, last_status_code, created_at, now() AS read_at"
        " FROM sends WHERE send_id = $1",
        send_id,
    )
    return _row(record) if record is not None else None


async def recipient_facts(
    conn: Connection | Pool,
    *,
    tenant_id: uuid.UUID,
    instance_id: uuid.UUID,
    contact_id: uuid.UUID | None,
    to: str,
    digit_variants: tuple[str, ...],
) -> RecipientFacts:
    """The instance (this tenant's only) and whether the recipient opted out or is blacklisted.

    `opt_outs` (guard) and `blacklist` (api) are matched by contact and by the phone
    digits (both writers store digits only) in either Brazilian spelling; `suppressions`
    (api, erased contacts) by the hash of the canonical spelling.
    """
    record = await conn.fetchrow(
        "SELECT i.name, i.token, i.state, coalesce(i.sending_stopped, false) AS sending_stopped,"
        " EXISTS (SELECT 1 FROM opt_outs o WHERE o.tenant_id = $1 AND (o.contact_id = $3"
        "   OR o.phone = ANY($4::text[])"
        "   OR o.jid = $5)) AS opted_out,"
        " EXISTS (SELECT 1 FROM blacklist b WHERE b.tenant_id = $1"
        "   AND b.phone = ANY($4::text[])) AS blacklisted,"
        " EXISTS (SELECT 1 FROM suppressions s WHERE s.tenant_id = $1"
        "   AND s.phone_hash = $6) AS suppressed"
        " FROM (SELECT 1) AS one LEFT JOIN instances i ON i.id = $2 AND i.tenant_id = $1",
        tenant_id,
        instance_id,
        contact_id,
        list(digit_variants),
        to,
        suppression_hash(tenant_id, digit_variants[0]) if digit_variants else "",
    )
    if record is None:  # pragma: no cover - a LEFT JOIN on one row always yields one row
        raise RuntimeError("the recipient facts query returned no row")
    found = record["name"] is not None
    return RecipientFacts(
        instance=InstanceAccess(name=record["name"], token=record["token"] or None) if found else None,
        instance_state=InstanceState(record["state"]) if found else None,
        sending_stopped=bool(record["sending_stopped"]),
        opted_out=bool(record["opted_out"]),
        blacklisted=bool(record["blacklisted"]),
        suppressed=bool(record["suppressed"]),
    )


async def begin_attempt(
    conn: Connection, send_id: uuid.UUID, *, seen_attempts: int, in_flight_for_s: float
) -> SendRow | None:
    """Mark the next attempt in flight (before the HTTP call); None when the row moved on."""
    record = await conn.fetchrow(
        "UPDATE sends SET in_flight = true, attempts = attempts + 1, attempt_started_at = now(),"
        " in_flight_until = now() + make_interval(secs => $3), updated_at = now()"
        " WHERE send_id = $1 AND status = 'sending' AND NOT in_flight AND attempts = $2"
        " RETURNING send_id, status, in_flight, attempts, attempt_started_at, in_flight_until,"
        " provider_message_id, failure_code, last_error, last_status_code, created_at, now() AS read_at",
        send_id,
        seen_attempts,
        in_flight_for_s,
    )
    return _row(record) if record is not None else None


async def release_attempt(
    conn: Connection, send_id: uuid.UUID, *, attempt: int, error: str, status_code: int | None
) -> SendRow | None:
    """Record a definite "not sent" answer and clear `in_flight`; None when the row moved on."""
    record = await conn.fetchrow(
        "UPDATE sends SET in_flight = false, in_flight_until = NULL, last_error = $3,"
        " last_status_code = $4, updated_at = now()"
        " WHERE send_id = $1 AND status = 'sending' AND in_flight AND attempts = $2"
        " RETURNING send_id, status, in_flight, attempts, attempt_started_at, in_flight_until,"
        " provider_message_id, failure_code, last_error, last_status_code, created_at, now() AS read_at",
        send_id,
        attempt,
        error[:2000],
        status_code,
    )
    return _row(record) if record is not None else None


# The outcome and its events in one statement (one commit); the events only if the row moved.
_SETTLE_SENT_SQL = (
    "WITH settled AS ("  # noqa: S608 - built from constants, no input in the SQL text
    " UPDATE sends SET status = 'sent', in_flight = false, in_flight_until = NULL,"
    " provider_message_id = $3, sent_at = $4, failure_code = NULL, updated_at = now()"
    " WHERE send_id = $1 AND attempts = $2"
    " AND ((status = 'sending' AND in_flight) OR status = 'ambiguous')"
    " RETURNING 1), "
    + Outbox.staging_cte("staged", 5, when="EXISTS (SELECT 1 FROM settled)")
    + " SELECT EXISTS (SELECT 1 FROM settled) AS settled, ARRAY(SELECT id FROM staged ORDER BY id) AS ids"
)


async def settle_sent(
    conn: Connection | Pool,
    send_id: uuid.UUID,
    *,
    attempt: int,
    provider_message_id: str,
    sent_at: datetime,
    outbox: Outbox,
    events: PreparedEvents,
) -> list[int] | None:
    """Record the send as sent with its provider id and stage `events`, in one statement.

    Returns the staged outbox ids; None when the row moved on (nothing written). An
    `ambiguous` row of the same attempt may still become `sent`: the answer that settles
    the doubt arrived after all.
    """
    record = await conn.fetchrow(
        _SETTLE_SENT_SQL,
        send_id,
        attempt,
        provider_message_id,
        sent_at,
        *outbox.staging_arguments(events),
    )
    if record is None or not record["settled"]:
        return None
    return list(record["ids"])


async def settle_unsent(
    conn: Connection,
    send_id: uuid.UUID,
    *,
    status: str,
    seen_attempts: int,
    seen_in_flight: bool,
    failure_code: str,
    error: str,
    failed_at: datetime,
    status_code: int | None = None,
) -> bool:
    """Move a `sending` row to `failed`, `refused` or `ambiguous` at `failed_at` (when its
    `message.failed` occurred); False when the row moved on."""
    settled = await conn.fetchval(
        "UPDATE sends SET status = $2, in_flight = false, in_flight_until = NULL, failure_code = $5,"
        " last_error = $6, last_status_code = coalesce($7, last_status_code), failed_at = $8,"
        " updated_at = now()"
        " WHERE send_id = $1 AND status = 'sending' AND in_flight = $4 AND attempts = $3"
        " RETURNING true",
        send_id,
        status,
        seen_attempts,
        seen_in_flight,
        failure_code,
        error[:2000],
        status_code,
        failed_at,
    )
    return bool(settled)


async def find_echo(
    conn: Connection,
    *,
    instance_id: uuid.UUID,
    text: str,
    digit_variants: tuple[str, ...],
    since: datetime,
) -> Echo | None:
    """The earliest unclaimed `send.message` echo of this text to this recipient since `since`.

    Ingest stores Evolution's echo of every API send in `messages`; an echo whose
    provider id another send already owns is that send's, not this one's.
    """
    record = await conn.fetchrow(
        "SELECT m.provider_id, m.sent_at FROM messages m"
        " WHERE m.instance_id = $1 AND m.origin = 'mirage' AND m.source_event = 'send.message'"
        " AND m.received_at >= $4 AND m.text = $2"
        " AND regexp_replace(split_part(m.chat_jid, '@', 1), '\\D', '', 'g') = ANY($3::text[])"
        " AND NOT EXISTS (SELECT 1 FROM sends s"
        "   WHERE s.instance_id = m.instance_id AND s.provider_message_id = m.provider_id)"
        " ORDER BY m.received_at, m.provider_id LIMIT 1",
        instance_id,
        text,
        list(digit_variants),
        since,
    )
    if record is None:
        return None
    return Echo(provider_message_id=record["provider_id"], sent_at=record["sent_at"])


@dataclass(frozen=True)
class AmbiguousSend:
    """A send judged ambiguous: the command that created it, and when its `message.failed` occurred."""

    command: SendText
    # None for rows judged before the moment was kept.
    ambiguous_at: datetime | None


async def ambiguous_sends(
    executor: Connection | Pool, *, within_hours: float, limit: int
) -> list[AmbiguousSend]:
    """Sends judged ambiguous in the last `within_hours`, oldest first."""
    rows = await executor.fetch(
        "SELECT send_id, tenant_id, instance_id, instance_name, conversation_id, contact_id, recipient, text,"
        " purpose, app_origin, script_id, reply_id, part_index, campaign_id, target_id, round_id,"
        " command_event_id, correlation_id, failed_at FROM sends"
        " WHERE status = 'ambiguous' AND updated_at > now() - make_interval(secs => $1)"
        " ORDER BY updated_at LIMIT $2",
        within_hours * 3600,
        limit,
    )
    return [AmbiguousSend(command=_command_of(row), ambiguous_at=row["failed_at"]) for row in rows]


def _command_of(row: asyncpg.Record) -> SendText:
    """The `send.requested` command a ledger row was created from."""
    return SendText(
        # Rows from before these columns existed get ids derived from the send id.
        event_id=row["command_event_id"] or stable_id("send.requested", row["send_id"]),
        tenant_id=row["tenant_id"],
        correlation_id=row["correlation_id"] or stable_id("send", row["send_id"]),
        data=SendTextData(
            send_id=row["send_id"],
            instance_id=row["instance_id"],
            instance_name=row["instance_name"],
            conversation_id=row["conversation_id"],
            contact_id=row["contact_id"],
            to=row["recipient"],
            text=row["text"],
            purpose=SendPurpose(row["purpose"]),
            app_origin=row["app_origin"] or "bot",
            script_id=row["script_id"],
            reply_id=row["reply_id"],
            part_index=row["part_index"],
            campaign_id=row["campaign_id"],
            target_id=row["target_id"],
            round_id=row["round_id"],
        ),
    )
