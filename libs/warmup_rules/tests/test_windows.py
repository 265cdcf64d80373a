"""Weekly windows on a controllable clock: days, midnight, daylight saving, sleeping hours."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warmup_rules import WeeklySchedule, WindowError, local_day_start, parse_window, parse_windows, zone_of

SAO_PAULO = "America/Sao_Paulo"
NEW_YORK = "America/New_York"


def at(zone: str, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A wall-clock moment in `zone`."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))


def schedule(zone: str, *windows: Mapping[str, object]) -> WeeklySchedule:
    return WeeklySchedule.of(windows, zone)


WEEKDAY_MORNINGS: dict[str, object] = {
    "days": ["mon", "tue", "wed", "thu", "fri"],
    "start": "08:00",
    "end": "11:00",
}


def test_a_window_is_open_on_its_days_between_start_and_end() -> None:
    rules = schedule(SAO_PAULO, WEEKDAY_MORNINGS)
    monday = at(SAO_PAULO, 2026, 12, 7, 8, 0)  # a Monday
    assert rules.in_window(monday)
    assert rules.in_window(monday.replace(hour=10, minute=59))
    assert not rules.in_window(monday.replace(hour=11, minute=0))  # the end is exclusive
    assert not rules.in_window(monday.replace(hour=7, minute=59))
    assert not rules.in_window(at(SAO_PAULO, 2026, 12, 12, 9, 0))  # Saturday


def test_the_window_is_read_in_the_pair_zone_not_utc() -> None:
    rules = schedule(SAO_PAULO, WEEKDAY_MORNINGS)
    # 11:30 UTC on a Monday is 08:30 in São Paulo (UTC-3).
    assert rules.in_window(datetime(2026, 12, 7, 11, 30, tzinfo=UTC))
    assert not rules.in_window(datetime(2026, 12, 7, 8, 30, tzinfo=UTC))


def test_a_window_crossing_midnight_belongs_to_the_day_it_opens() -> None:
    rules = schedule(SAO_PAULO, {"days": ["fri"], "start": "22:00", "end": "02:00"})
    friday_night = at(SAO_PAULO, 2026, 12, 11, 23, 30)
    saturday_early = at(SAO_PAULO, 2026, 12, 12, 1, 59)
    assert rules.in_window(friday_night)
    assert rules.in_window(saturday_early)
    assert not rules.in_window(at(SAO_PAULO, 2026, 12, 12, 2, 0))
    # Thursday night is not Friday's window, nor is Saturday night.
    assert not rules.in_window(at(SAO_PAULO, 2026, 12, 10, 23, 0))
    assert not rules.in_window(at(SAO_PAULO, 2026, 12, 12, 23, 0))
    # A window over sleeping hours says so: a round may start at 01:00.
    assert rules.round_may_start(saturday_early) is None


def test_sunday_to_monday_wraps_the_week() -> None:
    rules = schedule(SAO_PAULO, {"days": ["sun"], "start": "23:00", "end": "00:30"})
    assert rules.in_window(at(SAO_PAULO, 2026, 12, 14, 0, 15))  # Monday 00:15
    assert not rules.in_window(at(SAO_PAULO, 2026, 12, 14, 0, 30))


def test_end_of_day_may_be_written_24_00() -> None:
    rules = schedule(SAO_PAULO, {"days": ["mon"], "start": "20:00", "end": "24:00"})
    assert rules.in_window(at(SAO_PAULO, 2026, 12, 7, 23, 59))
    assert not rules.in_window(at(SAO_PAULO, 2026, 12, 8, 0, 0))


def test_spring_forward_keeps_wall_clock_windows() -> None:
    # New York: 2026-03-08 02:00 EST jumps to 03:00 EDT (a Sunday).
    rules = schedule(NEW_YORK, {"days": ["sun"], "start": "01:30", "end": "03:30"})
    before = datetime(2026, 3, 8, 6, 45, tzinfo=UTC)  # 01:45 EST
    after = datetime(2026, 3, 8, 7, 15, tzinfo=UTC)  # 03:15 EDT: only 30 minutes later
    assert rules.in_window(before)
    assert rules.in_window(after)
    assert not rules.in_window(datetime(2026, 3, 8, 7, 31, tzinfo=UTC))  # 03:31 EDT
    # 08:00–11:00 is 08:00–11:00 on the clock on both sides of the change.
    mornings = schedule(NEW_YORK, {"days": ["sat", "sun"], "start": "08:00", "end": "11:00"})
    assert mornings.in_window(datetime(2026, 3, 7, 13, 0, tzinfo=UTC))  # Sat 08:00 EST
    assert mornings.in_window(datetime(2026, 3, 8, 12, 0, tzinfo=UTC))  # Sun 08:00 EDT
    assert not mornings.in_window(datetime(2026, 3, 8, 11, 59, tzinfo=UTC))  # Sun 07:59 EDT


def test_fall_back_repeats_the_hour_inside_the_window() -> None:
    # New York: 2026-11-01 02:00 EDT goes back to 01:00 EST; 01:xx happens twice.
    rules = schedule(NEW_YORK, {"days": ["sun"], "start": "01:00", "end": "02:00"})
    first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    second = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST
    assert rules.in_window(first)
    assert rules.in_window(second)
    assert not rules.in_window(datetime(2026, 11, 1, 7, 0, tzinfo=UTC))  # 02:00 EST


def test_without_windows_rounds_run_in_waking_hours_only() -> None:
    rules = WeeklySchedule.of([], SAO_PAULO)
    assert rules.round_may_start(at(SAO_PAULO, 2026, 12, 7, 3, 0)) == "sleeping_hours"
    assert rules.round_may_start(at(SAO_PAULO, 2026, 12, 7, 6, 59)) == "sleeping_hours"
    assert rules.round_may_start(at(SAO_PAULO, 2026, 12, 7, 7, 0)) is None
    assert rules.round_may_start(at(SAO_PAULO, 2026, 12, 7, 23, 59)) is None


def test_a_running_round_stops_at_sleeping_hours_unless_a_window_covers_them() -> None:
    late = schedule(SAO_PAULO, {"days": ["mon"], "start": "21:00", "end": "23:59"})
    assert late.turn_may_go(at(SAO_PAULO, 2026, 12, 7, 23, 59))  # after the window, still awake
    assert not late.turn_may_go(at(SAO_PAULO, 2026, 12, 8, 0, 1))  # asleep
    overnight = schedule(SAO_PAULO, {"days": ["mon"], "start": "21:00", "end": "01:00"})
    assert overnight.turn_may_go(at(SAO_PAULO, 2026, 12, 8, 0, 30))


def test_round_may_start_outside_window_names_the_reason() -> None:
    rules = schedule(SAO_PAULO, WEEKDAY_MORNINGS)
    assert rules.round_may_start(at(SAO_PAULO, 2026, 12, 7, 12, 0)) == "outside_window"


def test_next_opening_is_the_next_window_start() -> None:
    rules = schedule(SAO_PAULO, WEEKDAY_MORNINGS)
    friday_noon = at(SAO_PAULO, 2026, 12, 11, 12, 0)
    found = rules.next_opening(friday_noon)
    assert found is not None
    assert rules.local(found) == at(SAO_PAULO, 2026, 12, 14, 8, 0)  # Monday
    assert rules.next_opening(at(SAO_PAULO, 2026, 12, 14, 7, 59)) == at(SAO_PAULO, 2026, 12, 14, 8, 0)
    assert WeeklySchedule.of([], SAO_PAULO).next_opening(friday_noon) is None


def test_next_opening_in_a_skipped_hour_is_read_with_the_earlier_offset() -> None:
    # New York skips 02:00–03:00 on 2026-03-08: 02:30 does not exist that night.
    rules = schedule(NEW_YORK, {"days": ["sun"], "start": "02:30", "end": "04:00"})
    found = rules.next_opening(datetime(2026, 3, 8, 5, 0, tzinfo=UTC))  # 00:00 EST
    assert found == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 02:30 read as EST = 03:30 EDT
    assert rules.in_window(found)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"days": [], "start": "08:00", "end": "09:00"}, "at least one day"),
        ({"days": ["funday"], "start": "08:00", "end": "09:00"}, "not a day"),
        ({"days": ["mon"], "start": "8:00", "end": "09:00"}, "not a time"),
        ({"days": ["mon"], "start": "24:00", "end": "09:00"}, "24:00 may only end"),
        ({"days": ["mon"], "start": "08:00", "end": "08:00"}, "same time"),
        ({"days": ["mon"], "start": "08:00", "end": "25:00"}, "not a time"),
    ],
)
def test_bad_windows_are_refused_with_the_reason(raw: dict[str, object], problem: str) -> None:
    with pytest.raises(WindowError, match=problem):
        parse_window(raw)


def test_the_position_of_a_bad_window_is_named() -> None:
    with pytest.raises(WindowError, match="window 2"):
        parse_windows([WEEKDAY_MORNINGS, {"days": ["mon"]}])


@pytest.mark.parametrize(
    "name", ["Mars/Olympus", "", " America/Sao_Paulo", "../etc/passwd", "/etc/localtime"]
)
def test_unknown_zones_are_refused(name: str) -> None:
    with pytest.raises(WindowError):
        zone_of(name)


def test_windows_round_trip_through_their_json_form() -> None:
    rules = schedule(SAO_PAULO, {"days": ["fri", "mon"], "start": "22:00", "end": "24:00"})
    assert rules.to_json() == [{"days": ["mon", "fri"], "start": "22:00", "end": "24:00"}]


def test_local_day_start_skips_a_missing_midnight() -> None:
    # São Paulo started DST at 00:00 on 2018-11-04: the day began at 01:00.
    zone = ZoneInfo(SAO_PAULO)
    noon = datetime(2018, 11, 4, 12, 0, tzinfo=zone)
    start = local_day_start(noon, zone)
    assert (start.hour, start.minute) == (1, 0)
    assert start.astimezone(UTC) == datetime(2018, 11, 4, 3, 0, tzinfo=UTC)
    assert local_day_start(at(SAO_PAULO, 2026, 12, 7, 15, 0), zone) == at(SAO_PAULO, 2026, 12, 7, 0, 0)


@given(
    start=st.integers(min_value=0, max_value=1439),
    length=st.integers(min_value=1, max_value=1439),
    offset=st.integers(min_value=0, max_value=14 * 24 * 60),
)
def test_a_window_is_open_exactly_length_minutes_after_each_opening(
    start: int, length: int, offset: int
) -> None:
    """Property: on a zone without DST, a window of any length over any midnight covers
    a minute exactly when it lies within `length` minutes after an opening."""
    end = (start + length) % 1440 or 1440
    rules = WeeklySchedule.of(
        [
            {
                "days": ["mon"],
                "start": f"{start // 60:02d}:{start % 60:02d}",
                "end": f"{end // 60:02d}:{end % 60:02d}",
            }
        ],
        "UTC",
    )
    monday = datetime(2026, 12, 7, tzinfo=UTC)
    moment = monday + timedelta(minutes=offset)
    since_opening = (offset - start) % (7 * 1440)
    assert rules.in_window(moment) == (since_opening < length)
