"""Weekly windows in a pair's time zone, and the sleeping hours nobody chats in (PRODUCT §3).

A window is `{"days": ["mon", …], "start": "HH:MM", "end": "HH:MM"}`. `end` may be `24:00`;
an `end` earlier than `start` crosses midnight: the window opens on each listed day at `start`
and closes at `end` on the next day. Every check converts the moment to the zone's wall clock
first, so daylight-saving changes need no special case: a window of 08:00–11:00 is 08:00–11:00
on the clock on both sides of a change, and a wall time the change skips simply never occurs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
# Personas sleep from 00:00 to 07:00 local time: no round, no turn, unless a window says so.
SLEEPING_HOURS: tuple[int, int] = (0, 7 * 60)

_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class WindowError(ValueError):
    """A window or time zone that cannot be used."""


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone called `name`; `WindowError` when there is none."""
    if not name or name != name.strip() or name.startswith(("/", ".")) or ".." in name:
        raise WindowError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise WindowError(f"unknown time zone {name!r}") from error


def parse_clock(text: str, *, allow_midnight_end: bool = False) -> int:
    """`HH:MM` as minutes after midnight; `24:00` only where a window ends."""
    found = _TIME.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        raise WindowError(f"{text!r} is not a time of day (HH:MM)")
    minutes = int(found.group(1)) * 60 + int(found.group(2))
    if minutes > MINUTES_PER_DAY or (minutes == MINUTES_PER_DAY and not allow_midnight_end):
        raise WindowError(f"{text!r} is not a time of day (24:00 may only end a window)")
    return minutes


def format_clock(minutes: int) -> str:
    """Minutes after midnight as `HH:MM`."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Window:
    """One weekly window: the days it opens on, and its local opening and closing times."""

    days: frozenset[int]  # 0 = Monday
    start: int  # minutes after midnight, 0..1439
    end: int  # minutes after midnight, 1..1440; not after `start`: the window crosses midnight

    @property
    def crosses_midnight(self) -> bool:
        """True when the window closes on the day after it opens."""
        return self.end <= self.start

    def covers(self, weekday: int, minute: int) -> bool:
        """Whether local `weekday` (0 = Monday) at `minute` after midnight is inside the window."""
        if not self.crosses_midnight:
            return weekday in self.days and self.start <= minute < self.end
        opened_today = weekday in self.days and minute >= self.start
        opened_yesterday = (weekday - 1) % 7 in self.days and minute < self.end
        return opened_today or opened_yesterday

    def to_json(self) -> dict[str, Any]:
        """The stored and public form."""
        return {
            "days": [DAY_NAMES[day] for day in sorted(self.days)],
            "start": format_clock(self.start),
            "end": format_clock(self.end),
        }


def parse_window(raw: Mapping[str, Any]) -> Window:
    """A window from its JSON form; `WindowError` names what is wrong."""
    days_raw = raw.get("days")
    if not isinstance(days_raw, list | tuple) or not days_raw:
        raise WindowError("a window needs at least one day (mon, tue, wed, thu, fri, sat, sun)")
    days = set()
    for day in days_raw:
        name = day.strip().lower()[:3] if isinstance(day, str) else None
        if name not in DAY_NAMES:
            raise WindowError(f"{day!r} is not a day (mon, tue, wed, thu, fri, sat, sun)")
        days.add(DAY_NAMES.index(name))
    start = parse_clock(raw.get("start", ""))
    end = parse_clock(raw.get("end", ""), allow_midnight_end=True)
    if start == end % MINUTES_PER_DAY and end != MINUTES_PER_DAY:
        raise WindowError("a window cannot start and end at the same time")
    return Window(days=frozenset(days), start=start, end=end)


def parse_windows(raw: Iterable[Mapping[str, Any]]) -> tuple[Window, ...]:
    """Every window of a list (`WindowError` for the first bad one, with its position)."""
    windows = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise WindowError(f"window {index + 1}: must be an object with days, start and end")
        try:
            windows.append(parse_window(item))
        except WindowError as error:
            raise WindowError(f"window {index + 1}: {error}") from None
    return tuple(windows)


def _in_sleeping_hours(minute: int) -> bool:
    return SLEEPING_HOURS[0] <= minute < SLEEPING_HOURS[1]


@dataclass(frozen=True)
class WeeklySchedule:
    """A pair's windows in its time zone. No windows: any waking hour of any day."""

    windows: tuple[Window, ...]
    zone: ZoneInfo

    @classmethod
    def of(cls, windows: Iterable[Mapping[str, Any]], time_zone: str) -> WeeklySchedule:
        """Parse stored windows and a zone name."""
        return cls(windows=parse_windows(windows), zone=zone_of(time_zone))

    def local(self, moment: datetime) -> datetime:
        """`moment` on the zone's wall clock."""
        if moment.tzinfo is None:
            raise ValueError("moments must carry a timezone")
        return moment.astimezone(self.zone)

    def _position(self, moment: datetime) -> tuple[int, int]:
        local = self.local(moment)
        return local.weekday(), local.hour * 60 + local.minute

    def in_window(self, moment: datetime) -> bool:
        """Whether a window is open at `moment`."""
        weekday, minute = self._position(moment)
        return any(window.covers(weekday, minute) for window in self.windows)

    def sleeping(self, moment: datetime) -> bool:
        """Whether `moment` falls in the personas' sleeping hours (00:00–07:00 local)."""
        return _in_sleeping_hours(self._position(moment)[1])

    def round_may_start(self, moment: datetime) -> str | None:
        """None when a round may start at `moment`; else why not (`outside_window`, `sleeping_hours`)."""
        if self.windows:
            return None if self.in_window(moment) else "outside_window"
        return "sleeping_hours" if self.sleeping(moment) else None

    def turn_may_go(self, moment: datetime) -> bool:
        """A round already running may go on: a window is open, or the personas are awake."""
        return self.in_window(moment) or not self.sleeping(moment)

    def next_opening(self, after: datetime) -> datetime | None:
        """When a window next opens after `after` (None without windows). A wall time the clocks
        skip is read with the offset before the change: 02:30 on a spring-forward night is 03:30."""
        if after.tzinfo is None:
            raise ValueError("moments must carry a timezone")
        local_day = self.local(after).date()
        best: datetime | None = None
        for offset in range(8):
            day = local_day + timedelta(days=offset)
            for window in self.windows:
                if day.weekday() not in window.days:
                    continue
                hour, minute = divmod(window.start, 60)
                opening = datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.zone).astimezone(
                    UTC
                )
                if opening > after and (best is None or opening < best):
                    best = opening
        return best

    def to_json(self) -> list[dict[str, Any]]:
        """The windows in their stored and public form."""
        return [window.to_json() for window in self.windows]


def local_day_start(moment: datetime, zone: ZoneInfo) -> datetime:
    """The first moment of `moment`'s local day in `zone`.

    A midnight the clocks skip (a DST change at 00:00) is read with the offset before the
    change, which lands on the first wall time that exists: 01:00 instead of 00:00.
    """
    local = moment.astimezone(zone)
    return datetime(local.year, local.month, local.day, tzinfo=zone).astimezone(UTC).astimezone(zone)
