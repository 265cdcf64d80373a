"""`mirage-analytics rebuild`: replay every topic from its beginning into fresh tables, swap them in.

1. The analytics schema is cloned, empty, as `<schema>_rebuild` (`schema_clone`).
2. Consumer groups of its own (a fresh group prefix, so they start at the earliest offsets; one
   group per topic, like the service's) read every topic into the clone with the same writer
   the service uses, until their committed offsets reach the end offsets taken when it started.
3. In one transaction: the live ledger (`<schema>.processed_events`) is locked, which makes the
   running service's writes wait (or, if one was in progress, waits for it to commit); the
   rebuild catches up to the end offsets taken *now*, so everything the live tables counted is
   in the clone; the clone's views are filled; the schemas are swapped and the old one dropped.
4. The service's waiting writes go on against the new tables (PostgreSQL resolves the names
   again once the lock is granted) and find the events they were writing already claimed in
   the new ledger: nothing is counted twice or lost. The api's cache generation is bumped.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from analytics.metrics import AnalyticsMetrics
from analytics.refresher import cache_generation_key, refresh_view
from analytics.schema_clone import clone_schema
from analytics.settings import AnalyticsSettings
from analytics.tables import VIEWS
from analytics.writer import StatsWriter
from database import create_pool
from messaging import KafkaSettings, MessagingRuntime, create_broker
from redis_client import create_redis

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild did."""

    schema: str
    # The prefix of its consumer groups (one per topic).
    group_prefix: str
    records: int
    seconds: float


async def end_offsets(settings: KafkaSettings, topics: list[str]) -> dict[TopicPartition, int]:
    """The current end offset of every partition of `topics`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    partitions = [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        for partition in topic["partitions"]
    ]
    if len({partition.topic for partition in partitions}) != len(set(topics)):
        raise RuntimeError(f"some of {sorted(topics)} have no partitions: {described}")
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return ends


async def committed_offsets(admin: AIOKafkaAdminClient, group_id: str) -> dict[TopicPartition, int]:
    """The offsets `group_id` has committed."""
    offsets: dict[TopicPartition, Any] = await admin.list_consumer_group_offsets(group_id)
    return {partition: meta.offset for partition, meta in offsets.items() if meta.offset >= 0}


async def wait_caught_up(settings: KafkaSettings, groups: dict[str, str], *, poll_s: float = 0.2) -> None:
    """Wait until each group (of `groups`: group id -> its physical topic) committed every
    partition up to the end offsets taken now."""
    waiting = dict(groups)
    ends = await end_offsets(settings, sorted(set(waiting.values())))
    # One admin connection for the whole wait (it asks each group every `poll_s`).
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        while waiting:
            for group_id, topic in list(waiting.items()):
                committed = await committed_offsets(admin, group_id)
                if all(committed.get(tp, 0) >= end for tp, end in ends.items() if tp.topic == topic):
                    del waiting[group_id]
            if waiting:
                await asyncio.sleep(poll_s)
    finally:
        await admin.close()


async def rebuild(settings: AnalyticsSettings) -> RebuildReport:
    """Replay every topic into fresh tables and swap them in (see the module doc)."""
    started = time.perf_counter()
    live = settings.schema_name
    target = f"{live}_rebuild"
    pool = await create_pool(settings.postgres, application_name="mirage-analytics-rebuild")
    redis = await create_redis(settings.redis)
    # A group id of its own (so it starts at the beginning); the consumer name, and so the
    # dead-letter topics, stay the service's.
    kafka = settings.kafka.model_copy(
        update={"group_prefix": f"{settings.kafka.group_prefix}rebuild-{uuid.uuid4().hex[:8]}."}
    )
    writer = StatsWriter(settings, AnalyticsMetrics(), schema=target)
    writer.bind(pool=pool)
    broker = create_broker(kafka, client_id="mirage-analytics-rebuild")
    runtime = MessagingRuntime(broker=broker, settings=kafka)
    consumers = writer.consume_every_topic(runtime)
    runtime.register()
    groups = {consumer.group_id: consumer.physical_topic for consumer in consumers}
    running = False
    try:
        async with pool.acquire() as conn, conn.transaction():
            await clone_schema(conn, live, target)
        await runtime.start()
        running = True
        await wait_caught_up(kafka, groups)
        log.info("rebuild caught up; swapping", group_prefix=kafka.group_prefix)
        async with pool.acquire() as conn, conn.transaction():
            # The live writers wait from here on (or we wait for the one in progress).
            await conn.execute(f"LOCK TABLE {live}.processed_events IN SHARE ROW EXCLUSIVE MODE")
            await wait_caught_up(kafka, groups)
            # Nothing of the rebuild may write to the clone once it is renamed.
            await runtime.stop()
            running = False
            await conn.execute("SET LOCAL statement_timeout = 0")
            for view in VIEWS:
                await refresh_view(conn, target, view, concurrently=False)
            retired = f"{live}_retired"
            await conn.execute(f"DROP SCHEMA IF EXISTS {retired} CASCADE")
            await conn.execute(f"ALTER SCHEMA {live} RENAME TO {retired}")
            await conn.execute(f"ALTER SCHEMA {target} RENAME TO {live}")
            await conn.execute(f"DROP SCHEMA {retired} CASCADE")
        records = sum((await end_offsets(kafka, sorted(set(groups.values())))).values())
    finally:
        if running:
            await runtime.stop()
        await writer.close()
        await pool.close()
    await redis.incr(cache_generation_key(settings.redis))
    await redis.aclose()
    seconds = time.perf_counter() - started
    log.info("analytics rebuilt", group_prefix=kafka.group_prefix, seconds=round(seconds, 1))
    return RebuildReport(schema=live, group_prefix=kafka.group_prefix, records=records, seconds=seconds)
