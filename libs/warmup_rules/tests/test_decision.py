"""The round decision on a controllable clock: every skip reason, and who opens."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from warmup_rules import (
    Decision,
    InitiatorMode,
    PairRules,
    PairState,
    Participant,
    Profile,
    Side,
    SkipReason,
    WeeklySchedule,
    decide,
)

ZONE = ZoneInfo("America/Sao_Paulo")
MONDAY_9 = datetime(2026, 12, 7, 9, 0, tzinfo=ZONE)

RULES = PairRules(
    schedule=WeeklySchedule.of([{"days": ["mon"], "start": "08:00", "end": "11:00"}], "America/Sao_Paulo"),
    min_gap=timedelta(minutes=30),
    jitter=timedelta(minutes=5),
    min_turns=2,
    max_turns=6,
    profile=Profile.NORMAL,
    max_rounds_per_day=8,
)


def number(name: str, **changes: object) -> Participant:
    base = Participant(name=name, connected=True, age_days=None, sent_today=0, daily_cap=200)
    return replace(base, **changes)  # type: ignore[arg-type]


A, B = number("demo-1"), number("demo-2")


def run(
    state: PairState | None = None, a: Participant = A, b: Participant = B, now: datetime = MONDAY_9
) -> Decision:
    return decide(RULES, state or PairState(), a, b, now, random.Random(1))


def test_a_pair_in_its_window_with_everything_fine_starts() -> None:
    decision = run()
    assert decision.started
    assert decision.initiator is Side.A


@pytest.mark.parametrize(
    ("state", "a", "now", "reason"),
    [
        (PairState(active=False), A, MONDAY_9, SkipReason.PAUSED),
        (PairState(quarantined_until=MONDAY_9 + timedelta(hours=1)), A, MONDAY_9, SkipReason.QUARANTINED),
        (PairState(round_in_progress=True), A, MONDAY_9, SkipReason.ROUND_IN_PROGRESS),
        (PairState(), A, MONDAY_9.replace(hour=12), SkipReason.OUTSIDE_WINDOW),
        (
            PairState(next_round_not_before=MONDAY_9 + timedelta(minutes=1)),
            A,
            MONDAY_9,
            SkipReason.TOO_RECENT,
        ),
        (PairState(), number("demo-1", connected=False), MONDAY_9, SkipReason.PARTICIPANT_NOT_CONNECTED),
        (PairState(rounds_today=8), A, MONDAY_9, SkipReason.DAILY_CAP),
        (PairState(), number("demo-1", sent_today=200), MONDAY_9, SkipReason.DAILY_CAP),
    ],
)
def test_each_skip_reason(state: PairState, a: Participant, now: datetime, reason: SkipReason) -> None:
    decision = run(state, a=a, now=now)
    assert not decision.started
    assert decision.reason is reason
    assert decision.detail


def test_an_expired_quarantine_and_a_passed_gap_no_longer_block() -> None:
    state = PairState(
        quarantined_until=MONDAY_9 - timedelta(seconds=1),
        next_round_not_before=MONDAY_9 - timedelta(seconds=1),
    )
    assert run(state).started


def test_paused_wins_over_every_other_reason() -> None:
    state = PairState(active=False, round_in_progress=True, quarantined_until=MONDAY_9 + timedelta(days=1))
    assert (
        run(state, a=number("demo-1", connected=False), now=MONDAY_9.replace(hour=3)).reason
        is SkipReason.PAUSED
    )


def test_the_disconnected_number_is_named() -> None:
    decision = run(b=number("demo-2", connected=False))
    assert decision.reason is SkipReason.PARTICIPANT_NOT_CONNECTED
    assert "demo-2" in decision.detail
    assert "demo-1" not in decision.detail


def test_initiators_alternate_with_the_last_round() -> None:
    assert run(PairState(last_initiator=Side.A)).initiator is Side.B
    assert run(PairState(last_initiator=Side.B)).initiator is Side.A


def test_a_new_number_receives_first_so_its_peer_opens() -> None:
    new = number("demo-1", age_days=1)
    assert run(PairState(last_initiator=Side.B), a=new).initiator is Side.B
    assert run(PairState(last_initiator=Side.A), a=new).initiator is Side.B


def test_two_new_numbers_skip_until_one_may_open() -> None:
    decision = run(a=number("demo-1", age_days=0), b=number("demo-2", age_days=2))
    assert decision.reason is SkipReason.RAMP_RECEIVE_FIRST
    assert run(a=number("demo-1", age_days=0), b=number("demo-2", age_days=3)).initiator is Side.B


def test_weighted_initiator_follows_its_weight() -> None:
    rules = replace(RULES, initiator_mode=InitiatorMode.WEIGHTED, weight_a=0.8)
    rng = random.Random(7)
    picks = [decide(rules, PairState(), A, B, MONDAY_9, rng).initiator for _ in range(2000)]
    share_a = picks.count(Side.A) / len(picks)
    assert 0.75 < share_a < 0.85
