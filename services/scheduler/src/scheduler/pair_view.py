"""A pair's stored facts seen through the warm-up rules (`warmup_rules`)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from scheduler.repository import NumberFacts, PairFacts
from warmup_rules import (
    InitiatorMode,
    PairRules,
    PairState,
    Participant,
    Profile,
    Side,
    WeeklySchedule,
    age_today,
    number_daily_cap,
    rounds_per_day,
)


def rules_of(facts: PairFacts) -> PairRules:
    """The pair's configuration as the decision takes it."""
    profile = Profile(facts.profile)
    return PairRules(
        schedule=WeeklySchedule.of(facts.windows, facts.time_zone),
        min_gap=timedelta(seconds=facts.min_delay_s),
        jitter=timedelta(seconds=facts.jitter_s),
        min_turns=facts.min_turns,
        max_turns=facts.max_turns,
        profile=profile,
        max_rounds_per_day=rounds_per_day(profile, facts.max_rounds_per_day),
        initiator_mode=InitiatorMode(facts.initiator_mode),
        weight_a=facts.initiator_weight_a,
    )


def side_of(facts: PairFacts, instance_id: uuid.UUID | None) -> Side | None:
    """Which side of the pair an instance is (None: neither)."""
    if instance_id == facts.a.instance_id:
        return Side.A
    if instance_id == facts.b.instance_id:
        return Side.B
    return None


def number_on(facts: PairFacts, side: Side) -> NumberFacts:
    """The number on `side`."""
    return facts.a if side is Side.A else facts.b


def state_of(facts: PairFacts) -> PairState:
    """What happened to the pair so far."""
    return PairState(
        active=facts.active,
        quarantined_until=facts.quarantined_until,
        round_in_progress=facts.round_in_progress,
        next_round_not_before=facts.next_round_not_before,
        rounds_today=facts.rounds_today,
        last_initiator=side_of(facts, facts.last_initiator_instance_id),
    )


def daily_cap(facts: PairFacts, number: NumberFacts, now: datetime) -> int:
    """The number's sends a day at its age, under the pair's profile and the tenant's quota."""
    age = age_today(number.declared_age_days, number.declared_at, now)
    return number_daily_cap(age, Profile(facts.profile), facts.number_daily_quota)


def participant(facts: PairFacts, number: NumberFacts, sent_today: int, now: datetime) -> Participant:
    """A number as the decision sees it."""
    return Participant(
        name=number.name,
        connected=number.connected,
        age_days=age_today(number.declared_age_days, number.declared_at, now),
        sent_today=sent_today,
        daily_cap=daily_cap(facts, number, now),
    )
