"""Start and stop a service's Kafka side in the order that loses nothing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from faststream.kafka import KafkaBroker

from contracts import Topic
from messaging.admin import cluster_metadata, ensure_topics
from messaging.consumer import KeyedConsumer
from messaging.outbox import OutboxRelay
from messaging.settings import KafkaSettings


@dataclass
class MessagingRuntime:
    """A service's broker, consumers and outbox relay, started and stopped together."""

    broker: KafkaBroker
    settings: KafkaSettings
    consumers: Sequence[KeyedConsumer[Any]] = ()
    relay: OutboxRelay | None = None
    # Logical topics the service publishes to (created at start like the consumed ones).
    produces: Iterable[Topic] = field(default_factory=tuple)

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
