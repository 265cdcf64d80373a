"""SQL of the stats tables (written by analytics only): one transaction per batch of events.

A batch is applied in one transaction: the event ids that carry counters are claimed in
`processed_events` (a replayed event is not counted twice), the counter deltas of the
newly claimed events are summed per row, the fact rows are merged per key, and each table
gets one statement for the whole batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from analytics.projection import Change, Row
from analytics.tables import TABLES, Kind, Table
from database import Connection

_CLAIM = (
    "INSERT INTO {schema}.processed_events (event_id, topic)"
    " SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT DO NOTHING RETURNING event_id"
)


@dataclass
class _Pending:
    attributes: tuple[Any, ...]
    # The first row's own values until a second row of the same key merges into them (then a
    # copy): most rows of a batch are the only ones of their key.
    values: dict[str, Any]
    copied: bool = False


@dataclass(frozen=True)
class Applied:
    """What one batch did."""

    events: int
    counted: int
    duplicates: int
    rows: int


class StatsRepository:
    """Applies batches of changes to the tables of one schema (`analytics`, or a rebuild's)."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self._claim = _CLAIM.format(schema=schema)
        self._upserts = {table.name: table.upsert_sql(schema) for table in TABLES}

    async def apply(self, conn: Connection, changes: Sequence[Change]) -> Applied:
        """Apply `changes` inside the caller's transaction."""
        counted_ids: set[Any] = set()
        claims = [change for change in changes if change.counters]
        if claims:
            rows = await conn.fetch(
                self._claim, [change.event_id for change in claims], [change.topic for change in claims]
            )
            counted_ids = {row["event_id"] for row in rows}
        merged: dict[str, dict[tuple[Any, ...], _Pending]] = {table.name: {} for table in TABLES}
        counted = 0
        for change in changes:
            if change.event_id in counted_ids:
                # Claimed by this batch: count it once even if the batch holds it twice.
                counted_ids.discard(change.event_id)
                counted += 1
                _merge(merged, change.counters)
            _merge(merged, change.facts)
        written = 0
        for table in TABLES:
            pending = merged[table.name]
            if pending:
                await conn.execute(self._upserts[table.name], *_columns(table, pending))
                written += len(pending)
        return Applied(events=len(changes), counted=counted, duplicates=len(claims) - counted, rows=written)


def _merge(merged: dict[str, dict[tuple[Any, ...], _Pending]], rows: Iterable[Row]) -> None:
    for row in rows:
        table = merged[row.table.name]
        pending = table.get(row.key)
        if pending is None:
            table[row.key] = _Pending(row.attributes, row.values)
            continue
        if not pending.copied:
            pending.values, pending.copied = dict(pending.values), True
        values = pending.values
        if row.table.kind is Kind.COUNTER:
            for name, delta in row.values.items():
                values[name] = values.get(name, 0) + delta
        else:
            for name, value in row.values.items():
                if values.get(name) is None:
                    values[name] = value


def _columns(table: Table, pending: dict[tuple[Any, ...], _Pending]) -> list[list[Any]]:
    """The rows as one list per column (keys, attributes, values), for `unnest`."""
    default = 0 if table.kind is Kind.COUNTER else None
    names = table.value_names
    rows = [
        (*key, *row.attributes, *[row.values.get(name, default) for name in names])
        for key, row in pending.items()
    ]
    return [list(column) for column in zip(*rows, strict=True)]
