"""The stats tables and views on a real PostgreSQL: counted once, in any order, read while refreshed."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from analytics.metrics import AnalyticsMetrics
from analytics.projection import Change, Projection
from analytics.refresher import refresh_view
from analytics.repository import StatsRepository
from analytics.schema_clone import clone_schema
from analytics.settings import AnalyticsSettings, CostSettings
from analytics.tables import TABLES, VIEWS
from analytics.writer import StatsWriter
from contracts import Envelope, topic_of
from database import Pool

from .event_factory import Conversation

PROJECTION = Projection(CostSettings())
SCHEMA = "analytics"


def _changes(events: list[Envelope]) -> list[Change]:
    return [PROJECTION.change(event, topic_of(event).value) for event in events]


async def _apply(pool: Pool, events: list[Envelope], schema: str = SCHEMA) -> None:
    repository = StatsRepository(schema)
    async with pool.acquire() as conn, conn.transaction():
        await repository.apply(conn, _changes(events))


async def _refresh(pool: Pool, schema: str = SCHEMA) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for view in VIEWS:
            await refresh_view(conn, schema, view)


async def _tenant(pool: Pool) -> uuid.UUID:
    tenant: uuid.UUID = await pool.fetchval(
        "INSERT INTO tenants (slug, name, time_zone) VALUES ($1, 'stats', 'America/Sao_Paulo') RETURNING id",
        uuid.uuid4().hex,
    )
    return tenant


def _traffic(tenant: uuid.UUID, start: datetime) -> tuple[list[Envelope], Conversation]:
    """Two conversations on one number: bursts answered in 4 s and 10 s, one failed send."""
    first = Conversation(tenant_id=tenant)
    second = Conversation(tenant_id=tenant, instance_id=first.instance_id)
    burst = [first.received(start), first.received(start + timedelta(seconds=1))]
    events: list[Envelope] = [*burst, *first.answered(burst, after=timedelta(seconds=4))]
    alone = second.received(start + timedelta(minutes=5))
    events += [alone, *second.answered([alone], after=timedelta(seconds=10))]
    failed_send = uuid.uuid4()
    events += [
        second.requested(failed_send),
        second.failed(failed_send, "not_on_whatsapp", at=start + timedelta(minutes=6)),
    ]
    return events, first


async def test_counts_and_response_times_land_in_the_tenants_hour(db_pool: Pool) -> None:
    tenant = await _tenant(db_pool)
    start = datetime(2026, 12, 2, 13, 10, tzinfo=UTC)
    events, chat = _traffic(tenant, start)
    await _apply(db_pool, events)
    await _refresh(db_pool)
    row = await db_pool.fetchrow(
        "SELECT * FROM analytics.tenant_hourly_stats WHERE tenant_id = $1 AND hour = $2",
        tenant,
        datetime(2026, 12, 2, 13, tzinfo=UTC),
    )
    assert row is not None
    assert (row["sent"], row["received"], row["failed"]) == (2, 3, 1)
    assert row["responses"] == 2
    assert row["avg_response_ms"] == 7000
    assert row["p90_response_ms"] == 9400  # percentile_cont over 4 s and 10 s
    number = await db_pool.fetchrow(
        "SELECT * FROM analytics.number_daily_stats WHERE instance_id = $1", chat.instance_id
    )
    assert number is not None
    # 13:10 UTC is 10:10 in São Paulo: the same day.
    assert number["day"].isoformat() == "2026-12-02"
    assert (number["sent"], number["received"], number["active_conversations"]) == (2, 3, 2)
    assert number["failures_by_code"] == {"not_on_whatsapp": 1}


async def test_a_replayed_event_is_not_counted_twice_and_facts_merge_in_any_order(db_pool: Pool) -> None:
    tenant = await _tenant(db_pool)
    events, _ = _traffic(tenant, datetime(2026, 12, 3, 9, tzinfo=UTC))
    shuffled = list(events)
    random.Random(7).shuffle(shuffled)
    await _apply(db_pool, shuffled[:4])
    await _apply(db_pool, shuffled)  # a redelivery of the first four, plus the rest
    await _apply(db_pool, [events[0], events[0]])  # twice in one batch
    await _refresh(db_pool)
    totals = await db_pool.fetchrow(
        "SELECT sum(sent) AS sent, sum(received) AS received, sum(failed) AS failed,"
        " sum(responses) AS responses"
        " FROM analytics.tenant_hourly_stats WHERE tenant_id = $1",
        tenant,
    )
    assert totals is not None
    assert (totals["sent"], totals["received"], totals["failed"], totals["responses"]) == (2, 3, 1, 2)


async def test_the_writer_counts_events_handled_concurrently_once(db_pool: Pool) -> None:
    settings = AnalyticsSettings()
    writer = StatsWriter(settings, AnalyticsMetrics())
    writer.bind(pool=db_pool)
    tenant = await _tenant(db_pool)
    chats = [Conversation(tenant_id=tenant) for _ in range(40)]
    events = [chat.received() for chat in chats]
    await asyncio.gather(*(writer.record(event, topic_of(event)) for event in [*events, *events[:10]]))
    await writer.close()
    received = await db_pool.fetchval(
        "SELECT sum(received) FROM analytics.tenant_hourly WHERE tenant_id = $1", tenant
    )
    assert received == 40


async def test_reads_go_on_while_a_view_is_refreshed(db_pool: Pool, postgres_settings: Any) -> None:
    """A reader with a 1 s lock timeout reads the old contents while a refresh is in progress."""
    tenant = await _tenant(db_pool)
    events, _ = _traffic(tenant, datetime(2026, 12, 4, 9, tzinfo=UTC))
    await _apply(db_pool, events[:5])  # the first burst and its reply
    await _refresh(db_pool)
    await _apply(db_pool, events[5:])
    dsn = postgres_settings.dsn.get_secret_value()
    refresher = await asyncpg.connect(dsn)
    reader = await asyncpg.connect(dsn, server_settings={"lock_timeout": "1000"})
    read = "SELECT coalesce(sum(sent), 0) FROM analytics.tenant_hourly_stats WHERE tenant_id = $1"
    try:
        transaction = refresher.transaction()
        await transaction.start()
        await refresher.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.tenant_hourly_stats")
        # The refresh holds its lock until it commits; readers are not blocked meanwhile.
        for _ in range(5):
            assert await reader.fetchval(read, tenant) == 1
        await transaction.commit()
        assert await reader.fetchval(read, tenant) == 2
        # The control: a plain REFRESH does block readers (so the check above can fail).
        transaction = refresher.transaction()
        await transaction.start()
        await refresher.execute("REFRESH MATERIALIZED VIEW analytics.tenant_hourly_stats")
        try:
            await reader.fetchval(read, tenant)
        except asyncpg.exceptions.LockNotAvailableError:
            blocked = True
        else:
            blocked = False
        await transaction.rollback()
        assert blocked
    finally:
        await refresher.close()
        await reader.close()


async def _snapshot(pool: Pool, schema: str, tenant: uuid.UUID) -> dict[str, list[tuple[Any, ...]]]:
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for name in (*(table.name for table in TABLES), *VIEWS):
        rows = await pool.fetch(f"SELECT * FROM {schema}.{name} WHERE tenant_id = $1", tenant)
        tables[name] = sorted((tuple(row.values()) for row in rows), key=repr)
    return tables


async def test_a_clone_of_the_schema_fed_the_same_events_in_another_order_is_identical(db_pool: Pool) -> None:
    tenant = await _tenant(db_pool)
    events, _ = _traffic(tenant, datetime(2026, 12, 5, 9, tzinfo=UTC))
    await _apply(db_pool, events)
    await _refresh(db_pool)
    async with db_pool.acquire() as conn, conn.transaction():
        created = await clone_schema(conn, "analytics", "analytics_clone_test")
    try:
        assert set(created) >= {table.name for table in TABLES} | set(VIEWS)
        reordered = list(reversed(events))
        await _apply(db_pool, reordered[:5], schema="analytics_clone_test")
        await _apply(db_pool, reordered, schema="analytics_clone_test")
        async with db_pool.acquire() as conn, conn.transaction():
            for view in VIEWS:
                await refresh_view(conn, "analytics_clone_test", view, concurrently=False)
        assert await _snapshot(db_pool, "analytics_clone_test", tenant) == await _snapshot(
            db_pool, "analytics", tenant
        )
        # Indexes keep their names, so later migrations can name them.
        names = await db_pool.fetchval(
            "SELECT array_agg(indexname ORDER BY indexname) FROM pg_indexes WHERE schemaname = $1",
            "analytics",
        )
        clone_names = await db_pool.fetchval(
            "SELECT array_agg(indexname ORDER BY indexname) FROM pg_indexes WHERE schemaname = $1",
            "analytics_clone_test",
        )
        assert names == clone_names
    finally:
        await db_pool.execute("DROP SCHEMA analytics_clone_test CASCADE")
