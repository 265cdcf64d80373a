"""Kafka settings, nested into each service's own settings class."""

from __future__ import annotations

from pydantic import BaseModel, Field

from contracts import Topic, dead_letter_topic


class KafkaSettings(BaseModel):
    """How a service reaches Kafka and how its topics and consumers are shaped."""

    bootstrap_servers: str = "127.0.0.1:19092"
    # Prepended to every topic name: isolates tests and lets several Mirage
    # installations share one cluster.
    topic_prefix: str = ""
    # Prepended to every consumer group id, for the same reasons.
    group_prefix: str = ""
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # Consumer shape: a fetched batch is processed concurrently across keys.
    max_batch: int = Field(default=256, ge=1)
    # How long one poll waits for records; it returns as soon as any arrive.
    batch_timeout_ms: int = Field(default=200, ge=1)
    session_timeout_ms: int = Field(default=10_000, ge=6_000)
    heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    max_poll_interval_ms: int = Field(default=300_000, ge=10_000)
    # Producer shape.
    linger_ms: int = Field(default=2, ge=0)
    request_timeout_ms: int = Field(default=30_000, ge=1_000)
    # How long start-up waits for the broker before it gives up.
    connect_timeout_s: float = Field(default=10.0, gt=0)
    # Seconds a service waits for in-flight batches when it is asked to stop.
    graceful_timeout_s: float = Field(default=20.0, gt=0)

    def topic(self, topic: Topic | str) -> str:
        """The physical name of a logical topic."""
        return f"{self.topic_prefix}{topic}"

    def group(self, consumer: str) -> str:
        """The physical consumer group id of a logical consumer name."""
        return f"{self.group_prefix}{consumer}"

    def dead_letter(self, topic: Topic | str, consumer: str) -> str:
        """The physical dead-letter topic of `consumer` on `topic`."""
        return self.topic(dead_letter_topic(topic, consumer))
