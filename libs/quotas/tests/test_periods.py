"""Local days and hours of quota counters, across midnight, DST and odd offsets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from quotas import local_periods


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_sao_paulo_evening_is_still_that_local_day() -> None:
    periods = local_periods(utc("2026-12-03T01:30:00"), "America/Sao_Paulo")  # 22:30 on the 2nd, -03:00
    assert periods.day == "2026-12-02"
    assert periods.hour == "2026-12-02T22"
    assert periods.next_hour == utc("2026-12-03T02:00:00")
    assert periods.next_day == utc("2026-12-03T03:00:00")


def test_half_hour_offsets_start_hours_on_the_half_hour() -> None:
    periods = local_periods(utc("2026-06-01T10:45:00"), "Asia/Kolkata")  # 16:15 local, +05:30
    assert periods.hour == "2026-06-01T16"
    assert periods.next_hour == utc("2026-06-01T11:30:00")


def test_spring_forward_the_next_day_and_hour_are_real_instants() -> None:
    # New York, 2026-03-08 02:00 jumps to 03:00.
    before = local_periods(utc("2026-03-08T06:30:00"), "America/New_York")  # 01:30 EST
    assert before.hour == "2026-03-08T01"
    assert before.next_hour == utc("2026-03-08T07:00:00")  # 03:00 EDT: the 02:00 hour does not exist
    after = local_periods(utc("2026-03-08T07:10:00"), "America/New_York")  # 03:10 EDT
    assert after.hour == "2026-03-08T03"
    assert before.next_day == utc("2026-03-09T04:00:00")  # midnight EDT


def test_fall_back_the_repeated_hour_is_one_quota_hour() -> None:
    # New York, 2026-11-01 02:00 EDT goes back to 01:00 EST: 01:xx happens twice.
    first = local_periods(utc("2026-11-01T05:30:00"), "America/New_York")  # 01:30 EDT
    second = local_periods(utc("2026-11-01T06:30:00"), "America/New_York")  # 01:30 EST
    assert first.hour == second.hour == "2026-11-01T01"
    assert first.day == second.day == "2026-11-01"
    assert second.next_day == utc("2026-11-02T05:00:00")


def test_a_midnight_that_does_not_exist_still_gives_a_later_next_day() -> None:
    # Santiago skips 00:00-01:00 when summer time starts (2026-09-06).
    periods = local_periods(utc("2026-09-06T03:30:00"), "America/Santiago")  # 23:30 on the 5th, -04:00
    assert periods.day == "2026-09-05"
    assert periods.next_day > utc("2026-09-06T03:30:00")
    assert local_periods(periods.next_day, "America/Santiago").day == "2026-09-06"


def test_naive_moments_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        local_periods(datetime(2026, 1, 1), "UTC")
