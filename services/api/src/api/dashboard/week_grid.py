"""The weekly-grid editor's model: cells (a day and an hour) to the api's windows and back.

A cell is `"<day>-<HH>"` (`"mon-08"` is Monday 08:00–09:00). Each day's runs of consecutive
hours become one window, and runs with the same hours on several days share a window:
`[{"days": ["mon", "tue"], "start": "08:00", "end": "12:00"}]`. Reading windows back, a window
that crosses midnight fills the next day's first hours, and minutes are widened to whole hours
(`exact` says whether the grid shows the windows as they are).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS = tuple(range(24))


def cell(day: str, hour: int) -> str:
    """The name of a cell."""
    return f"{day}-{hour:02d}"


def parse_cells(values: Iterable[str]) -> set[tuple[int, int]]:
    """(day index, hour) of every well-formed cell; anything else is ignored."""
    found: set[tuple[int, int]] = set()
    for value in values:
        day, _, hour = value.strip().partition("-")
        if day in DAYS and hour.isdigit() and int(hour) in HOURS:
            found.add((DAYS.index(day), int(hour)))
    return found


def _clock(hour: int) -> str:
    return f"{hour:02d}:00"


def windows_from_cells(values: Iterable[str]) -> list[dict[str, Any]]:
    """The api's `windows` for the cells chosen (an empty list when none is)."""
    chosen = parse_cells(values)
    runs: dict[tuple[int, int], list[str]] = {}
    for day_index, day in enumerate(DAYS):
        hour = 0
        while hour < 24:
            if (day_index, hour) not in chosen:
                hour += 1
                continue
            start = hour
            while hour < 24 and (day_index, hour) in chosen:
                hour += 1
            runs.setdefault((start, hour), []).append(day)
    ordered = sorted(runs.items(), key=lambda item: (DAYS.index(item[1][0]), item[0][0]))
    return [{"days": days, "start": _clock(start), "end": _clock(end)} for (start, end), days in ordered]


def _minutes(clock: str) -> int:
    hours, _, minutes = clock.partition(":")
    return int(hours) * 60 + int(minutes or 0)


@dataclass(frozen=True)
class GridState:
    """The cells a set of windows covers, and whether whole hours show them exactly."""

    cells: frozenset[str]
    exact: bool


def cells_from_windows(windows: Sequence[Mapping[str, Any]]) -> GridState:
    """The cells to tick for stored windows."""
    cells: set[str] = set()
    exact = True
    for window in windows:
        try:
            start, end = _minutes(str(window["start"])), _minutes(str(window["end"]))
            days = [DAYS.index(str(day)) for day in window["days"]]
        except (KeyError, ValueError, TypeError):
            exact = False
            continue
        if start % 60 or end % 60:
            exact = False
        first, last = start // 60, -(-end // 60)
        for day in days:
            # Crossing midnight: the rest of this day and the start of the next.
            spans = [(day, first, last)] if end > start else [(day, first, 24), ((day + 1) % 7, 0, last)]
            for index, begin, finish in spans:
                cells.update(cell(DAYS[index], hour) for hour in range(begin, min(finish, 24)))
    return GridState(cells=frozenset(cells), exact=exact)
