"""How a batch's rows are merged per key and laid out per column, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from analytics.projection import Row
from analytics.repository import _columns, _merge, _Pending
from analytics.tables import NUMBER_HOURLY, SENDS, TABLES, TENANT_HOURLY

HOUR = datetime(2026, 12, 3, 10, tzinfo=UTC)


def _merged(*rows: Row) -> dict[str, dict[tuple[Any, ...], _Pending]]:
    merged: dict[str, dict[tuple[Any, ...], _Pending]] = {table.name: {} for table in TABLES}
    _merge(merged, rows)
    return merged


def test_counter_rows_of_one_key_are_summed_without_touching_the_events_own_rows() -> None:
    tenant = uuid.uuid4()
    first = Row(TENANT_HOURLY, (tenant, HOUR), {"sent": 1})
    second = Row(TENANT_HOURLY, (tenant, HOUR), {"sent": 1, "failed": -1})
    third = Row(TENANT_HOURLY, (tenant, HOUR), {"received": 1})

    pending = _merged(first, second, third)[TENANT_HOURLY.name][(tenant, HOUR)]

    assert pending.values == {"sent": 2, "failed": -1, "received": 1}
    # The first row's values were adopted, then copied before the second row was added: an
    # event's change is left as the projection made it (a failed batch is projected again,
    # but nothing may count on that).
    assert first.values == {"sent": 1}
    assert second.values == {"sent": 1, "failed": -1}


def test_fact_rows_of_one_key_keep_the_first_value_of_each_column() -> None:
    send = uuid.uuid4()
    requested = Row(SENDS, (send,), {"recipient": "5511912345678", "sent_at": None})
    sent = Row(SENDS, (send,), {"recipient": "other", "sent_at": HOUR})

    pending = _merged(requested, sent)[SENDS.name][(send,)]

    assert pending.values == {"recipient": "5511912345678", "sent_at": HOUR}
    assert requested.values == {"recipient": "5511912345678", "sent_at": None}


def test_columns_hold_keys_then_attributes_then_every_value_with_its_default() -> None:
    tenant, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    merged = _merged(
        Row(NUMBER_HOURLY, (first, HOUR), {"sent": 1}, (tenant,)),
        Row(NUMBER_HOURLY, (second, HOUR), {"opt_outs": 1, "failed": 2}, (tenant,)),
    )

    columns = _columns(NUMBER_HOURLY, merged[NUMBER_HOURLY.name])

    assert columns == [
        [first, second],  # instance_id
        [HOUR, HOUR],  # hour
        [tenant, tenant],  # tenant_id (attribute)
        [1, 0],  # sent
        [0, 0],  # received
        [0, 0],  # outreach_sent
        [0, 1],  # opt_outs
        [0, 2],  # failed
    ]


def test_fact_columns_default_to_null() -> None:
    send = uuid.uuid4()
    merged = _merged(Row(SENDS, (send,), {"purpose": "reply"}))

    columns = _columns(SENDS, merged[SENDS.name])

    assert len(columns) == 1 + len(SENDS.values)
    assert columns[0] == [send]
    assert columns[1 + SENDS.value_names.index("purpose")] == ["reply"]
    assert sum(column == [None] for column in columns) == len(SENDS.values) - 1
