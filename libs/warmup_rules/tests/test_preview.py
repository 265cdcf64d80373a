"""The preview plays the same decision forward on a fake clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from warmup_rules import CronSchedule, PairRules, PreviewNumber, Profile, Side, WeeklySchedule, preview

ZONE = "America/Sao_Paulo"
START = datetime(2026, 12, 7, 0, 0, tzinfo=ZoneInfo(ZONE))  # a Monday


def rules(**changes: object) -> PairRules:
    values: dict[str, object] = {
        "schedule": WeeklySchedule.of(
            [
                {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "11:00"},
                {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "19:00", "end": "21:00"},
            ],
            ZONE,
        ),
        "min_gap": timedelta(minutes=30),
        "jitter": timedelta(minutes=10),
        "min_turns": 2,
        "max_turns": 6,
        "profile": Profile.NORMAL,
        "max_rounds_per_day": 8,
    }
    values.update(changes)
    return PairRules(**values)  # type: ignore[arg-type]


def test_rounds_start_only_inside_windows_and_stop_at_the_daily_cap() -> None:
    result = preview(
        rules(min_gap=timedelta(minutes=10), jitter=timedelta(minutes=5)),
        PreviewNumber("demo-1", None),
        PreviewNumber("demo-2", None),
        start=START,
        days=7,
        cron=CronSchedule("*/5 * * * *"),
        tenant_cap=200,
    )
    assert result.rounds == 5 * 8  # five weekdays, eight rounds each
    for day, hour in result.volume:
        assert day.weekday() < 5
        # A round that starts at 10:55 may run a few minutes past 11:00.
        assert 8 <= hour <= 11 or 19 <= hour <= 21
    assert result.skips["outside_window"] > 0
    assert result.skips["daily_cap"] > 0
    text = result.render()
    assert "demo-1" in text
    assert "rounds: 40" in text


def test_the_preview_is_the_same_every_time() -> None:
    args = {"start": START, "days": 3, "cron": CronSchedule("*/5 * * * *"), "tenant_cap": 200}
    first = preview(rules(), PreviewNumber("a", None), PreviewNumber("b", None), **args)  # type: ignore[arg-type]
    again = preview(rules(), PreviewNumber("a", None), PreviewNumber("b", None), **args)  # type: ignore[arg-type]
    assert first.volume == again.volume


def test_a_new_number_sends_within_its_ramp_cap_and_never_opens() -> None:
    result = preview(
        rules(max_rounds_per_day=50, min_gap=timedelta(minutes=5), jitter=timedelta(0)),
        PreviewNumber("new", 0),
        PreviewNumber("old", None),
        start=START,
        days=2,
        cron=CronSchedule("*/5 * * * *"),
        tenant_cap=200,
    )
    for sides in result.day_totals().values():
        assert sides[Side.A] <= 10  # receive_first: 10 sends a day
    assert result.rounds > 0
