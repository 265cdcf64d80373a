"""The analytics service on the real Kafka, PostgreSQL and Redis: consume, refresh, rebuild."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from analytics.app import create_app
from analytics.rebuild import rebuild
from analytics.refresher import cache_generation_key
from analytics.settings import AnalyticsRuntime, AnalyticsSettings, RefreshSettings
from analytics.tables import TABLES
from contracts import Envelope, partition_key, topic_of, utc_now
from database import Pool, PostgresSettings
from messaging import KafkaSettings
from redis_client import RedisSettings, create_redis
from testkit import wait_until
from testkit.asgi import served

from .event_factory import Conversation


async def _publish(kafka: KafkaSettings, events: list[Envelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                kafka.topic(topic_of(event)), event.to_json_bytes(), key=partition_key(event)
            )
    finally:
        await producer.stop()


def _traffic(tenant: uuid.UUID, conversations: int) -> list[Envelope]:
    events: list[Envelope] = []
    for _ in range(conversations):
        chat = Conversation(tenant_id=tenant)
        burst = [chat.received(utc_now() - timedelta(seconds=30))]
        events += [*burst, *chat.answered(burst, after=timedelta(seconds=3))]
        failed = uuid.uuid4()
        events += [chat.requested(failed), chat.failed(failed)]
    return events


async def _totals(pool: Pool, tenant: uuid.UUID) -> tuple[int, int, int]:
    row = await pool.fetchrow(
        "SELECT coalesce(sum(sent), 0) AS s, coalesce(sum(received), 0) AS r, coalesce(sum(failed), 0) AS f"
        " FROM analytics.tenant_hourly WHERE tenant_id = $1",
        tenant,
    )
    assert row is not None
    return int(row["s"]), int(row["r"]), int(row["f"])


async def _snapshot(pool: Pool) -> dict[str, list[tuple[Any, ...]]]:
    snapshot = {}
    for table in TABLES:
        rows = await pool.fetch(f"SELECT * FROM analytics.{table.name}")
        snapshot[table.name] = sorted((tuple(row.values()) for row in rows), key=repr)
    return snapshot


async def test_consumes_every_topic_refreshes_and_rebuilds_identical_tables(
    db_pool: Pool,
    postgres_settings: PostgresSettings,
    kafka_settings: KafkaSettings,
    redis_settings: RedisSettings,
) -> None:
    settings = AnalyticsSettings(
        runtime=AnalyticsRuntime(port=0),
        kafka=kafka_settings,
        postgres=postgres_settings,
        redis=redis_settings,
        refresh=RefreshSettings(interval_s=3600),
    )
    tenant: uuid.UUID = await db_pool.fetchval(
        "INSERT INTO tenants (slug, name) VALUES ($1, 'analytics') RETURNING id", uuid.uuid4().hex
    )
    redis = await create_redis(redis_settings)
    try:
        await _run_and_rebuild(settings, db_pool, kafka_settings, redis_settings, redis, tenant)
    finally:
        await redis.aclose()


async def _run_and_rebuild(
    settings: AnalyticsSettings,
    db_pool: Pool,
    kafka_settings: KafkaSettings,
    redis_settings: RedisSettings,
    redis: Redis,
    tenant: uuid.UUID,
) -> None:
    app = create_app(settings)
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        events = _traffic(tenant, 10)
        await _publish(kafka_settings, events)
        await _publish(kafka_settings, events[:7])  # redelivered: counted once
        await wait_until(lambda: _totals(db_pool, tenant), timeout=60, message="the first traffic counted")
        await wait_until(
            lambda: _totals_are(db_pool, tenant, (10, 10, 10)),
            timeout=60,
            message="10 sent, received, failed",
        )

        generation = await redis.get(cache_generation_key(redis_settings))
        refreshed = await client.post("/refresh")
        assert refreshed.status_code == 200, refreshed.text
        assert await redis.get(cache_generation_key(redis_settings)) != generation
        hourly = await db_pool.fetchval(
            "SELECT sum(sent) FROM analytics.tenant_hourly_stats WHERE tenant_id = $1", tenant
        )
        assert hourly == 10

        metrics = (await client.get("/metrics")).text
        for name in (
            "mirage_consumer_lag",
            "mirage_analytics_events_total",
            "mirage_analytics_batch_seconds",
        ):
            assert name in metrics, name

        before = await _snapshot(db_pool)
        report = await rebuild(settings)
        assert report.records >= len(events)
        after = await _snapshot(db_pool)
        assert after == before

        # The running service writes into the swapped-in tables, still once per event.
        more = _traffic(tenant, 3)
        await _publish(kafka_settings, [*more, *events[:3]])
        await wait_until(
            lambda: _totals_are(db_pool, tenant, (13, 13, 13)),
            timeout=60,
            message="the later traffic counted",
        )


async def _totals_are(pool: Pool, tenant: uuid.UUID, expected: tuple[int, int, int]) -> bool:
    totals = await _totals(pool, tenant)
    assert all(value <= limit for value, limit in zip(totals, expected, strict=True)), totals
    return totals == expected
