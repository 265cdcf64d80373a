"""What happens to one campaign target, decided without I/O (PRODUCT §4.1).

A target is `queued` (waiting for its number), `rescheduled` (waiting for a period, a window
or a number to come back, with a due time), `sending` (handed to the sender, one per number
at a time), or ends in exactly one of `sent`, `skipped` and `failed`. The worker reads the
facts, asks `plan` what to do, and applies it; the sender's outcome is settled by `settle`.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from warmup_rules import (
    Profile,
    age_today,
    campaign_number_cap,
    number_daily_cap,
    rounds_per_day,
    warmup_reserve,
)
from warmup_rules.windows import WeeklySchedule


class TargetState(StrEnum):
    """`campaign_target_progress.state`."""

    QUEUED = "queued"
    RESCHEDULED = "rescheduled"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"


TERMINAL_STATES = frozenset({TargetState.SENT, TargetState.SKIPPED, TargetState.FAILED})
WAITING_STATES = frozenset({TargetState.QUEUED, TargetState.RESCHEDULED})


class CampaignStatus(StrEnum):
    """`campaigns.status`, as the api sets it."""

    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class Reason(StrEnum):
    """Why a target waits, was skipped or failed (`campaign_target_progress.reason`)."""

    OPTED_OUT = "opted_out"
    BLACKLISTED = "blacklisted"
    SUPPRESSED = "suppressed"
    CAMPAIGN_CANCELLED = "campaign_cancelled"
    OUTSIDE_WINDOW = "outside_window"
    NO_CONNECTED_NUMBER = "no_connected_number"
    NUMBER_BUSY = "number_busy"
    QUOTA_DAILY = "quota_daily"
    QUOTA_HOURLY = "quota_hourly"
    QUOTA_NUMBER = "quota_number"
    SEND_FAILED = "send_failed"
    AMBIGUOUS = "ambiguous"


# Refusals of the sender's last gate that mean "this person must not be contacted".
CONSENT_REFUSALS = {
    "opted_out": Reason.OPTED_OUT,
    "blacklisted": Reason.BLACKLISTED,
    "suppressed": Reason.SUPPRESSED,
}


@dataclass(frozen=True)
class WarmupPairLoad:
    """One live (not paused, not deleted) warm-up pair a sending number is in."""

    profile: str
    # The pair's own rounds a day (None: its profile's default).
    rounds_per_day: int | None
    min_turns: int
    max_turns: int


@dataclass(frozen=True)
class NumberWarmup:
    """A sending number's warm-up: its declared age and the pairs it warms up in."""

    declared_age_days: int | None
    declared_at: datetime | None
    pairs: tuple[WarmupPairLoad, ...]

    def campaign_cap(self, tenant_cap: int, now: datetime) -> int:
        """Campaign sends a day on this number: its ramp, less what its warm-up keeps back
        (warm-up comes before campaigns on the shared `quota:number` counter)."""
        age = age_today(self.declared_age_days, self.declared_at, now)
        loads = []
        for pair in self.pairs:
            profile = Profile(pair.profile)
            cap = number_daily_cap(age, profile, tenant_cap)
            reserve = warmup_reserve(
                daily_cap=cap,
                rounds=rounds_per_day(profile, pair.rounds_per_day),
                min_turns=pair.min_turns,
                max_turns=pair.max_turns,
            )
            loads.append((cap, reserve))
        return campaign_number_cap(tenant_cap, loads)


@dataclass(frozen=True)
class NumberOption:
    """One of the campaign's sending numbers, as the worker found it."""

    instance_id: uuid.UUID
    name: str
    # The number's digits (its own JID), or the instance id when it has none yet: the
    # `quota:number:{number}:{date}` counter it sends from.
    number: str
    connected: bool
    # When the number may take its next campaign send (pacing, or one outstanding send).
    free_at: datetime | None
    # None: the number warms up in no live pair, campaigns have the tenant's per-number quota.
    warmup: NumberWarmup | None = None

    def campaign_daily_cap(self, tenant_cap: int, now: datetime) -> int:
        """How many sends of the number's day campaigns may take (see `NumberWarmup`)."""
        return tenant_cap if self.warmup is None else self.warmup.campaign_cap(tenant_cap, now)


@dataclass(frozen=True)
class TargetFacts:
    """Everything `plan` needs about one target, read in one query."""

    state: TargetState | None  # None: the target has no progress row yet
    campaign_status: CampaignStatus
    not_before: datetime | None  # the earliest moment it may be sent
    consent: Reason | None  # opted out, blacklisted or suppressed
    schedule: WeeklySchedule | None  # the campaign's windows (None: any time)
    assigned: uuid.UUID | None  # the number the contact is sticky to
    numbers: tuple[NumberOption, ...]  # the campaign's numbers


class StepKind(StrEnum):
    """What the worker does with a target."""

    IGNORE = "ignore"  # already moving or finished: a duplicate or a late request
    WAIT = "wait"  # stays or becomes queued/rescheduled until `due`
    SKIP = "skip"  # terminal: never contacted
    SEND = "send"  # take the quotas on `number`, then send


@dataclass(frozen=True)
class Step:
    """`plan`'s answer."""

    kind: StepKind
    state: TargetState | None = None
    due: datetime | None = None
    reason: Reason | None = None
    number: NumberOption | None = None
    # For SEND: the other connected numbers to try, in order, when `number`'s own quota is spent.
    fallbacks: tuple[NumberOption, ...] = ()


def _connected(numbers: Sequence[NumberOption]) -> list[NumberOption]:
    return [number for number in numbers if number.connected]


def plan(facts: TargetFacts, now: datetime, *, no_number_retry: timedelta) -> Step:
    """What to do with a target whose request arrived at `now`."""
    if facts.state is not None and facts.state not in WAITING_STATES:
        return Step(StepKind.IGNORE)
    if facts.campaign_status is CampaignStatus.CANCELLED:
        return Step(StepKind.SKIP, state=TargetState.SKIPPED, reason=Reason.CAMPAIGN_CANCELLED)
    if facts.consent is not None:
        return Step(StepKind.SKIP, state=TargetState.SKIPPED, reason=facts.consent)
    waiting_state = facts.state or TargetState.QUEUED
    if facts.campaign_status is not CampaignStatus.RUNNING:
        # Paused: it waits, due as soon as the campaign resumes.
        return Step(StepKind.WAIT, state=waiting_state, due=facts.not_before or now)
    if facts.not_before is not None and facts.not_before > now:
        return Step(StepKind.WAIT, state=waiting_state, due=facts.not_before)
    if facts.schedule is not None and facts.schedule.windows and not facts.schedule.in_window(now):
        opening = facts.schedule.next_opening(now)
        if opening is not None:
            return Step(
                StepKind.WAIT, state=TargetState.RESCHEDULED, due=opening, reason=Reason.OUTSIDE_WINDOW
            )
    connected = _connected(facts.numbers)
    if not connected:
        return Step(
            StepKind.WAIT,
            state=TargetState.RESCHEDULED,
            due=now + no_number_retry,
            reason=Reason.NO_CONNECTED_NUMBER,
        )
    sticky = next((n for n in connected if n.instance_id == facts.assigned), None)
    if sticky is not None:
        # A contact keeps its number while that number is connected, even when it is busy.
        if sticky.free_at is not None and sticky.free_at > now:
            return Step(
                StepKind.WAIT, state=TargetState.QUEUED, due=now, reason=Reason.NUMBER_BUSY, number=sticky
            )
        return Step(StepKind.SEND, number=sticky)
    # Rotation: the connected number free soonest (then by name, for a stable order).
    ordered = sorted(connected, key=lambda n: (n.free_at or datetime.min.replace(tzinfo=now.tzinfo), n.name))
    first = ordered[0]
    if first.free_at is not None and first.free_at > now:
        return Step(StepKind.WAIT, state=TargetState.QUEUED, due=now, reason=Reason.NUMBER_BUSY, number=first)
    free = [n for n in ordered if n.free_at is None or n.free_at <= now]
    return Step(StepKind.SEND, number=first, fallbacks=tuple(free[1:]))


class OutcomeKind(StrEnum):
    """What the sender said about a campaign send."""

    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class Settlement:
    """The target's state after the sender's outcome (None: leave it as it is)."""

    state: TargetState | None
    reason: Reason | str | None = None


def settle(
    state: TargetState, reason: str | None, outcome: OutcomeKind, *, failure_code: str | None, ambiguous: bool
) -> Settlement:
    """Apply the sender's outcome to a target in `state`.

    `sending` ends in `sent`, `failed`, or `skipped` when the sender's last gate refused it for
    consent. A send first reported ambiguous and later confirmed by its echo becomes `sent`.
    Anything else is a duplicate outcome and changes nothing.
    """
    if state is TargetState.SENDING:
        if outcome is OutcomeKind.SENT:
            return Settlement(TargetState.SENT)
        consent = CONSENT_REFUSALS.get(failure_code or "")
        if consent is not None:
            return Settlement(TargetState.SKIPPED, consent)
        if ambiguous:
            return Settlement(TargetState.FAILED, Reason.AMBIGUOUS)
        return Settlement(TargetState.FAILED, failure_code or Reason.SEND_FAILED)
    if state is TargetState.FAILED and reason == Reason.AMBIGUOUS and outcome is OutcomeKind.SENT:
        return Settlement(TargetState.SENT)
    return Settlement(None)


def pacing_gap_s(min_gap_s: float, max_gap_s: float, rng: random.Random) -> float:
    """The pause before a number's next campaign send: uniform between the bounds, then a
    ±15 % jitter, so even equal bounds never give a fixed interval."""
    low, high = min(min_gap_s, max_gap_s), max(min_gap_s, max_gap_s)
    return max(0.0, rng.uniform(low, high) * rng.uniform(0.85, 1.15))
