"""Analytics ingest benchmark: events per second consumed into the stats tables.

N `message.sent` events (one per send, spread over many conversations as the pipeline keys
them) are put on a topic of this run's own. Then, on the real Kafka and PostgreSQL:

- **baseline**: the same topic consumed by the same runtime (`KeyedConsumer`: parse, per-key
  lanes, commits after the handler) with a handler that does nothing: what consuming the topic
  costs before any statistic is written;
- **analytics**: the analytics service's writer (`StatsWriter`: projection, group-committed
  batches, the event-id claim, counters and facts) on the same topic with a group of its own.

Both are timed from their first handled record to their N-th, so the consumer group's join is
left out of both, in `ROUNDS` interleaved rounds (each side keeps its best), with the heap frozen
as a service process's is after start-up. The result is checked: every round's stats count
exactly N sends. The bare aiokafka fetch rate of the topic is reported too, for scale.
Goal: ratio >= 0.5.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import SecretStr

from analytics.metrics import AnalyticsMetrics
from analytics.settings import AnalyticsSettings
from analytics.tables import TABLES
from analytics.writer import StatsWriter
from bench.harness import bench_line, fresh_database, frozen_heap, infrastructure
from contracts import Envelope, MessageSent, MessageSentData, SendPurpose, Topic, partition_key
from database import PostgresSettings, create_pool
from messaging import KafkaSettings, KeyedConsumer, MessagingRuntime, create_broker, ensure_topics
from testkit import wait_until
from testkit.namespaces import new_namespace

EVENTS = 20_000
CONVERSATIONS = 2_000
# Interleaved rounds of each side; each side's best counts.
ROUNDS = 3


def _events(tenant: uuid.UUID, instances: list[uuid.UUID]) -> list[MessageSent]:
    conversations = [uuid.uuid4() for _ in range(CONVERSATIONS)]
    now = datetime.now(UTC)
    return [
        MessageSent(
            tenant_id=tenant,
            correlation_id=uuid.uuid4(),
            data=MessageSentData(
                send_id=uuid.uuid4(),
                instance_id=instances[index % len(instances)],
                instance_name="bench",
                conversation_id=conversations[index % CONVERSATIONS],
                to=f"55119{index % CONVERSATIONS:08d}",
                provider_message_id=uuid.uuid4().hex,
                attempts=1,
                purpose=SendPurpose.REPLY,
                sent_at=now,
            ),
        )
        for index in range(EVENTS)
    ]


async def _publish(kafka: KafkaSettings, events: list[MessageSent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    try:
        topic = kafka.topic(Topic.MESSAGE_SENT)
        futures = [
            await producer.send(topic, event.to_json_bytes(), key=partition_key(event)) for event in events
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class _Clock:
    """First and N-th handled record."""

    def __init__(self) -> None:
        """Nothing handled yet."""
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None

    def tick(self) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.count += 1
        if self.count == EVENTS:
            self.last = now

    @property
    def rate(self) -> float:
        if self.first is None or self.last is None:
            raise RuntimeError("not every record was handled")
        return (EVENTS - 1) / (self.last - self.first)


async def _consume(kafka: KafkaSettings, consumer_name: str, handle: object) -> _Clock:
    clock = _Clock()
    broker = create_broker(kafka, client_id=f"bench-{consumer_name}")

    async def handler(event: Envelope) -> None:
        await handle(event)  # type: ignore[operator]
        clock.tick()

    runtime = MessagingRuntime(
        broker=broker,
        settings=kafka,
        consumers=[
            KeyedConsumer(
                broker=broker,
                settings=kafka,
                topic=Topic.MESSAGE_SENT,
                consumer=consumer_name,
                handler=handler,
            )
        ],
    )
    runtime.register()
    await runtime.start()
    try:
        await wait_until(
            lambda: clock.last is not None, timeout=600, interval=0.1, message=f"{consumer_name} done"
        )
    finally:
        await runtime.stop()
    return clock


async def _bare_fetch(kafka: KafkaSettings) -> float:
    consumer = AIOKafkaConsumer(
        kafka.topic(Topic.MESSAGE_SENT),
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    seen, first = 0, None
    try:
        while seen < EVENTS:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batch.values():
                if first is None and records:
                    first = time.perf_counter()
                seen += len(records)
        assert first is not None
        return (seen - 1) / (time.perf_counter() - first)
    finally:
        await consumer.stop()


async def main() -> list[str]:
    """Run the benchmark; its BENCH line."""
    async with infrastructure() as infra:
        dsn = await fresh_database(infra, "analytics")
        namespace = new_namespace("b")
        kafka = KafkaSettings(
            bootstrap_servers=infra.kafka_bootstrap,
            topic_prefix=f"{namespace}.",
            group_prefix=f"{namespace}.",
            partitions=6,
        )
        conn = await asyncpg.connect(dsn)
        try:
            tenant = await conn.fetchval(
                "INSERT INTO tenants (slug, name) VALUES ($1, 'bench') RETURNING id", uuid.uuid4().hex
            )
        finally:
            await conn.close()
        await ensure_topics(kafka, [kafka.topic(Topic.MESSAGE_SENT)])
        await _publish(kafka, _events(tenant, [uuid.uuid4() for _ in range(20)]))
        bare = await _bare_fetch(kafka)

        async def nothing(event: Envelope) -> None:
            """Consumed, nothing written."""

        postgres = PostgresSettings(dsn=SecretStr(dsn), pool_min_size=2, pool_max_size=10)
        pool = await create_pool(postgres, application_name="bench-analytics")
        settings = AnalyticsSettings(kafka=kafka, postgres=postgres)
        writer = StatsWriter(settings, AnalyticsMetrics())
        writer.bind(pool=pool)
        schema = settings.schema_name
        emptied = ", ".join(f"{schema}.{name}" for name in ("processed_events", *(t.name for t in TABLES)))

        async def record(event: Envelope) -> None:
            await writer.record(event, Topic.MESSAGE_SENT)

        baseline_rates: list[float] = []
        analytics_rates: list[float] = []
        counted_correctly = True
        try:
            # Interleaved rounds, each side keeping its best: a shared machine's noise (another
            # process's burst, a checkpoint's fsync) lands on one round of one side, not on the
            # result. Each round reads the whole topic in a group of its own, and the analytics
            # side starts from empty stats tables, so every round does the same work.
            for round_index in range(ROUNDS):
                with frozen_heap():  # as the analytics process's heap is
                    baseline_rates.append((await _consume(kafka, f"raw-{round_index}", nothing)).rate)
                await pool.execute(f"TRUNCATE {emptied}")
                with frozen_heap():
                    analytics_rates.append((await _consume(kafka, f"analytics-{round_index}", record)).rate)
                counted = await pool.fetchval(
                    f"SELECT sum(sent) FROM {schema}.tenant_hourly WHERE tenant_id = $1",
                    tenant,
                )
                facts = await pool.fetchval(
                    f"SELECT count(*) FROM {schema}.sends WHERE tenant_id = $1",
                    tenant,
                )
                counted_correctly = counted_correctly and counted == EVENTS and facts == EVENTS
        finally:
            await writer.close()
            await pool.close()
        analytics, baseline = max(analytics_rates), max(baseline_rates)
        ratio = analytics / baseline
        return [
            bench_line(
                "analytics_ingest",
                events=EVENTS,
                conversations=CONVERSATIONS,
                events_per_s=round(analytics, 1),
                baseline_events_per_s=round(baseline, 1),
                rounds=ROUNDS,
                ratio=round(ratio, 3),
                goal_ratio=0.5,
                goal_met=ratio >= 0.5,
                counted_correctly=counted_correctly,
                bare_fetch_events_per_s=round(bare, 1),
                # Every round of each side, in order: how much the machine moved during the run.
                rounds_events_per_s="/".join(f"{rate:.0f}" for rate in analytics_rates),
                rounds_baseline_events_per_s="/".join(f"{rate:.0f}" for rate in baseline_rates),
            )
        ]


if __name__ == "__main__":
    asyncio.run(main())
