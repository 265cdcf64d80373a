"""Bar charts drawn on the server as SVG (no chart library, no script).

`bar_chart` lays out grouped bars; the `_chart.html` macro draws them with a `<title>` on every
bar and the same numbers in a table beside the chart, so screen readers, keyboards and tests
read the values without a mouse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH_MIN = 720
HEIGHT = 260
LEFT = 52
RIGHT = 12
TOP = 12
BOTTOM = 44
LABEL_WIDTH = 64  # room one category label needs


@dataclass(frozen=True)
class Series:
    """One kind of value (a colour in the chart, a column in its table)."""

    key: str  # CSS class suffix: `series-<key>`
    label: str


@dataclass(frozen=True)
class Bar:
    """One drawn value."""

    x: float
    y: float
    width: float
    height: float
    series: str
    value: int
    title: str


@dataclass(frozen=True)
class Tick:
    """A horizontal grid line with its value."""

    y: float
    label: str


@dataclass(frozen=True)
class CategoryLabel:
    """A category's name under its group of bars."""

    x: float
    text: str


@dataclass(frozen=True)
class Chart:
    """A grouped bar chart, ready to draw."""

    id: str
    title: str
    category_label: str
    series: tuple[Series, ...]
    categories: tuple[str, ...]
    rows: tuple[tuple[int, ...], ...]
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    labels: tuple[CategoryLabel, ...]
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_bottom: int

    @property
    def empty(self) -> bool:
        """Nothing to draw."""
        return not self.categories

    def totals(self) -> tuple[int, ...]:
        """Each series' sum over the categories."""
        return tuple(sum(row[index] for row in self.rows) for index in range(len(self.series)))


def nice_step(maximum: int, ticks: int = 4) -> int:
    """A round step (1, 2 or 5 × 10ⁿ) that reaches `maximum` in about `ticks` steps."""
    if maximum <= 0:
        return 1
    raw = maximum / ticks
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return max(1, int(factor * magnitude))
    return int(10 * magnitude)


def bar_chart(
    chart_id: str,
    title: str,
    *,
    category_label: str,
    series: Sequence[Series],
    categories: Sequence[str],
    rows: Sequence[Sequence[int]],
) -> Chart:
    """Grouped bars: one group per category, one bar per series (`rows[i][j]`)."""
    count = len(categories)
    bar_width = 14.0 if count <= 12 else 8.0 if count <= 48 else 4.0
    group_gap = bar_width * 1.5
    group_width = bar_width * len(series) + group_gap
    width = max(WIDTH_MIN, int(LEFT + RIGHT + group_width * count))
    plot_width = width - LEFT - RIGHT
    if count:
        group_width = plot_width / count
        bar_width = min(bar_width * 2.5, (group_width - group_gap) / max(1, len(series)))
    plot_bottom = HEIGHT - BOTTOM
    plot_height = plot_bottom - TOP
    maximum = max((value for row in rows for value in row), default=0)
    step = nice_step(maximum)
    top_value = max(step, math.ceil(maximum / step) * step)
    ticks = tuple(
        Tick(y=round(plot_bottom - plot_height * value / top_value, 2), label=str(value))
        for value in range(0, top_value + 1, step)
    )
    bars: list[Bar] = []
    labels: list[CategoryLabel] = []
    every = max(1, math.ceil(count * LABEL_WIDTH / plot_width)) if count else 1
    for index, (category, row) in enumerate(zip(categories, rows, strict=True)):
        group_x = LEFT + group_width * index
        inner = (group_width - bar_width * len(series)) / 2
        for position, (kind, value) in enumerate(zip(series, row, strict=True)):
            height = plot_height * value / top_value
            bars.append(
                Bar(
                    x=round(group_x + inner + bar_width * position, 2),
                    y=round(plot_bottom - height, 2),
                    width=round(max(bar_width - 1, 1), 2),
                    height=round(height, 2),
                    series=kind.key,
                    value=value,
                    title=f"{category} — {kind.label}: {value}",
                )
            )
        if index % every == 0:
            labels.append(CategoryLabel(x=round(group_x + group_width / 2, 2), text=category))
    return Chart(
        id=chart_id,
        title=title,
        category_label=category_label,
        series=tuple(series),
        categories=tuple(categories),
        rows=tuple(tuple(row) for row in rows),
        bars=tuple(bars),
        ticks=ticks,
        labels=tuple(labels),
        width=width,
        height=HEIGHT,
        plot_left=LEFT,
        plot_right=width - RIGHT,
        plot_bottom=plot_bottom,
    )
