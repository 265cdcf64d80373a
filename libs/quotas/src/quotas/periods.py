"""The local day and hour a moment falls in, and when the next ones start (DST-safe)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class LocalPeriods:
    """The tenant-local day and hour of one moment, as quota keys name them."""

    day: str  # YYYY-MM-DD
    hour: str  # YYYY-MM-DDTHH
    next_hour: datetime  # UTC: when the local hour after this one starts
    next_day: datetime  # UTC: local midnight of the next day


def local_periods(moment: datetime, time_zone: str) -> LocalPeriods:
    """The day and hour `moment` falls in, in `time_zone`, and when each period ends.

    Hours are counted in local wall time: when the clocks go back, the repeated local hour
    is one quota hour spanning both (the conservative reading). The next hour starts one
    hour after the local hour began, whatever the offset (also :30 zones); the next day at
    the next local midnight (when that midnight does not exist, the first moment after it).
    """
    if moment.tzinfo is None:
        raise ValueError("moments must carry a timezone")
    zone = ZoneInfo(time_zone)
    local = moment.astimezone(zone)
    hour_start = local.replace(minute=0, second=0, microsecond=0)
    next_hour = hour_start.astimezone(UTC) + timedelta(hours=1)
    next_midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
    next_day = next_midnight.astimezone(UTC)
    if next_day <= moment.astimezone(UTC):  # a nonexistent midnight read with the earlier offset
        next_day = moment.astimezone(UTC) + timedelta(minutes=1)
    return LocalPeriods(
        day=local.strftime("%Y-%m-%d"),
        hour=local.strftime("%Y-%m-%dT%H"),
        next_hour=next_hour,
        next_day=next_day,
    )
