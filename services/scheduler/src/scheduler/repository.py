"""The scheduler's SQL.

It writes `rounds`, `round_turns`, `round_arrivals`, `round_skips` and `warmup_pair_state`
(and its outbox rows); it reads the api's `warmup_pairs`, `warmup_numbers`, `instances`,
`personas` and `tenants`, the generator's `replies` and the sender's `sends`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from database import Connection, Pool

_DIGITS = "regexp_replace(split_part(split_part({jid}, '@', 1), ':', 1), '[^0-9]', '', 'g')"


def number_of(owner_jid: str | None) -> str | None:
    """The phone digits of an instance's own JID (`5511…@s.whatsapp.net`, `5511…:12@…`)."""
    if not owner_jid:
        return None
    digits = "".join(ch for ch in owner_jid.split("@", 1)[0].split(":", 1)[0] if ch.isdigit())
    return digits or None


@dataclass(frozen=True)
class NumberFacts:
    """One instance of a pair, as the scheduler sees it."""

    instance_id: uuid.UUID
    name: str
    state: str
    sending_stopped: bool
    number: str | None
    persona_id: uuid.UUID | None
    persona_name: str | None
    profile_name: str | None
    declared_age_days: int | None
    declared_at: datetime | None

    @property
    def connected(self) -> bool:
        """Connected and allowed to send."""
        return self.state == "connected" and not self.sending_stopped and self.number is not None

    @property
    def display_name(self) -> str | None:
        """What the peer calls this number: its persona's name, else its WhatsApp profile name."""
        return self.persona_name or self.profile_name


@dataclass(frozen=True)
class PairFacts:
    """A pair's configuration and state, read under the lock of its state row."""

    pair_id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    time_zone: str
    windows: list[dict[str, Any]]
    min_delay_s: int
    jitter_s: int
    min_turns: int
    max_turns: int
    active: bool
    profile: str
    max_rounds_per_day: int | None
    initiator_mode: str
    initiator_weight_a: float
    tenant_time_zone: str
    number_daily_quota: int
    a: NumberFacts
    b: NumberFacts
    last_initiator_instance_id: uuid.UUID | None
    next_round_not_before: datetime | None
    quarantined_until: datetime | None
    round_in_progress: bool
    rounds_today: int


def _side_columns(side: str) -> str:
    return (
        f" {side}.id AS {side}_id, {side}.name AS {side}_name, {side}.state AS {side}_state,"
        f" {side}.sending_stopped AS {side}_stopped, {side}.owner_jid AS {side}_owner_jid,"
        f" {side}.profile_name AS {side}_profile_name, {side}p.id AS {side}_persona_id,"
        f" {side}p.name AS {side}_persona_name, {side}n.declared_age_days AS {side}_age,"
        f" {side}n.declared_at AS {side}_declared_at"
    )


def _side_joins(side: str, instance_column: str, persona_column: str) -> str:
    return (
        f" JOIN instances {side} ON {side}.id = p.{instance_column}"
        f" LEFT JOIN personas {side}p ON {side}p.id = coalesce(p.{persona_column}, {side}.persona_id)"
        f" AND {side}p.tenant_id = p.tenant_id"
        f" LEFT JOIN warmup_numbers {side}n ON {side}n.instance_id = {side}.id"
    )


_PAIR_FACTS_SQL = (
    "SELECT p.id, p.tenant_id, p.name, p.time_zone, p.windows, p.min_delay_s, p.jitter_s, p.min_turns,"  # noqa: S608 - constants only
    " p.max_turns, p.active, p.profile, p.max_rounds_per_day, p.initiator_mode, p.initiator_weight_a,"
    " t.time_zone AS tenant_time_zone, t.number_daily_quota,"
    + _side_columns("a")
    + ","
    + _side_columns("b")
    + ", s.last_initiator_instance_id, s.next_round_not_before, s.quarantined_until,"
    " EXISTS (SELECT 1 FROM rounds r WHERE r.pair_id = p.id AND r.status = 'started') AS round_in_progress,"
    " (SELECT count(*) FROM rounds r WHERE r.pair_id = p.id"
    "   AND r.started_at >="
    "     (date_trunc('day', $2::timestamptz AT TIME ZONE p.time_zone) AT TIME ZONE p.time_zone)"
    " ) AS rounds_today"
    " FROM warmup_pairs p JOIN tenants t ON t.id = p.tenant_id"
    " LEFT JOIN warmup_pair_state s ON s.pair_id = p.id"
    + _side_joins("a", "instance_a_id", "persona_a_id")
    + _side_joins("b", "instance_b_id", "persona_b_id")
    + " WHERE p.id = $1 AND p.deleted_at IS NULL"
)


def _number(row: Any, side: str) -> NumberFacts:
    return NumberFacts(
        instance_id=row[f"{side}_id"],
        name=row[f"{side}_name"],
        state=row[f"{side}_state"],
        sending_stopped=row[f"{side}_stopped"],
        number=number_of(row[f"{side}_owner_jid"]),
        persona_id=row[f"{side}_persona_id"],
        persona_name=row[f"{side}_persona_name"],
        profile_name=row[f"{side}_profile_name"],
        declared_age_days=row[f"{side}_age"],
        declared_at=row[f"{side}_declared_at"],
    )


def _windows(value: Any) -> list[dict[str, Any]]:
    loaded = json.loads(value) if isinstance(value, str) else value
    return list(loaded) if isinstance(loaded, list) else []


async def lock_pair(conn: Connection, pair_id: uuid.UUID, tenant_id: uuid.UUID | None) -> bool:
    """Create the pair's state row if needed and lock it (False: no such live pair for the tenant).

    Every decision about a pair runs under this lock, so the cron and a manual tick (on any
    replica) never start two rounds of one pair.
    """
    locked = await conn.fetchval(
        "INSERT INTO warmup_pair_state (pair_id, tenant_id)"
        " SELECT id, tenant_id FROM warmup_pairs"
        " WHERE id = $1 AND deleted_at IS NULL AND ($2::uuid IS NULL OR tenant_id = $2)"
        " ON CONFLICT (pair_id) DO UPDATE SET updated_at = warmup_pair_state.updated_at"
        " RETURNING true",
        pair_id,
        tenant_id,
    )
    return bool(locked)


async def load_pair_facts(conn: Connection, pair_id: uuid.UUID, now: datetime) -> PairFacts | None:
    """The pair's configuration, both numbers and its state (the caller holds the pair lock)."""
    row = await conn.fetchrow(_PAIR_FACTS_SQL, pair_id, now)
    if row is None:
        return None
    return PairFacts(
        pair_id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        time_zone=row["time_zone"],
        windows=_windows(row["windows"]),
        min_delay_s=row["min_delay_s"],
        jitter_s=row["jitter_s"],
        min_turns=row["min_turns"],
        max_turns=row["max_turns"],
        active=row["active"],
        profile=row["profile"],
        max_rounds_per_day=row["max_rounds_per_day"],
        initiator_mode=row["initiator_mode"],
        initiator_weight_a=float(row["initiator_weight_a"]),
        tenant_time_zone=row["tenant_time_zone"],
        number_daily_quota=row["number_daily_quota"],
        a=_number(row, "a"),
        b=_number(row, "b"),
        last_initiator_instance_id=row["last_initiator_instance_id"],
        next_round_not_before=row["next_round_not_before"],
        quarantined_until=row["quarantined_until"],
        round_in_progress=row["round_in_progress"],
        rounds_today=row["rounds_today"],
    )


async def active_pairs(conn: Connection | Pool, only_tenants: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Every live pair the cron scans (paused ones too: their skip is recorded)."""
    rows = await conn.fetch(
        "SELECT id FROM warmup_pairs WHERE deleted_at IS NULL"
        " AND (cardinality($1::uuid[]) = 0 OR tenant_id = ANY($1::uuid[])) ORDER BY created_at, id",
        list(only_tenants),
    )
    return [row["id"] for row in rows]


async def record_skip(
    conn: Connection,
    pair_id: uuid.UUID,
    tenant_id: uuid.UUID,
    reason: str,
    detail: str,
    trigger: str,
    now: datetime,
) -> None:
    """Record why the pair got no round; the same reason as the pair's latest skip adds to its count."""
    updated = await conn.fetchval(
        "WITH latest AS (SELECT id, reason FROM round_skips WHERE pair_id = $1 ORDER BY id DESC LIMIT 1)"
        " UPDATE round_skips s SET occurrences = occurrences + 1, last_scanned_at = $4, detail = $3,"
        " trigger = $5"
        " FROM latest WHERE s.id = latest.id AND latest.reason = $2"
        " AND NOT EXISTS (SELECT 1 FROM rounds r WHERE r.pair_id = $1 AND r.started_at > s.scanned_at)"
        " RETURNING true",
        pair_id,
        reason,
        detail,
        now,
        trigger,
    )
    if updated:
        return
    await conn.execute(
        "INSERT INTO round_skips (tenant_id, pair_id, reason, detail, trigger, scanned_at, last_scanned_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $6)",
        tenant_id,
        pair_id,
        reason,
        detail,
        trigger,
        now,
    )


@dataclass(frozen=True)
class NewTurn:
    """A turn planned when its round starts."""

    index: int
    turn_id: uuid.UUID
    speaker_instance_id: uuid.UUID
    listener_instance_id: uuid.UUID
    messages: int
    reaction: bool


@dataclass(frozen=True)
class NewRound:
    """A round about to start."""

    round_id: uuid.UUID
    tenant_id: uuid.UUID
    pair_id: uuid.UUID
    initiator_instance_id: uuid.UUID
    responder_instance_id: uuid.UUID
    script_id: str
    topic: str
    trigger: str
    started_at: datetime
    turns: Sequence[NewTurn]


async def insert_round(conn: Connection, new: NewRound) -> None:
    """The round, all of its planned turns (the first due now), and the pair's state."""
    await conn.execute(
        "INSERT INTO rounds (id, tenant_id, pair_id, initiator_instance_id, responder_instance_id,"
        " script_id, planned_turns, status, started_at, topic, trigger)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, 'started', $8, $9, $10)",
        new.round_id,
        new.tenant_id,
        new.pair_id,
        new.initiator_instance_id,
        new.responder_instance_id,
        new.script_id,
        len(new.turns),
        new.started_at,
        new.topic,
        new.trigger,
    )
    await conn.execute(
        "INSERT INTO round_turns (round_id, turn_index, turn_id, tenant_id, pair_id, speaker_instance_id,"
        " listener_instance_id, messages, reaction, status, due_at)"
        " SELECT $1, t.i, t.id, $2, $3, t.speaker, t.listener, t.messages, t.reaction, 'planned',"
        " CASE WHEN t.i = 0 THEN $4::timestamptz END"
        " FROM unnest($5::int[], $6::uuid[], $7::uuid[], $8::uuid[], $9::int[], $10::bool[])"
        " AS t(i, id, speaker, listener, messages, reaction)",
        new.round_id,
        new.tenant_id,
        new.pair_id,
        new.started_at,
        [turn.index for turn in new.turns],
        [turn.turn_id for turn in new.turns],
        [turn.speaker_instance_id for turn in new.turns],
        [turn.listener_instance_id for turn in new.turns],
        [turn.messages for turn in new.turns],
        [turn.reaction for turn in new.turns],
    )
    await conn.execute(
        "UPDATE warmup_pair_state SET last_initiator_instance_id = $2, last_round_started_at = $3,"
        " updated_at = now() WHERE pair_id = $1",
        new.pair_id,
        new.initiator_instance_id,
        new.started_at,
    )


@dataclass(frozen=True)
class TurnRow:
    """One turn of a running round, with what its next step needs to know."""

    round_id: uuid.UUID
    turn_index: int
    turn_id: uuid.UUID
    tenant_id: uuid.UUID
    pair_id: uuid.UUID
    speaker_instance_id: uuid.UUID
    listener_instance_id: uuid.UUID
    messages: int
    reaction: bool
    status: str
    due_at: datetime | None
    requested_at: datetime | None
    round_status: str
    script_id: str
    topic: str | None
    planned_turns: int
    turns_completed: int
    started_at: datetime
    initiator_instance_id: uuid.UUID
    responder_instance_id: uuid.UUID


_TURN_COLUMNS = (
    "rt.round_id, rt.turn_index, rt.turn_id, rt.tenant_id, rt.pair_id, rt.speaker_instance_id,"
    " rt.listener_instance_id, rt.messages, rt.reaction, rt.status, rt.due_at, rt.requested_at,"
    " r.status AS round_status, r.script_id, r.topic, r.planned_turns, r.turns_completed, r.started_at,"
    " r.initiator_instance_id, r.responder_instance_id"
)


def _turn(row: Any) -> TurnRow:
    return TurnRow(**{name: row[name] for name in TurnRow.__dataclass_fields__})


async def lock_turn(conn: Connection, round_id: uuid.UUID, turn_index: int) -> TurnRow | None:
    """A turn and its round, the round locked for the rest of the transaction."""
    row = await conn.fetchrow(
        f"SELECT {_TURN_COLUMNS} FROM round_turns rt JOIN rounds r ON r.id = rt.round_id"  # noqa: S608
        " WHERE rt.round_id = $1 AND rt.turn_index = $2 FOR UPDATE OF r",
        round_id,
        turn_index,
    )
    return _turn(row) if row is not None else None


async def due_turns(
    conn: Connection | Pool, now: datetime, only_tenants: Sequence[uuid.UUID], limit: int = 100
) -> list[tuple[uuid.UUID, int]]:
    """Turns of running rounds whose time has come."""
    rows = await conn.fetch(
        "SELECT rt.round_id, rt.turn_index FROM round_turns rt JOIN rounds r ON r.id = rt.round_id"
        " WHERE rt.status = 'planned' AND rt.due_at <= $1 AND r.status = 'started'"
        " AND (cardinality($2::uuid[]) = 0 OR rt.tenant_id = ANY($2::uuid[]))"
        " ORDER BY rt.due_at LIMIT $3",
        now,
        list(only_tenants),
        limit,
    )
    return [(row["round_id"], row["turn_index"]) for row in rows]


async def overdue_turns(
    conn: Connection | Pool, deadline: datetime, only_tenants: Sequence[uuid.UUID], limit: int = 100
) -> list[tuple[uuid.UUID, int]]:
    """Requested turns of running rounds that were requested before `deadline`."""
    rows = await conn.fetch(
        "SELECT rt.round_id, rt.turn_index FROM round_turns rt JOIN rounds r ON r.id = rt.round_id"
        " WHERE rt.status = 'requested' AND rt.requested_at <= $1 AND r.status = 'started'"
        " AND (cardinality($2::uuid[]) = 0 OR rt.tenant_id = ANY($2::uuid[]))"
        " ORDER BY rt.requested_at LIMIT $3",
        deadline,
        list(only_tenants),
        limit,
    )
    return [(row["round_id"], row["turn_index"]) for row in rows]


async def load_history(conn: Connection, round_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """Every message of the round that arrived, oldest first, with the number that sent it."""
    rows = await conn.fetch(
        "SELECT rt.speaker_instance_id, a.text FROM round_arrivals a"
        " JOIN round_turns rt ON rt.round_id = a.round_id AND rt.turn_index = a.turn_index"
        " WHERE a.round_id = $1 AND a.text IS NOT NULL ORDER BY a.turn_index, a.part_index",
        round_id,
    )
    return [(row["speaker_instance_id"], row["text"]) for row in rows]


async def mark_requested(conn: Connection, round_id: uuid.UUID, turn_index: int, now: datetime) -> None:
    """The turn went to the generator."""
    await conn.execute(
        "UPDATE round_turns SET status = 'requested', requested_at = $3"
        " WHERE round_id = $1 AND turn_index = $2",
        round_id,
        turn_index,
        now,
    )


@dataclass(frozen=True)
class AwaitedTurn:
    """A requested turn whose messages may be arriving at `listener`."""

    round_id: uuid.UUID
    turn_index: int


async def awaited_turns(
    conn: Connection | Pool, listener_instance_id: uuid.UUID, sender_numbers: Sequence[str], sent_at: datetime
) -> list[AwaitedTurn]:
    """Requested turns of running rounds sent to `listener` by the number that wrote this message.

    The sender is recognised by the own-number registry: the speaker instance's own JID. A
    message written before the turn was requested (minus some clock slack) is not the turn's.
    """
    rows = await conn.fetch(
        "SELECT rt.round_id, rt.turn_index FROM round_turns rt"  # noqa: S608 - constants only
        " JOIN rounds r ON r.id = rt.round_id"
        " JOIN instances sp ON sp.id = rt.speaker_instance_id"
        " WHERE rt.listener_instance_id = $1 AND rt.status = 'requested' AND r.status = 'started'"
        f" AND {_DIGITS.format(jid='sp.owner_jid')} = ANY($2::text[])"
        " AND $3::timestamptz >= rt.requested_at - interval '2 minutes'"
        " ORDER BY rt.requested_at",
        listener_instance_id,
        list(sender_numbers),
        sent_at,
    )
    return [AwaitedTurn(row["round_id"], row["turn_index"]) for row in rows]


@dataclass(frozen=True)
class TurnMessages:
    """What the generator wrote for a turn, what the sender did with it, what arrived."""

    # None: the generator has not written the turn yet.
    parts: list[str] | None
    # part index → send status, for the parts the sender has seen.
    sends: dict[int, str]
    # part index → the provider id the sender recorded.
    provider_ids: dict[int, str]
    arrived: set[int]
    # provider id → part, of the messages already seen arriving.
    arrived_ids: dict[str, int]


async def turn_messages(
    conn: Connection, round_id: uuid.UUID, turn_index: int, turn_id: uuid.UUID
) -> TurnMessages:
    """The turn's parts (the generator's `replies` row), their sends and their arrivals."""
    row = await conn.fetchrow(
        "SELECT (SELECT parts FROM replies WHERE id = $3) AS parts,"
        " ARRAY(SELECT part_index FROM sends WHERE reply_id = $3 ORDER BY part_index) AS send_parts,"
        " ARRAY(SELECT status FROM sends WHERE reply_id = $3 ORDER BY part_index) AS send_statuses,"
        " ARRAY(SELECT coalesce(provider_message_id, '') FROM sends WHERE reply_id = $3 ORDER BY part_index)"
        "   AS send_ids,"
        " ARRAY(SELECT part_index FROM round_arrivals WHERE round_id = $1 AND turn_index = $2"
        "   ORDER BY part_index) AS arrived,"
        " ARRAY(SELECT provider_message_id FROM round_arrivals WHERE round_id = $1 AND turn_index = $2"
        "   ORDER BY part_index) AS arrived_ids",
        round_id,
        turn_index,
        turn_id,
    )
    if row is None:  # a SELECT without FROM always yields one row
        raise RuntimeError("the turn messages query returned no row")
    parts = list(row["parts"]) if row["parts"] is not None else None
    send_parts = list(row["send_parts"])
    return TurnMessages(
        parts=parts,
        sends=dict(zip(send_parts, row["send_statuses"], strict=True)),
        provider_ids={part: pid for part, pid in zip(send_parts, row["send_ids"], strict=True) if pid},
        arrived=set(row["arrived"]),
        arrived_ids=dict(zip(row["arrived_ids"], row["arrived"], strict=True)),
    )


async def insert_arrival(
    conn: Connection,
    round_id: uuid.UUID,
    turn_index: int,
    part_index: int,
    tenant_id: uuid.UUID,
    message_id: uuid.UUID,
    provider_message_id: str,
    text: str | None,
    now: datetime,
) -> bool:
    """Record that a part arrived at the peer; False when it was already recorded."""
    inserted = await conn.fetchval(
        "INSERT INTO round_arrivals (round_id, turn_index, part_index, tenant_id, message_id,"
        " provider_message_id, text, arrived_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT DO NOTHING RETURNING true",
        round_id,
        turn_index,
        part_index,
        tenant_id,
        message_id,
        provider_message_id,
        text,
        now,
    )
    return bool(inserted)


async def mark_delivered(
    conn: Connection, round_id: uuid.UUID, turn_index: int, text: str, now: datetime
) -> None:
    """Every message of the turn arrived: the turn is delivered and counts for the round."""
    await conn.execute(
        "UPDATE round_turns SET status = 'delivered', delivered_at = $3, text = $4"
        " WHERE round_id = $1 AND turn_index = $2",
        round_id,
        turn_index,
        now,
        text,
    )
    await conn.execute("UPDATE rounds SET turns_completed = turns_completed + 1 WHERE id = $1", round_id)


async def schedule_turn(conn: Connection, round_id: uuid.UUID, turn_index: int, due_at: datetime) -> None:
    """The next turn is due at `due_at`."""
    await conn.execute(
        "UPDATE round_turns SET due_at = $3 WHERE round_id = $1 AND turn_index = $2 AND status = 'planned'",
        round_id,
        turn_index,
        due_at,
    )


@dataclass(frozen=True)
class EndedRound:
    """A round as it ended."""

    round_id: uuid.UUID
    pair_id: uuid.UUID
    tenant_id: uuid.UUID
    status: str
    planned_turns: int
    turns_completed: int
    messages_sent: int
    messages_delivered: int
    started_at: datetime
    completed_at: datetime
    initiator_instance_id: uuid.UUID
    responder_instance_id: uuid.UUID
    end_reason: str | None


async def end_round(
    conn: Connection,
    round_id: uuid.UUID,
    status: str,
    reason: str | None,
    now: datetime,
    next_round_not_before: datetime,
    quarantined_until: datetime | None = None,
) -> EndedRound | None:
    """End a running round: its status and counts, its unfinished turns abandoned, the pair's state."""
    row = await conn.fetchrow(
        "UPDATE rounds SET status = $2, end_reason = $3, completed_at = $4,"
        " messages_sent = (SELECT count(*) FROM sends WHERE round_id = $1"
        "   AND status IN ('sending', 'sent', 'ambiguous')),"
        " messages_delivered = (SELECT count(*) FROM round_arrivals WHERE round_id = $1)"
        " WHERE id = $1 AND status = 'started'"
        " RETURNING id, pair_id, tenant_id, status, planned_turns, turns_completed, messages_sent,"
        " messages_delivered, started_at, completed_at, initiator_instance_id, responder_instance_id,"
        " end_reason",
        round_id,
        status,
        reason,
        now,
    )
    if row is None:
        return None
    await conn.execute(
        "UPDATE round_turns SET status = 'abandoned'"
        " WHERE round_id = $1 AND status IN ('planned', 'requested')",
        round_id,
    )
    await conn.execute(
        "UPDATE warmup_pair_state SET last_round_ended_at = $2, next_round_not_before = $3,"
        " quarantined_until = coalesce($4, quarantined_until),"
        " quarantine_reason = CASE WHEN $4::timestamptz IS NULL THEN quarantine_reason ELSE $5 END,"
        " updated_at = now() WHERE pair_id = $1",
        row["pair_id"],
        now,
        next_round_not_before,
        quarantined_until,
        reason,
    )
    return EndedRound(
        round_id=row["id"],
        pair_id=row["pair_id"],
        tenant_id=row["tenant_id"],
        status=row["status"],
        planned_turns=row["planned_turns"],
        turns_completed=row["turns_completed"],
        messages_sent=row["messages_sent"],
        messages_delivered=row["messages_delivered"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        initiator_instance_id=row["initiator_instance_id"],
        responder_instance_id=row["responder_instance_id"],
        end_reason=row["end_reason"],
    )


async def pair_gap(conn: Connection, pair_id: uuid.UUID) -> tuple[int, int]:
    """The pair's minimum gap and jitter between rounds, in seconds."""
    row = await conn.fetchrow("SELECT min_delay_s, jitter_s FROM warmup_pairs WHERE id = $1", pair_id)
    if row is None:
        return 0, 0
    return row["min_delay_s"], row["jitter_s"]


async def holds_leadership(conn: Connection, leader_pid: int, lock_key: int) -> bool:
    """Whether the session `leader_pid` still holds the leader's advisory lock (a fencing check)."""
    classid, objid = (lock_key >> 32) & 0xFFFFFFFF, lock_key & 0xFFFFFFFF
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND pid = $1 AND classid = $2::bigint::oid AND objid = $3::bigint::oid AND objsubid = 1)",
            leader_pid,
            classid,
            objid,
        )
    )
