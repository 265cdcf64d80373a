"""Start and stop a service's Kafka side in the order that loses nothing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from faststream.kafka import KafkaBroker

from contracts import Envelope, Topic
from messaging.admin import cluster_metadata, ensure_topics
from messaging.backoff import RetryPolicy
from messaging.consumer import Handler, KeyedConsumer
from messaging.metrics import MessagingMetrics
from messaging.outbox import OutboxRelay
from messaging.settings import KafkaSettings

EventT = TypeVar("EventT", bound=Envelope)


@dataclass
class MessagingRuntime:
    """A service's broker, consumers and outbox relay, started and stopped together."""

    broker: KafkaBroker
    settings: KafkaSettings
    consumers: list[KeyedConsumer[Any]] = field(default_factory=list)
    relay: OutboxRelay | None = None
    # Logical topics the service publishes to (created at start like the consumed ones).
    produces: Iterable[Topic] = field(default_factory=tuple)
    # The service's metrics registry for the consumers `consume` adds.
    metrics: MessagingMetrics | None = None

    def consume(
        self,
        topic: Topic,
        consumer: str,
        handler: Handler[EventT],
        *,
        accepts: Sequence[type[EventT]] | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int | None = None,
        group: str | None = None,
    ) -> KeyedConsumer[EventT]:
        """Add one consumer group (`group`, by default `consumer`) on `topic`, on this runtime's
        broker, settings and metrics; `register` declares it with the others."""
        keyed = KeyedConsumer(
            broker=self.broker,
            settings=self.settings,
            topic=topic,
            consumer=consumer,
            handler=handler,
            accepts=accepts,
            retry=retry,
            max_concurrency=max_concurrency,
            metrics=self.metrics,
            group=group,
        )
        self.consumers.append(keyed)
        return keyed

    def register(self) -> None:
        """Declare every consumer's subscriber on the broker."""
        for consumer in self.consumers:
            consumer.register()

    async def start(self) -> None:
        """Create missing topics, connect, start consuming and relaying."""
        topics = {self.settings.topic(topic) for topic in self.produces}
        for consumer in self.consumers:
            topics.update(consumer.topics)
        await ensure_topics(self.settings, topics)
        for consumer in self.consumers:
            await consumer.start()
        await self.broker.start()
        if self.relay is not None:
            await self.relay.start()

    async def stop(self) -> None:
        """Finish the records in flight and commit them, flush the outbox, then disconnect.

        Consumers close before their subscribers stop: committing needs the aiokafka
        consumer, which stops with its subscriber.
        """
        for consumer in self.consumers:
            await consumer.close()
        for subscriber in self.broker.subscribers:
            await subscriber.stop()
        if self.relay is not None:
            await self.relay.stop()
        await self.broker.stop()

    async def check_ready(self) -> None:
        """Readiness: the cluster answers a metadata request."""
        await cluster_metadata(self.settings)
