"""The one function that changes an instance's state in PostgreSQL.

Both writers of instance state (ingest, from webhooks; api, from operator
actions) call `apply_trigger` inside their own transaction. It plans the path
(`machine.plan`), applies it with a conditional update from the state it read
(a concurrent change makes it re-read and re-plan), records every step — and
every refusal — in `instance_transitions`, and stages one
`instance.status_changed` per state change in the caller's outbox, in the same
transaction. A refused trigger is logged and leaves the instance untouched.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from contracts import InstanceState, InstanceStatusChanged, InstanceStatusChangedData
from database import Connection, Pool
from instance_lifecycle.machine import (
    REASONS,
    RESUMES_SENDING,
    STOPS_SENDING,
    Plan,
    Trigger,
    plan,
)
from messaging import Outbox, StagedEvent

log = structlog.get_logger(__name__)

QR_LIFETIME = timedelta(minutes=2)
_MAX_RACES = 5
REPORT_REORDER_WINDOW = timedelta(minutes=30)
"""How late an Evolution lifecycle report may arrive and still be recognised as out of date.

Evolution retries an undelivered webhook for up to ~25 minutes (10 attempts, backoff capped at
300 s, plus each attempt's timeout). A report older than the newest applied one by more than this
is not a late retry but Evolution's clock moving back (its `date_time` is local time: a DST
fall-back, a clock fix); it is applied and becomes the new reference.
"""


@dataclass(frozen=True)
class QrCode:
    """A QR to show the operator (Evolution's `code`, its PNG data URL, a pairing code)."""

    code: str | None
    base64: str | None
    pairing_code: str | None = None


@dataclass(frozen=True)
class Pairing:
    """Who the number turned out to be once paired."""

    owner_jid: str | None
    profile_name: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What `apply_trigger` did."""

    instance_id: uuid.UUID
    plan: Plan
    sending_stopped: bool
    staged: list[StagedEvent]
    qr_expires_at: datetime | None = None

    @property
    def applied(self) -> bool:
        """True when the trigger was legal (whether or not the state changed)."""
        return not self.plan.refused

    @property
    def state(self) -> InstanceState:
        """The instance's state after the trigger."""
        return self.plan.target


class UnknownInstanceError(LookupError):
    """No instance with that id exists."""


async def claim_report(
    conn: Connection,
    instance_id: uuid.UUID,
    reported_at: datetime | None,
    reorder_window: timedelta = REPORT_REORDER_WINDOW,
    *,
    server_url: str | None = None,
) -> bool:
    """Take an Evolution lifecycle report made at `reported_at` (its envelope `date_time`) on
    the server at `server_url` as the newest.

    False when a newer report of the instance from the same server was already applied
    (within `reorder_window`): this one is out of date and must not be applied. A report from
    another server is on another clock: it is taken and starts a new reference. A report
    without a time is always taken and leaves the reference as it is. A taken report stamps
    `evolution_report_applied_at` (PostgreSQL's clock), which a status refresh asked before it
    defers to (`report_applied_since`). Call inside the transaction that then applies the
    report: the row stays locked until it commits, so two reports of one instance are claimed
    one after the other.
    """
    claimed = await conn.fetchval(
        """
        UPDATE instances
        SET evolution_reported_at = coalesce($2, evolution_reported_at),
            evolution_reported_by = CASE WHEN $2::timestamptz IS NULL THEN evolution_reported_by ELSE $4 END,
            evolution_report_applied_at = clock_timestamp()
        WHERE id = $1
          AND ($2::timestamptz IS NULL
               OR evolution_reported_at IS NULL
               OR evolution_reported_by IS DISTINCT FROM $4
               OR $2 >= evolution_reported_at
               OR $2 <= evolution_reported_at - $3::interval)
        RETURNING true
        """,
        instance_id,
        reported_at,
        reorder_window,
        server_url,
    )
    return bool(claimed)


async def database_now(executor: Connection | Pool) -> datetime:
    """PostgreSQL's clock now: the reference a status refresh compares webhook reports with."""
    now: datetime = await executor.fetchval("SELECT clock_timestamp()")
    return now


async def report_applied_since(conn: Connection, instance_id: uuid.UUID, moment: datetime) -> bool:
    """True when an Evolution webhook report of the instance was applied after `moment`
    (`database_now`): what Evolution answered a question asked at `moment` is older news.

    Locks the instance's row until the transaction ends, so no report is claimed between this
    answer and what the caller then applies (`claim_report` takes the same lock)."""
    applied: bool | None = await conn.fetchval(
        "SELECT evolution_report_applied_at > $2 FROM instances WHERE id = $1 FOR UPDATE",
        instance_id,
        moment,
    )
    return bool(applied)


async def apply_trigger(
    conn: Connection,
    *,
    instance_id: uuid.UUID,
    trigger: Trigger,
    outbox: Outbox,
    correlation_id: uuid.UUID | None = None,
    status_code: int | None = None,
    qr: QrCode | None = None,
    pairing: Pairing | None = None,
) -> Outcome:
    """Apply `trigger` to the instance; call inside the caller's transaction.

    The caller hands `Outcome.staged` to its outbox relay after committing.
    """
    for _ in range(_MAX_RACES):
        row = await conn.fetchrow(
            "SELECT tenant_id, name, state, sending_stopped FROM instances WHERE id = $1",
            instance_id,
        )
        if row is None:
            raise UnknownInstanceError(str(instance_id))
        current = InstanceState(row["state"])
        decided = plan(current, trigger)
        if decided.refused:
            await _record(conn, instance_id, row["tenant_id"], current, current, trigger, applied=False)
            log.warning(
                "illegal instance transition refused",
                instance_id=str(instance_id),
                state=current.value,
                trigger=trigger.value,
            )
            return Outcome(instance_id, decided, row["sending_stopped"], [])
        sending_stopped = _sending_stopped(row["sending_stopped"], trigger)
        if not decided.path and qr is None and pairing is None and sending_stopped == row["sending_stopped"]:
            # Acknowledged, nothing to change: no write at all (status polling stays read-only).
            return Outcome(instance_id, decided, sending_stopped, [])
        qr_expires_at = None
        target = decided.target
        updated = await conn.fetchrow(
            """
            UPDATE instances SET
                state = $3,
                state_reason = COALESCE($4, state_reason),
                state_changed_at = CASE WHEN state = $3 THEN state_changed_at ELSE now() END,
                sending_stopped = $5,
                qr_code = CASE WHEN $6 THEN $7 WHEN $3 = 'connected' THEN NULL ELSE qr_code END,
                qr_base64 = CASE WHEN $6 THEN $8 WHEN $3 = 'connected' THEN NULL ELSE qr_base64 END,
                pairing_code = CASE WHEN $6 THEN $9 WHEN $3 = 'connected' THEN NULL
                                    ELSE pairing_code END,
                -- The same QR reported again (the API fetched it, then its webhook came) keeps
                -- its clock; a new code, or a new QR after the instance left `open`, restarts it.
                qr_expires_at = CASE WHEN $6 AND (qr_code IS DISTINCT FROM $7 OR state <> 'open')
                                         THEN now() + $10::interval
                                     WHEN $3 = 'connected' THEN NULL ELSE qr_expires_at END,
                owner_jid = COALESCE($11, owner_jid),
                profile_name = COALESCE($12, profile_name),
                updated_at = now()
            WHERE id = $1 AND state = $2
            RETURNING qr_expires_at
            """,
            instance_id,
            current.value,
            target.value,
            REASONS[trigger] if decided.path else None,
            sending_stopped,
            qr is not None and target is InstanceState.OPEN,
            qr.code if qr else None,
            qr.base64 if qr else None,
            qr.pairing_code if qr else None,
            QR_LIFETIME,
            pairing.owner_jid if pairing else None,
            pairing.profile_name if pairing else None,
        )
        if updated is None:
            continue  # somebody changed the state since we read it: plan again
        qr_expires_at = updated["qr_expires_at"]
        staged: list[StagedEvent] = []
        previous = current
        events = []
        for step in decided.path or ():
            await _record(conn, instance_id, row["tenant_id"], previous, step, trigger, applied=True)
            if step is not previous:
                events.append(
                    InstanceStatusChanged(
                        tenant_id=row["tenant_id"],
                        correlation_id=correlation_id or uuid.uuid4(),
                        data=InstanceStatusChangedData(
                            instance_id=instance_id,
                            instance_name=row["name"],
                            previous=previous,
                            current=step,
                            reason=REASONS[trigger],
                            status_code=status_code,
                            sending_stopped=sending_stopped,
                        ),
                    )
                )
            previous = step
        staged = await outbox.stage(conn, events)
        return Outcome(instance_id, decided, sending_stopped, staged, qr_expires_at)
    raise RuntimeError(f"instance {instance_id} kept changing state; gave up after {_MAX_RACES} tries")


def _sending_stopped(current: bool, trigger: Trigger) -> bool:
    if trigger in STOPS_SENDING:
        return True
    if trigger in RESUMES_SENDING:
        return False
    return current


async def _record(
    conn: Connection,
    instance_id: uuid.UUID,
    tenant_id: uuid.UUID,
    previous: InstanceState,
    current: InstanceState,
    trigger: Trigger,
    *,
    applied: bool,
) -> None:
    await conn.execute(
        "INSERT INTO instance_transitions"
        " (instance_id, tenant_id, previous, current, trigger, reason, applied)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        instance_id,
        tenant_id,
        previous.value,
        current.value,
        trigger.value,
        REASONS[trigger],
        applied,
    )
