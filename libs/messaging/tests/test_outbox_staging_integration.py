"""Staging in the outbox: both insert forms store the same rows, in order."""

from __future__ import annotations

import json
import uuid

import pytest

from database import Pool
from messaging import Outbox
from messaging.outbox import CORRELATION_HEADER

from .conftest import message_received

pytestmark = pytest.mark.integration


async def test_bulk_encoded_events_are_stored_in_order_with_their_shared_topic_and_headers(
    db_pool: Pool,
) -> None:
    outbox = Outbox(f"staging-{uuid.uuid4().hex[:6]}")
    encoded = [(f"key-{i % 3}".encode(), f'{{"n":{i}}}'.encode()) for i in range(250)]
    prepared = outbox.prepare_encoded("mirage.test.bulk", "test.bulk", "corr-1", encoded)
    assert prepared.uniform
    async with db_pool.acquire() as conn, conn.transaction():
        staged = await outbox.stage_prepared(conn, prepared)
        rows = await conn.fetch(
            "SELECT id, topic, key, payload, headers FROM outbox WHERE producer = $1 ORDER BY id",
            outbox.producer,
        )
        await conn.execute("DELETE FROM outbox WHERE producer = $1", outbox.producer)
    assert [event.id for event in staged] == [row["id"] for row in rows]
    assert [(row["key"], row["payload"]) for row in rows] == encoded
    assert {row["topic"] for row in rows} == {"mirage.test.bulk"}
    headers = [json.loads(row["headers"]) for row in rows]
    assert all(header == staged[0].headers for header in headers)
    stored = headers[0]
    assert stored[CORRELATION_HEADER] == "corr-1"


async def test_events_of_mixed_topics_are_stored_in_order(db_pool: Pool) -> None:
    outbox = Outbox(f"staging-{uuid.uuid4().hex[:6]}")
    events = [message_received(uuid.uuid4(), text=str(i)) for i in range(5)]
    prepared = outbox.prepare(events)
    assert not prepared.uniform
    async with db_pool.acquire() as conn, conn.transaction():
        staged = await outbox.stage_prepared(conn, prepared)
        rows = await conn.fetch(
            "SELECT id, payload FROM outbox WHERE producer = $1 ORDER BY id", outbox.producer
        )
        await conn.execute("DELETE FROM outbox WHERE producer = $1", outbox.producer)
    assert [event.id for event in staged] == [row["id"] for row in rows]
    assert [row["payload"] for row in rows] == [event.to_json_bytes() for event in events]
