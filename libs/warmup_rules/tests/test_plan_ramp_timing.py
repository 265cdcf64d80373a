"""Round plans, the ramp and the timing distributions."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from warmup_rules import (
    CronError,
    CronSchedule,
    Profile,
    Side,
    TurnTiming,
    TypingModel,
    age_today,
    campaign_number_cap,
    messages_in_a_row,
    number_daily_cap,
    plan_round,
    round_gap_s,
    rounds_per_day,
    stage_for,
    warmup_reserve,
)


def test_a_round_has_two_to_six_turns_alternating_from_the_initiator() -> None:
    rng = random.Random(3)
    lengths: Counter[int] = Counter()
    for _ in range(500):
        plan = plan_round(Side.B, 2, 6, TurnTiming(), rng)
        lengths[len(plan.turns)] += 1
        assert [turn.speaker for turn in plan.turns[:2]] == [Side.B, Side.A]
        assert all(t.speaker != n.speaker for t, n in zip(plan.turns, plan.turns[1:], strict=False))
        assert not plan.turns[0].reaction
        assert all(1 <= turn.messages <= 3 for turn in plan.turns)
        assert all(turn.messages == 1 for turn in plan.turns if turn.reaction)
    assert set(lengths) == {2, 3, 4, 5, 6}


def test_plan_refuses_rounds_shorter_than_two_turns() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        plan_round(Side.A, 1, 3, TurnTiming(), random.Random(1))


def test_messages_in_a_row_follow_70_20_10() -> None:
    rng = random.Random(11)
    counts = Counter(messages_in_a_row(rng) for _ in range(20_000))
    assert abs(counts[1] / 20_000 - 0.7) < 0.02
    assert abs(counts[2] / 20_000 - 0.2) < 0.02
    assert abs(counts[3] / 20_000 - 0.1) < 0.02


def test_reactions_happen_now_and_then() -> None:
    rng = random.Random(5)
    turns = [turn for _ in range(2000) for turn in plan_round(Side.A, 6, 6, TurnTiming(), rng).turns[1:]]
    share = sum(turn.reaction for turn in turns) / len(turns)
    assert 0.05 < share < 0.11


def test_typing_follows_35_to_55_words_a_minute() -> None:
    model = TypingModel(pause_probability=0, min_ms=0, max_ms=10**6)
    rng = random.Random(2)
    text = "x" * 250  # 50 words of 5 characters
    samples = [model.typing_ms(text, rng) for _ in range(1000)]
    # 50 words at 55 WPM is 54.5 s; at 35 WPM 85.7 s.
    assert min(samples) >= 54_000
    assert max(samples) <= 86_000
    assert len(set(samples)) > 100  # drawn, not fixed


def test_typing_pauses_add_time_and_the_bounds_hold() -> None:
    rng = random.Random(4)
    with_pauses = TypingModel(pause_probability=1, pause_s=(2, 2), min_ms=0, max_ms=10**6)
    without = TypingModel(pause_probability=0, min_ms=0, max_ms=10**6)
    assert (
        with_pauses.typing_ms("x" * 50, random.Random(1)) - without.typing_ms("x" * 50, random.Random(1))
        >= 1900
    )
    bounded = TypingModel(max_ms=3000)
    assert all(bounded.typing_ms("x" * 5000, rng) == 3000 for _ in range(10))
    assert TypingModel().typing_ms("oi", rng) >= 800
    assert TypingModel(scale=0).typing_ms("a long message indeed", rng) == 0
    assert TypingModel(scale=0.01).typing_ms("x" * 50, rng) < 200


def test_turn_gaps_are_5_to_30_seconds_with_occasional_long_pauses() -> None:
    timing = TurnTiming()
    rng = random.Random(9)
    gaps = [timing.think_gap(rng) for _ in range(5000)]
    short = [gap for gap in gaps if gap <= 30]
    long = [gap for gap in gaps if gap > 30]
    assert all(gap >= 5 for gap in short)
    assert 0.07 < len(long) / len(gaps) < 0.13
    assert all(60 <= gap <= 240 for gap in long)
    scaled = TurnTiming(scale=0.01)
    assert all(scaled.answer_wait(rng) < 3.5 for _ in range(100))


def test_timing_refuses_ranges_upside_down() -> None:
    with pytest.raises(ValueError, match="low <= high"):
        TurnTiming(turn_gap_s=(30, 5))


def test_round_gap_is_the_minimum_plus_jitter() -> None:
    rng = random.Random(1)
    gaps = [round_gap_s(600, 120, rng) for _ in range(1000)]
    assert min(gaps) >= 600
    assert max(gaps) <= 720
    assert len(set(gaps)) > 900


@pytest.mark.parametrize(
    ("age", "stage", "initiates", "cap"),
    [
        (0, "receive_first", False, 10),
        (2, "receive_first", False, 10),
        (3, "starting", True, 25),
        (7, "growing", True, 50),
        (14, "maturing", True, 100),
        (30, "established", True, 200),
        (400, "established", True, 200),
        (None, "established", True, 200),
    ],
)
def test_ramp_stages(age: int | None, stage: str, initiates: bool, cap: int) -> None:
    assert stage_for(age).name == stage
    assert stage_for(age).initiates is initiates
    assert number_daily_cap(age, Profile.NORMAL, 10_000) == cap


def test_profiles_scale_caps_and_rounds_and_the_tenant_cap_wins() -> None:
    assert number_daily_cap(10, Profile.SOFT, 1000) == 25
    assert number_daily_cap(10, Profile.AGGRESSIVE, 1000) == 75
    assert number_daily_cap(None, Profile.AGGRESSIVE, 120) == 120
    assert rounds_per_day(Profile.SOFT, None) == 4
    assert rounds_per_day(Profile.AGGRESSIVE, 3) == 3


def test_the_warm_up_reserve_is_what_its_rounds_are_expected_to_send() -> None:
    # 8 rounds of 2–6 turns: 2 turns a side, 1.4 messages a turn -> 22.4 -> 23.
    assert warmup_reserve(daily_cap=200, rounds=8, min_turns=2, max_turns=6) == 23
    assert warmup_reserve(daily_cap=200, rounds=4, min_turns=2, max_turns=2) == 6  # 5.6 -> 6
    assert warmup_reserve(daily_cap=10, rounds=14, min_turns=6, max_turns=6) == 10, "never above the cap"
    assert warmup_reserve(daily_cap=200, rounds=0, min_turns=2, max_turns=6) == 0


def test_campaigns_stop_short_of_the_ramp_by_every_pairs_reserve() -> None:
    assert campaign_number_cap(300, []) == 300, "a number in no pair keeps the tenant's quota"
    assert campaign_number_cap(300, [(25, 6)]) == 19
    assert campaign_number_cap(300, [(200, 23), (100, 23)]) == 54, "the lowest cap, both reserves"
    assert campaign_number_cap(300, [(10, 10)]) == 0, "a number in its first days sends no campaign"


def test_a_declared_age_grows_with_the_days() -> None:
    declared = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert age_today(2, declared, declared + timedelta(days=3, hours=1)) == 5
    assert age_today(2, declared, declared + timedelta(hours=23)) == 2
    assert age_today(None, declared, declared) is None


def test_cron_fires_every_five_minutes_and_refuses_nonsense() -> None:
    cron = CronSchedule("*/5 * * * *")
    start = datetime(2026, 12, 7, 10, 2, tzinfo=UTC)
    assert cron.next_after(start) == datetime(2026, 12, 7, 10, 5, tzinfo=UTC)
    assert len(cron.between(start, start + timedelta(hours=1))) == 12
    with pytest.raises(CronError):
        CronSchedule("every five minutes")
    assert CronSchedule("* * * * * */2").next_after(start) == start + timedelta(seconds=2)
