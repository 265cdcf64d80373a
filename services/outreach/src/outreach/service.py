"""The outreach worker: one campaign target at a time, under the tenant's quotas (PRODUCT §4).

For each `outreach.requested` it re-checks consent and the blacklist, the campaign's state and
window, picks the sending number (sticky per contact, else rotation over connected numbers,
one outstanding campaign send per number), takes the three quota counters in one Lua script,
and stages the `send.requested` in the same statement that moves the target to `sending`.
Over quota the target (and every waiting target the spent period blocks) is rescheduled to
the period's end: a due time in PostgreSQL that the scanner requests again.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from contracts import (
    ContactOptedIn,
    ContactOptedOut,
    Envelope,
    MessageFailed,
    MessageSent,
    PersonaliseMessageData,
    RequestOutreach,
    RequestPersonalisation,
    SendPurpose,
    SendText,
    SendTextData,
    stable_id,
    utc_now,
)
from contracts.phones import digit_variants, phone_digits
from database import Connection, Pool
from messaging import Outbox, StagedEvent, StagedEventSink
from outreach import repository
from outreach.metrics import OutreachMetrics
from outreach.repository import TargetRecord
from outreach.settings import OutreachPolicy
from outreach.target_rules import (
    NumberOption,
    OutcomeKind,
    Reason,
    Step,
    StepKind,
    TargetFacts,
    TargetState,
    pacing_gap_s,
    plan,
    settle,
)
from quotas import QuotaGate, QuotaScope, QuotaVerdict, local_periods
from warmup_rules.windows import WeeklySchedule, WindowError

CONSUMER = "outreach"
OUTCOMES_CONSUMER = "outreach-outcomes"
CONSENT_CONSUMER = "outreach-consent"
PRODUCER = "outreach"

# Pacing when a campaign names none: a warmed number's gentle pace.
DEFAULT_MIN_GAP_S = 20.0
DEFAULT_MAX_GAP_S = 60.0

_QUOTA_REASONS = {
    QuotaScope.DAILY: Reason.QUOTA_DAILY,
    QuotaScope.HOURLY: Reason.QUOTA_HOURLY,
    QuotaScope.NUMBER: Reason.QUOTA_NUMBER,
}

log = structlog.get_logger("outreach")


def send_id_of(target_id: uuid.UUID) -> uuid.UUID:
    """A campaign target's one send id: the sender sends it at most once."""
    return stable_id("campaign-target", target_id)


def gap_of(pacing: dict[str, object], rng: random.Random) -> float:
    """The pause after a campaign send, from the campaign's pacing."""
    low = pacing.get("min_gap_s", DEFAULT_MIN_GAP_S)
    high = pacing.get("max_gap_s", DEFAULT_MAX_GAP_S)
    return pacing_gap_s(
        float(low) if isinstance(low, int | float) else DEFAULT_MIN_GAP_S,
        float(high) if isinstance(high, int | float) else DEFAULT_MAX_GAP_S,
        rng,
    )


@dataclass(frozen=True)
class _Bound:
    pool: Pool
    relay: StagedEventSink
    gate: QuotaGate


class OutreachWorker:
    """Handles `outreach.requested`, the sender's outcomes of campaign sends, and opt-outs."""

    def __init__(
        self,
        *,
        policy: OutreachPolicy,
        outbox: Outbox,
        metrics: OutreachMetrics,
        rng: random.Random | None = None,
    ) -> None:
        self._policy = policy
        self._outbox = outbox
        self._metrics = metrics
        self._rng = rng or random.SystemRandom()
        self._bound: _Bound | None = None

    def bind(self, *, pool: Pool, relay: StagedEventSink, gate: QuotaGate) -> None:
        """Attach what start-up opened (before the consumers start)."""
        self._bound = _Bound(pool, relay, gate)

    @property
    def _deps(self) -> _Bound:
        if self._bound is None:
            raise RuntimeError("the outreach worker ran before start-up bound its dependencies")
        return self._bound

    # -- outreach.requested ------------------------------------------------------------

    async def on_outreach_requested(self, event: RequestOutreach) -> None:
        """Contact one campaign target now, later, or never; exactly once per event id."""
        data = event.data
        staged: list[StagedEvent] = []
        async with self._deps.pool.acquire() as conn, conn.transaction():
            claimed = await repository.claim_and_open(
                conn,
                consumer=CONSUMER,
                event_id=event.event_id,
                target_id=data.target_id,
                tenant_id=event.tenant_id,
                campaign_id=data.campaign_id,
                due=data.not_before or event.occurred_at,
                instance_id=data.instance_id,
                phone=phone_digits(data.to),
            )
            if not claimed:
                return
            record = await repository.target_facts(conn, data.target_id, event.tenant_id, data.to)
            if record is None:
                log.warning("outreach_target_unknown", target_id=str(data.target_id))
                return
            staged = await self._advance(conn, event, record)
        if staged:
            self._deps.relay.notify(staged)

    async def _advance(
        self, conn: Connection, event: RequestOutreach, record: TargetRecord
    ) -> list[StagedEvent]:
        now = utc_now()
        step = plan(
            self._facts(record), now, no_number_retry=timedelta(seconds=self._policy.no_number_retry_s)
        )
        target_id = event.data.target_id
        if step.kind is StepKind.IGNORE:
            return []
        if step.kind is StepKind.SKIP:
            assert step.state is not None
            await repository.finish(conn, target_id, state=step.state, reason=step.reason)
            self._count(step.state, step.reason)
            return []
        if step.kind is StepKind.WAIT:
            return await self._wait(conn, event, record, step, now)
        assert step.number is not None
        taken: NumberOption | None = None
        spent: list[uuid.UUID] = []
        for number in (step.number, *step.fallbacks):
            free_at = await repository.lock_number(conn, number.instance_id, event.tenant_id, target_id)
            if free_at is not None and free_at > now:
                taken = taken or number  # another target took it since the facts were read
                continue
            verdict = await self._take_quota(record, number, now)
            if verdict.admitted:
                return await self._send(conn, event, record, number)
            assert verdict.blocked_by is not None
            assert verdict.retry_at is not None
            self._metrics.quota_denials.labels(verdict.blocked_by.scope.value).inc()
            if verdict.blocked_by.scope is not QuotaScope.NUMBER:
                # The tenant's day or hour is spent: every waiting target waits for its end.
                await self._reschedule(conn, event, record, verdict, campaign_only=False)
                return []
            spent.append(number.instance_id)
        if taken is not None:
            await repository.wait(
                conn,
                target_id,
                state=TargetState.QUEUED,
                due=now,
                reason=Reason.NUMBER_BUSY,
                instance_id=taken.instance_id,
            )
            return []
        # Every number it could use has spent its day: the campaign's targets on them wait.
        retry_at = local_periods(now, record.time_zone).next_day
        await self._reschedule(
            conn,
            event,
            record,
            QuotaVerdict(admitted=False, retry_at=retry_at),
            campaign_only=True,
            numbers=spent,
        )
        return []

    async def _wait(
        self, conn: Connection, event: RequestOutreach, record: TargetRecord, step: Step, now: datetime
    ) -> list[StagedEvent]:
        assert step.state is not None
        assert step.due is not None
        target_id = event.data.target_id
        instance_id = step.number.instance_id if step.number is not None else None
        await repository.wait(
            conn, target_id, state=step.state, due=step.due, reason=step.reason, instance_id=instance_id
        )
        if step.reason is Reason.OUTSIDE_WINDOW:
            # The whole campaign waits for the window, not one target per scan.
            await repository.reschedule_many(
                conn,
                tenant_id=event.tenant_id,
                due=step.due,
                reason=Reason.OUTSIDE_WINDOW,
                campaign_id=record.campaign_id,
            )
        if step.state is TargetState.RESCHEDULED:
            self._count(step.state, step.reason)
        return []

    async def _reschedule(
        self,
        conn: Connection,
        event: RequestOutreach,
        record: TargetRecord,
        verdict: QuotaVerdict,
        *,
        campaign_only: bool,
        numbers: list[uuid.UUID] | None = None,
    ) -> None:
        assert verdict.retry_at is not None
        scope = verdict.blocked_by.scope if verdict.blocked_by is not None else QuotaScope.NUMBER
        reason = _QUOTA_REASONS[scope]
        await repository.wait(
            conn,
            event.data.target_id,
            state=TargetState.RESCHEDULED,
            due=verdict.retry_at,
            reason=reason,
            instance_id=None,
        )
        moved = await repository.reschedule_many(
            conn,
            tenant_id=event.tenant_id,
            due=verdict.retry_at,
            reason=reason,
            campaign_id=record.campaign_id if campaign_only else None,
            instance_ids=numbers,
        )
        self._count(TargetState.RESCHEDULED, reason)
        log.info(
            "outreach_quota_spent",
            campaign_id=str(record.campaign_id),
            reason=reason.value,
            retry_at=verdict.retry_at.isoformat(),
            waiting_rescheduled=moved,
        )

    async def _take_quota(self, record: TargetRecord, number: NumberOption, now: datetime) -> QuotaVerdict:
        gate = self._deps.gate
        periods = local_periods(now, record.time_zone)
        counters = gate.counters(
            tenant=record.tenant_id,
            number=number.number,
            periods=periods,
            daily=record.daily_quota,
            hourly=record.hourly_quota,
            per_number_daily=number.campaign_daily_cap(record.number_daily_quota, now),
        )
        return await gate.take(counters, periods)

    async def _send(
        self, conn: Connection, event: RequestOutreach, record: TargetRecord, number: NumberOption
    ) -> list[StagedEvent]:
        data = event.data
        send_id = send_id_of(data.target_id)
        send = SendTextData(
            send_id=send_id,
            instance_id=number.instance_id,
            instance_name=number.name,
            to=record.phone,
            text=record.text,
            purpose=SendPurpose.OUTREACH,
            app_origin="bot",
            campaign_id=data.campaign_id,
            target_id=data.target_id,
        )
        command: Envelope
        if record.personalise:
            # The generator rewrites the text in the number's persona and stages this very send
            # (same send id), so the outcome settles the target as any campaign send does.
            command = RequestPersonalisation(
                tenant_id=event.tenant_id,
                correlation_id=event.correlation_id,
                causation_id=event.event_id,
                data=PersonaliseMessageData(send=send, template=record.template, variables=record.variables),
            )
        else:
            command = SendText(
                tenant_id=event.tenant_id,
                correlation_id=event.correlation_id,
                causation_id=event.event_id,
                data=send,
            )
        prepared = self._outbox.prepare([command])
        ids = await repository.start_send(
            conn,
            self._outbox,
            prepared,
            target_id=data.target_id,
            send_id=send_id,
            instance_id=number.instance_id,
            lease_s=self._policy.send_lease_s,
        )
        self._count(TargetState.SENDING, None)
        return prepared.staged(ids)

    def _facts(self, record: TargetRecord) -> TargetFacts:
        schedule = None
        if record.windows:
            try:
                schedule = WeeklySchedule.of(record.windows, record.time_zone)
            except WindowError:
                log.warning("outreach_window_unreadable", campaign_id=str(record.campaign_id))
        return TargetFacts(
            state=record.state,
            campaign_status=record.campaign_status,
            not_before=record.not_before,
            consent=record.consent,
            schedule=schedule,
            assigned=record.assigned,
            numbers=record.numbers,
        )

    def _count(self, state: TargetState, reason: Reason | str | None) -> None:
        self._metrics.targets.labels(state.value, str(reason) if reason is not None else "").inc()

    # -- the sender's outcomes ------------------------------------------------------------

    async def on_message_sent(self, event: MessageSent) -> None:
        """A campaign send reached WhatsApp: its target is `sent`."""
        if event.data.purpose is SendPurpose.OUTREACH:
            await self._settle(event.event_id, event.data.send_id, OutcomeKind.SENT, None, ambiguous=False)

    async def on_message_failed(self, event: MessageFailed) -> None:
        """A campaign send failed for good: `failed`, or `skipped` when consent refused it."""
        if event.data.purpose is SendPurpose.OUTREACH:
            await self._settle(
                event.event_id,
                event.data.send_id,
                OutcomeKind.FAILED,
                event.data.failure_code,
                ambiguous=event.data.ambiguous,
            )

    async def _settle(
        self,
        event_id: uuid.UUID,
        send_id: uuid.UUID,
        outcome: OutcomeKind,
        failure_code: str | None,
        *,
        ambiguous: bool,
    ) -> None:
        async with self._deps.pool.acquire() as conn, conn.transaction():
            record = await repository.claim_outcome(conn, OUTCOMES_CONSUMER, event_id, send_id)
            if record is None:
                return
            settled = settle(
                record.state, record.reason, outcome, failure_code=failure_code, ambiguous=ambiguous
            )
            reason = str(settled.reason) if settled.reason is not None else None
            await repository.settle(
                conn,
                record,
                send_id=send_id,
                state=settled.state,
                reason=reason,
                gap_s=gap_of(record.pacing, self._rng),
            )
        if settled.state is not None:
            self._count(settled.state, settled.reason)

    # -- consent ----------------------------------------------------------------------------

    async def on_consent_changed(self, event: ContactOptedOut | ContactOptedIn) -> None:
        """An opt-out skips the contact's waiting targets in every campaign (`opted_out`)."""
        if not isinstance(event, ContactOptedOut):
            return
        phones: list[str] = []
        for source in (event.data.phone, event.data.jid):
            digits = phone_digits(source) if source else ""
            for variant in digit_variants(digits):
                if variant not in phones:
                    phones.append(variant)
        if not phones:
            return
        async with self._deps.pool.acquire() as conn, conn.transaction():
            skipped = await repository.skip_contact(
                conn, CONSENT_CONSUMER, event.event_id, event.tenant_id, phones
            )
        if skipped:
            self._metrics.targets.labels(TargetState.SKIPPED.value, Reason.OPTED_OUT.value).inc(skipped)
            log.info("outreach_contact_opted_out", skipped=skipped)


__all__ = ["CONSUMER", "PRODUCER", "OutreachWorker", "send_id_of"]
