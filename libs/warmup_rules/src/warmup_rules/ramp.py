"""The ramp per number: what a number may do at its age, and the pair profiles.

A new WhatsApp number that suddenly sends a lot is what gets banned. So a number's age (the
operator declares it; undeclared numbers are taken as established) sets its stage:

| stage          | age (days) | starts rounds? | sends a day (normal profile) |
|----------------|-----------:|----------------|-----------------------------:|
| receive_first  | 0–2        | no: it only answers, its peer writes first |  10 |
| starting       | 3–6        | yes            |  25 |
| growing        | 7–13       | yes            |  50 |
| maturing       | 14–29      | yes            | 100 |
| established    | 30+        | yes            | 200 |

The daily figure is the number's whole budget for the day, shared with outreach through the
`quota:number:{number}:{date}` counter (PRODUCT §4.1), never above the tenant's own per-number
quota. The profile scales it (soft ×0.5, normal ×1, aggressive ×1.5) and sets how many rounds
a pair runs a day by default (4, 8, 14).

Warm-up comes before campaigns on that budget: campaigns stop `warmup_reserve` sends short of
the ramp's figure, what the number's rounds are expected to send in a day.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from warmup_rules.timing import MESSAGES_IN_A_ROW


class Profile(StrEnum):
    """How hard a pair warms its numbers up."""

    SOFT = "soft"
    NORMAL = "normal"
    AGGRESSIVE = "aggressive"


@dataclass(frozen=True)
class ProfileLimits:
    """What a profile allows by default."""

    rounds_per_day: int
    cap_factor: float


PROFILES: dict[Profile, ProfileLimits] = {
    Profile.SOFT: ProfileLimits(rounds_per_day=4, cap_factor=0.5),
    Profile.NORMAL: ProfileLimits(rounds_per_day=8, cap_factor=1.0),
    Profile.AGGRESSIVE: ProfileLimits(rounds_per_day=14, cap_factor=1.5),
}


@dataclass(frozen=True)
class RampStage:
    """One step of the ramp."""

    name: str
    from_day: int
    # First day of the next stage (None: the last stage).
    until_day: int | None
    # False: the number never opens a round (it receives first).
    initiates: bool
    # Sends a day at the normal profile.
    daily_sends: int


RAMP: tuple[RampStage, ...] = (
    RampStage("receive_first", 0, 3, initiates=False, daily_sends=10),
    RampStage("starting", 3, 7, initiates=True, daily_sends=25),
    RampStage("growing", 7, 14, initiates=True, daily_sends=50),
    RampStage("maturing", 14, 30, initiates=True, daily_sends=100),
    RampStage("established", 30, None, initiates=True, daily_sends=200),
)


def stage_for(age_days: int | None) -> RampStage:
    """The stage of a number `age_days` old (None: age not declared, taken as established)."""
    if age_days is None:
        return RAMP[-1]
    for stage in RAMP:
        if stage.until_day is None or age_days < stage.until_day:
            return stage
    return RAMP[-1]  # pragma: no cover - the last stage has no end


def number_daily_cap(age_days: int | None, profile: Profile, tenant_cap: int) -> int:
    """A number's sends a day at its age and the pair's profile, never above the tenant's cap."""
    scaled = round(stage_for(age_days).daily_sends * PROFILES[profile].cap_factor)
    return max(0, min(tenant_cap, scaled))


def age_today(declared_age_days: int | None, declared_at: datetime | None, now: datetime) -> int | None:
    """A number's age now: its declared age plus the whole days since it was declared."""
    if declared_age_days is None:
        return None
    if declared_at is None:
        return declared_age_days
    return declared_age_days + max(0, (now - declared_at).days)


def rounds_per_day(profile: Profile, override: int | None) -> int:
    """The pair's daily round cap: its own setting, else its profile's."""
    return override if override is not None else PROFILES[profile].rounds_per_day


# A side's messages per turn on average (1, 2 or 3 in a row at 70/20/10 %): 1.4.
MEAN_MESSAGES_PER_TURN = sum(count * weight for count, weight in MESSAGES_IN_A_ROW)


def warmup_reserve(*, daily_cap: int, rounds: int, min_turns: int, max_turns: int) -> int:
    """Sends a number keeps back for its warm-up today: what its pair's rounds are expected to
    send from it (each round's turns split between the two sides, `MEAN_MESSAGES_PER_TURN`
    messages a turn), rounded up, never more than its daily cap."""
    turns_per_side = (min_turns + max_turns) / 2 / 2
    expected = rounds * turns_per_side * MEAN_MESSAGES_PER_TURN
    return max(0, min(daily_cap, math.ceil(round(expected, 6))))


def campaign_number_cap(tenant_cap: int, warmups: Sequence[tuple[int, int]]) -> int:
    """A number's campaign sends a day: the tenant's per-number quota, or for a number in
    live warm-up pairs, the lowest of their ramp caps less every pair's reserve
    (`warmups` holds each pair's `(daily_cap, reserve)` for this number)."""
    if not warmups:
        return tenant_cap
    cap = min(daily_cap for daily_cap, _ in warmups)
    return max(0, cap - sum(reserve for _, reserve in warmups))
