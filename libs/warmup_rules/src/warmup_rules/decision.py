"""The scheduler's decision for one pair at one moment: start a round, or skip it and say why.

Pure: the caller loads the pair's rules and state (the scheduler from PostgreSQL and Redis,
the preview from its simulation) and passes the clock. The checks run in the order an
operator reads them (seed §3.1): paused → quarantined → a round already running → window
→ too recent → both numbers connected → daily caps → the ramp.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from warmup_rules.plan import InitiatorMode, Side, choose_initiator
from warmup_rules.ramp import Profile, stage_for
from warmup_rules.windows import WeeklySchedule


class SkipReason(StrEnum):
    """Why a pair got no round at a scan (recorded in `round_skips`)."""

    PAUSED = "paused"
    QUARANTINED = "quarantined"
    ROUND_IN_PROGRESS = "round_in_progress"
    OUTSIDE_WINDOW = "outside_window"
    SLEEPING_HOURS = "sleeping_hours"
    TOO_RECENT = "too_recent"
    PARTICIPANT_NOT_CONNECTED = "participant_not_connected"
    DAILY_CAP = "daily_cap"
    RAMP_RECEIVE_FIRST = "ramp_receive_first"


@dataclass(frozen=True)
class PairRules:
    """What the operator configured for a pair."""

    schedule: WeeklySchedule
    min_gap: timedelta
    jitter: timedelta
    min_turns: int
    max_turns: int
    profile: Profile
    max_rounds_per_day: int
    initiator_mode: InitiatorMode = InitiatorMode.ALTERNATE
    weight_a: float = 0.5


@dataclass(frozen=True)
class Participant:
    """One number of the pair as the decision sees it."""

    name: str
    connected: bool
    # Declared age today (None: not declared, taken as established).
    age_days: int | None
    # Sends already taken from the number's daily counter, and its cap for the day.
    sent_today: int
    daily_cap: int

    @property
    def may_initiate(self) -> bool:
        """False while the number is still receiving first."""
        return stage_for(self.age_days).initiates

    @property
    def has_room(self) -> bool:
        """The number can still send today."""
        return self.sent_today < self.daily_cap


@dataclass(frozen=True)
class PairState:
    """What happened to the pair so far."""

    active: bool = True
    quarantined_until: datetime | None = None
    round_in_progress: bool = False
    # The end of the last round plus the minimum gap and its jitter (None: no round yet).
    next_round_not_before: datetime | None = None
    rounds_today: int = 0
    last_initiator: Side | None = None


@dataclass(frozen=True)
class Decision:
    """Start (with the side that opens) or skip (with the reason)."""

    reason: SkipReason | None
    detail: str = ""
    initiator: Side | None = None

    @property
    def started(self) -> bool:
        """True when a round is to start."""
        return self.reason is None


def _skip(reason: SkipReason, detail: str) -> Decision:
    return Decision(reason=reason, detail=detail)


def decide(
    rules: PairRules,
    state: PairState,
    a: Participant,
    b: Participant,
    now: datetime,
    rng: random.Random,
) -> Decision:
    """Whether the pair starts a round at `now`, and who opens it."""
    if not state.active:
        return _skip(SkipReason.PAUSED, "the pair is paused")
    if state.quarantined_until is not None and now < state.quarantined_until:
        return _skip(
            SkipReason.QUARANTINED,
            f"quarantined until {state.quarantined_until.isoformat()} after messages stopped arriving",
        )
    if state.round_in_progress:
        return _skip(SkipReason.ROUND_IN_PROGRESS, "a round of this pair is still running")
    window = rules.schedule.round_may_start(now)
    if window is not None:
        local = rules.schedule.local(now).strftime("%a %H:%M")
        return _skip(SkipReason(window), f"{local} in {rules.schedule.zone.key} is not inside a window")
    if state.next_round_not_before is not None and now < state.next_round_not_before:
        return _skip(
            SkipReason.TOO_RECENT, f"the next round may start at {state.next_round_not_before.isoformat()}"
        )
    offline = [p.name for p in (a, b) if not p.connected]
    if offline:
        return _skip(SkipReason.PARTICIPANT_NOT_CONNECTED, f"not connected: {', '.join(offline)}")
    if state.rounds_today >= rules.max_rounds_per_day:
        return _skip(
            SkipReason.DAILY_CAP, f"{state.rounds_today} of {rules.max_rounds_per_day} rounds done today"
        )
    full = [p for p in (a, b) if not p.has_room]
    if full:
        return _skip(
            SkipReason.DAILY_CAP,
            "; ".join(f"{p.name} sent {p.sent_today} of its {p.daily_cap} today" for p in full),
        )
    allowed = frozenset(side for side, p in ((Side.A, a), (Side.B, b)) if p.may_initiate)
    initiator = choose_initiator(rules.initiator_mode, rules.weight_a, state.last_initiator, allowed, rng)
    if initiator is None:
        return _skip(SkipReason.RAMP_RECEIVE_FIRST, "both numbers are new and still receive first")
    return Decision(reason=None, detail="", initiator=initiator)
