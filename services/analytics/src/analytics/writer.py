"""The consumer side: every topic's events into the stats tables, in group-committed batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analytics.batching import GroupCommit
from analytics.metrics import AnalyticsMetrics
from analytics.projection import Change, Projection
from analytics.repository import Applied, StatsRepository
from analytics.settings import AnalyticsSettings
from contracts import Envelope, Topic
from database import Pool
from messaging import Handler, KeyedConsumer, MessagingRuntime, consumer_groups_of
from service_runtime import BoundAtStartup


class StatsWriter:
    """Consumes events of every topic (one `KeyedConsumer` each); its pool is bound at start-up."""

    pool = BoundAtStartup[Pool]()

    def __init__(
        self, settings: AnalyticsSettings, metrics: AnalyticsMetrics, *, schema: str | None = None
    ) -> None:
        self.projection = Projection(settings.cost)
        self.repository = StatsRepository(schema or settings.schema_name)
        self.metrics = metrics
        self.commit = GroupCommit(
            self._write,
            max_batch=settings.writer.max_batch,
            linger_s=settings.writer.linger_ms / 1000,
            observe=metrics.batch,
        )

    def bind(self, *, pool: Pool) -> None:
        """Attach the pool opened at start-up (before the consumers start)."""
        self.pool = pool

    def consume_every_topic(self, runtime: MessagingRuntime) -> list[KeyedConsumer[Any]]:
        """Add this writer's consumer of each topic to `runtime`, in the groups `messaging.topology`
        declares for analytics (the service and the rebuild read the same way)."""
        return [
            runtime.consume(group.topic, group.name, self.handler(group.topic), group=group.group)
            for group in consumer_groups_of("analytics")
        ]

    def handler(self, topic: Topic) -> Handler[Envelope]:
        """The typed handler of `topic`'s consumer: the event's change, written before it returns."""

        async def on_event(event: Envelope) -> None:
            await self.record(event, topic)

        on_event.__name__ = on_event.__qualname__ = f"on_{topic.value.replace('.', '_')}"
        return on_event

    async def record(self, event: Envelope, topic: Topic) -> None:
        """Apply one event's change; returns once it is committed (or raises)."""
        change = self.projection.change(event, topic.value)
        if change.empty:
            self.metrics.events.labels("ignored").inc()
            return
        await self.commit.submit(change)

    async def _write(self, changes: Sequence[Change]) -> Applied:
        async with self.pool.acquire() as conn, conn.transaction():
            return await self.repository.apply(conn, changes)

    async def close(self) -> None:
        """Stop the batch writer (after the consumers finished)."""
        await self.commit.close()
