"""An ambiguous send settled by a late echo, through the stats tables (real PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from analytics.projection import Projection
from analytics.repository import StatsRepository
from analytics.settings import CostSettings
from contracts import AMBIGUOUS_FAILURE_CODE, Envelope, Topic
from database import Pool

from .event_factory import Conversation

pytestmark = pytest.mark.integration

PROJECTION = Projection(CostSettings())
JUDGED = datetime(2026, 12, 2, 10, 59, 59, tzinfo=UTC)
WENT_OUT = datetime(2026, 12, 2, 11, 20, tzinfo=UTC)
COUNTED_TABLES = ("tenant_hourly", "number_hourly", "number_failures_hourly", "sends")


@dataclass
class Written:
    """One conversation's events, written straight into the shared `analytics` schema."""

    pool: Pool
    chat: Conversation = field(default_factory=lambda: Conversation(tenant_id=uuid.uuid4()))
    event_ids: list[uuid.UUID] = field(default_factory=list)

    async def apply(self, *events: Envelope) -> None:
        """Each event in a batch of its own, in the order given."""
        repository = StatsRepository("analytics")
        for event in events:
            self.event_ids.append(event.event_id)
            topic = Topic.MESSAGE_SENT if event.type == "message.sent" else Topic.MESSAGE_FAILED
            async with self.pool.acquire() as conn, conn.transaction():
                await repository.apply(conn, [PROJECTION.change(event, topic)])


@pytest.fixture
async def written(db_pool: Pool) -> AsyncIterator[Written]:
    """Removes what the test wrote: the service test's rebuild from Kafka must find no rows
    that Kafka never carried."""
    writes = Written(db_pool)
    yield writes
    async with db_pool.acquire() as conn, conn.transaction():
        for table in COUNTED_TABLES:
            await conn.execute(
                f"DELETE FROM analytics.{table} WHERE tenant_id = $1",
                writes.chat.tenant_id,
            )
        await conn.execute(
            "DELETE FROM analytics.processed_events WHERE event_id = ANY($1::uuid[])", writes.event_ids
        )


def _late_pair(chat: Conversation) -> tuple[Envelope, Envelope]:
    send_id = uuid.uuid4()
    failed = chat.failed(send_id, AMBIGUOUS_FAILURE_CODE, at=JUDGED)
    sent = chat.sent(send_id, at=WENT_OUT)
    sent = sent.model_copy(update={"data": sent.data.model_copy(update={"ambiguous_at": JUDGED})})
    return failed, sent


@pytest.mark.parametrize("sent_first", [False, True])
async def test_it_counts_as_sent_in_its_hour_and_not_as_failed_in_any(
    db_pool: Pool, written: Written, sent_first: bool
) -> None:
    chat = written.chat
    failed, sent = _late_pair(chat)
    await written.apply(*((sent, failed) if sent_first else (failed, sent)))
    rows = await db_pool.fetch(
        "SELECT hour, sent, failed FROM analytics.tenant_hourly WHERE tenant_id = $1 ORDER BY hour",
        chat.tenant_id,
    )
    assert [(row["hour"], row["sent"], row["failed"]) for row in rows] == [
        (datetime(2026, 12, 2, 10, tzinfo=UTC), 0, 0),
        (datetime(2026, 12, 2, 11, tzinfo=UTC), 1, 0),
    ]
    by_code = await db_pool.fetchval(
        "SELECT sum(failed) FROM analytics.number_failures_hourly"
        " WHERE instance_id = $1 AND failure_code = $2",
        chat.instance_id,
        AMBIGUOUS_FAILURE_CODE,
    )
    assert by_code == 0
    # A replay of either event changes nothing.
    await written.apply(sent, failed)
    total = await db_pool.fetchrow(
        "SELECT sum(sent) AS sent, sum(failed) AS failed FROM analytics.tenant_hourly WHERE tenant_id = $1",
        chat.tenant_id,
    )
    assert total is not None
    assert (total["sent"], total["failed"]) == (1, 0)
