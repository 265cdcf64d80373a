"""SQL of warm-up pairs: the api writes `warmup_pairs` and `warmup_numbers`; it reads the
scheduler's rounds, turns, arrivals, skips and pair state, the generator's turn texts and the
sender's sends to show what happened."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from database import Connection, Pool


class PairExistsError(Exception):
    """The tenant already has a live pair of these two numbers."""


@dataclass(frozen=True)
class PairNumber:
    """One number of a pair."""

    id: uuid.UUID
    name: str
    state: str
    owner_jid: str | None
    persona_id: uuid.UUID | None
    declared_age_days: int | None
    declared_at: datetime | None


@dataclass(frozen=True)
class Pair:
    """A pair with its numbers and the scheduler's state of it."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    a: PairNumber
    b: PairNumber
    persona_a_id: uuid.UUID | None
    persona_b_id: uuid.UUID | None
    time_zone: str
    windows: list[dict[str, Any]]
    min_delay_s: int
    jitter_s: int
    min_turns: int
    max_turns: int
    profile: str
    max_rounds_per_day: int | None
    initiator_mode: str
    initiator_weight_a: float
    active: bool
    number_daily_quota: int
    quarantined_until: datetime | None
    quarantine_reason: str | None
    last_round_started_at: datetime | None
    next_round_not_before: datetime | None
    created_at: datetime
    updated_at: datetime


def _side(side: str, column: str) -> tuple[str, str]:
    columns = (
        f" {side}.id AS {side}_id, {side}.name AS {side}_name, {side}.state AS {side}_state,"
        f" {side}.owner_jid AS {side}_owner_jid, {side}.persona_id AS {side}_persona_id,"
        f" {side}n.declared_age_days AS {side}_age, {side}n.declared_at AS {side}_declared_at"
    )
    joins = (
        f" JOIN instances {side} ON {side}.id = p.{column}"
        f" LEFT JOIN warmup_numbers {side}n ON {side}n.instance_id = {side}.id"
    )
    return columns, joins


_A_COLUMNS, _A_JOINS = _side("a", "instance_a_id")
_B_COLUMNS, _B_JOINS = _side("b", "instance_b_id")
_SELECT_PAIR = (
    "SELECT p.id, p.tenant_id, p.name, p.persona_a_id, p.persona_b_id, p.time_zone, p.windows,"  # noqa: S608
    " p.min_delay_s, p.jitter_s, p.min_turns, p.max_turns, p.profile, p.max_rounds_per_day,"
    " p.initiator_mode, p.initiator_weight_a, p.active, p.created_at, p.updated_at,"
    " t.number_daily_quota, s.quarantined_until, s.quarantine_reason, s.last_round_started_at,"
    " s.next_round_not_before,"
    + _A_COLUMNS
    + ","
    + _B_COLUMNS
    + " FROM warmup_pairs p JOIN tenants t ON t.id = p.tenant_id"
    " LEFT JOIN warmup_pair_state s ON s.pair_id = p.id"
    + _A_JOINS
    + _B_JOINS
    + " WHERE p.tenant_id = $1 AND p.deleted_at IS NULL"
)

EDITABLE = (
    "name",
    "persona_a_id",
    "persona_b_id",
    "time_zone",
    "windows",
    "min_delay_s",
    "jitter_s",
    "min_turns",
    "max_turns",
    "profile",
    "max_rounds_per_day",
    "initiator_mode",
    "initiator_weight_a",
    "active",
)


def _number(row: Any, side: str) -> PairNumber:
    return PairNumber(
        id=row[f"{side}_id"],
        name=row[f"{side}_name"],
        state=row[f"{side}_state"],
        owner_jid=row[f"{side}_owner_jid"],
        persona_id=row[f"{side}_persona_id"],
        declared_age_days=row[f"{side}_age"],
        declared_at=row[f"{side}_declared_at"],
    )


def _pair(row: Any) -> Pair:
    windows = json.loads(row["windows"]) if isinstance(row["windows"], str) else row["windows"]
    return Pair(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        a=_number(row, "a"),
        b=_number(row, "b"),
        persona_a_id=row["persona_a_id"],
        persona_b_id=row["persona_b_id"],
        time_zone=row["time_zone"],
        windows=list(windows) if isinstance(windows, list) else [],
        min_delay_s=row["min_delay_s"],
        jitter_s=row["jitter_s"],
        min_turns=row["min_turns"],
        max_turns=row["max_turns"],
        profile=row["profile"],
        max_rounds_per_day=row["max_rounds_per_day"],
        initiator_mode=row["initiator_mode"],
        initiator_weight_a=float(row["initiator_weight_a"]),
        active=row["active"],
        number_daily_quota=row["number_daily_quota"],
        quarantined_until=row["quarantined_until"],
        quarantine_reason=row["quarantine_reason"],
        last_round_started_at=row["last_round_started_at"],
        next_round_not_before=row["next_round_not_before"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


@dataclass(frozen=True)
class TenantInstance:
    """An instance of the tenant, found by name or id."""

    id: uuid.UUID
    name: str


async def find_instance(conn: Connection | Pool, tenant_id: uuid.UUID, ref: str) -> TenantInstance | None:
    """The tenant's live instance called `ref` (or whose id is `ref`)."""
    try:
        by_id: uuid.UUID | None = uuid.UUID(ref)
    except ValueError:
        by_id = None
    row = await conn.fetchrow(
        "SELECT id, name FROM instances WHERE tenant_id = $1 AND state <> 'removed'"
        " AND (name = $2 OR id = $3) ORDER BY (name = $2) DESC LIMIT 1",
        tenant_id,
        ref,
        by_id,
    )
    return TenantInstance(row["id"], row["name"]) if row is not None else None


async def persona_exists(conn: Connection | Pool, tenant_id: uuid.UUID, persona_id: uuid.UUID) -> bool:
    """Whether the tenant has this persona."""
    return bool(
        await conn.fetchval(
            "SELECT true FROM personas WHERE tenant_id = $1 AND id = $2", tenant_id, persona_id
        )
    )


async def declare_age(conn: Connection, tenant_id: uuid.UUID, instance_id: uuid.UUID, age_days: int) -> None:
    """Record the age an operator declared for a number (today)."""
    await conn.execute(
        "INSERT INTO warmup_numbers (instance_id, tenant_id, declared_age_days) VALUES ($1, $2, $3)"
        " ON CONFLICT (instance_id) DO UPDATE SET declared_age_days = excluded.declared_age_days,"
        " declared_at = now(), updated_at = now()",
        instance_id,
        tenant_id,
        age_days,
    )


async def insert_pair(conn: Connection, tenant_id: uuid.UUID, values: dict[str, Any]) -> uuid.UUID:
    """Create a pair; `PairExistsError` when its two numbers already form a live pair."""
    columns = ["instance_a_id", "instance_b_id", *(column for column in EDITABLE if column in values)]
    placeholders = ", ".join(
        f"${index + 2}::jsonb" if column == "windows" else f"${index + 2}"
        for index, column in enumerate(columns)
    )
    # The pool's codec encodes jsonb from Python objects.
    arguments = [values[c] for c in columns]
    try:
        pair_id: uuid.UUID = await conn.fetchval(
            f"INSERT INTO warmup_pairs (tenant_id, {', '.join(columns)})"  # noqa: S608 - column names are constants
            f" VALUES ($1, {placeholders}) RETURNING id",
            tenant_id,
            *arguments,
        )
    except asyncpg.UniqueViolationError as error:
        raise PairExistsError from error
    return pair_id


async def get_pair(conn: Connection | Pool, tenant_id: uuid.UUID, pair_id: uuid.UUID) -> Pair | None:
    """One live pair of the tenant."""
    row = await conn.fetchrow(_SELECT_PAIR + " AND p.id = $2", tenant_id, pair_id)
    return _pair(row) if row is not None else None


async def list_pairs(conn: Connection | Pool, tenant_id: uuid.UUID, *, limit: int, offset: int) -> list[Pair]:
    """The tenant's live pairs, oldest first."""
    rows = await conn.fetch(
        _SELECT_PAIR + " ORDER BY p.created_at, p.id LIMIT $2 OFFSET $3", tenant_id, limit, offset
    )
    return [_pair(row) for row in rows]


async def update_pair(
    conn: Connection, tenant_id: uuid.UUID, pair_id: uuid.UUID, changes: dict[str, Any]
) -> bool:
    """Change the given columns of a live pair; False when there is none."""
    columns = [column for column in EDITABLE if column in changes]
    if not columns:
        return bool(
            await conn.fetchval(
                "SELECT true FROM warmup_pairs WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
                tenant_id,
                pair_id,
            )
        )
    assignments = ", ".join(
        f"{column} = ${index + 3}::jsonb" if column == "windows" else f"{column} = ${index + 3}"
        for index, column in enumerate(columns)
    )
    arguments = [changes[c] for c in columns]
    updated = await conn.fetchval(
        f"UPDATE warmup_pairs SET {assignments}, updated_at = now()"  # noqa: S608 - column names are constants
        " WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING true",
        tenant_id,
        pair_id,
        *arguments,
    )
    return bool(updated)


async def delete_pair(conn: Connection | Pool, tenant_id: uuid.UUID, pair_id: uuid.UUID) -> bool:
    """Retire a pair (its rounds stay for the statistics); a running round ends at its next step."""
    deleted = await conn.fetchval(
        "UPDATE warmup_pairs SET deleted_at = now(), active = false, updated_at = now()"
        " WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING true",
        tenant_id,
        pair_id,
    )
    return bool(deleted)


@dataclass(frozen=True)
class RoundRow:
    """One round of a pair."""

    id: uuid.UUID
    status: str
    trigger: str
    topic: str | None
    script_id: str
    initiator: str
    responder: str
    planned_turns: int
    turns_completed: int
    messages_sent: int
    messages_delivered: int
    started_at: datetime
    completed_at: datetime | None
    end_reason: str | None


@dataclass(frozen=True)
class TurnPart:
    """One WhatsApp message of a turn."""

    index: int
    text: str
    status: str | None
    sent_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class TurnView:
    """One turn of a round, with its messages."""

    round_id: uuid.UUID
    index: int
    speaker: str
    listener: str
    messages: int
    reaction: bool
    status: str
    requested_at: datetime | None
    delivered_at: datetime | None
    parts: list[TurnPart]


async def list_rounds(
    conn: Connection | Pool, tenant_id: uuid.UUID, pair_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[RoundRow], list[TurnView]]:
    """The pair's rounds, newest first, and every turn of them."""
    rounds = await conn.fetch(
        "SELECT r.id, r.status, r.trigger, r.topic, r.script_id, ia.name AS initiator, ib.name AS responder,"
        " r.planned_turns, r.turns_completed, r.messages_sent, r.messages_delivered, r.started_at,"
        " r.completed_at, r.end_reason"
        " FROM rounds r JOIN instances ia ON ia.id = r.initiator_instance_id"
        " JOIN instances ib ON ib.id = r.responder_instance_id"
        " WHERE r.tenant_id = $1 AND r.pair_id = $2 ORDER BY r.started_at DESC, r.id LIMIT $3 OFFSET $4",
        tenant_id,
        pair_id,
        limit,
        offset,
    )
    round_ids = [row["id"] for row in rounds]
    turns = await conn.fetch(
        "SELECT rt.round_id, rt.turn_index, rt.turn_id, sp.name AS speaker, ls.name AS listener, rt.messages,"
        " rt.reaction, rt.status, rt.requested_at, rt.delivered_at, rp.parts"
        " FROM round_turns rt JOIN instances sp ON sp.id = rt.speaker_instance_id"
        " JOIN instances ls ON ls.id = rt.listener_instance_id"
        " LEFT JOIN replies rp ON rp.id = rt.turn_id"
        " WHERE rt.round_id = ANY($1::uuid[]) ORDER BY rt.round_id, rt.turn_index",
        round_ids,
    )
    turn_ids = [row["turn_id"] for row in turns]
    sends = await conn.fetch(
        "SELECT reply_id, part_index, status, sent_at FROM sends WHERE reply_id = ANY($1::uuid[])", turn_ids
    )
    arrivals = await conn.fetch(
        "SELECT round_id, turn_index, part_index, arrived_at FROM round_arrivals"
        " WHERE round_id = ANY($1::uuid[])",
        round_ids,
    )
    sent = {(row["reply_id"], row["part_index"]): row for row in sends}
    arrived = {(row["round_id"], row["turn_index"], row["part_index"]): row["arrived_at"] for row in arrivals}
    views = []
    for row in turns:
        parts = list(row["parts"] or [])
        views.append(
            TurnView(
                round_id=row["round_id"],
                index=row["turn_index"],
                speaker=row["speaker"],
                listener=row["listener"],
                messages=row["messages"],
                reaction=row["reaction"],
                status=row["status"],
                requested_at=row["requested_at"],
                delivered_at=row["delivered_at"],
                parts=[
                    TurnPart(
                        index=index,
                        text=text,
                        status=sent[(row["turn_id"], index)]["status"]
                        if (row["turn_id"], index) in sent
                        else None,
                        sent_at=sent[(row["turn_id"], index)]["sent_at"]
                        if (row["turn_id"], index) in sent
                        else None,
                        delivered_at=arrived.get((row["round_id"], row["turn_index"], index)),
                    )
                    for index, text in enumerate(parts)
                ],
            )
        )
    return [RoundRow(**dict(row)) for row in rounds], views


@dataclass(frozen=True)
class SkipRow:
    """A run of scans that skipped the pair for one reason."""

    reason: str
    detail: str
    trigger: str
    occurrences: int
    scanned_at: datetime
    last_scanned_at: datetime


async def list_skips(
    conn: Connection | Pool, tenant_id: uuid.UUID, pair_id: uuid.UUID, *, limit: int
) -> list[SkipRow]:
    """Why the pair was skipped lately, newest first."""
    rows = await conn.fetch(
        "SELECT reason, detail, trigger, occurrences, scanned_at, last_scanned_at FROM round_skips"
        " WHERE tenant_id = $1 AND pair_id = $2 ORDER BY id DESC LIMIT $3",
        tenant_id,
        pair_id,
        limit,
    )
    return [SkipRow(**dict(row)) for row in rows]
