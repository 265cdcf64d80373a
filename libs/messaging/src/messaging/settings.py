"""Kafka settings, nested into each service's own settings class."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from contracts import Topic, dead_letter_topic


class KafkaSettings(BaseModel):
    """How a service reaches Kafka, how its topics are shaped and how its consumers behave."""

    bootstrap_servers: str = "127.0.0.1:19092"
    # Prepended to every topic name: isolates tests and lets several Mirage
    # installations share one cluster.
    topic_prefix: str = ""
    # Prepended to every consumer group id, for the same reasons.
    group_prefix: str = ""

    # Shape of the topics Mirage creates (existing topics are left as they are). The local
    # stack has one broker; production runs three with replication_factor=3 and
    # min_insync_replicas=2, so an acknowledged write survives the loss of one broker.
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    min_insync_replicas: int = Field(default=1, ge=1)

    # Consumers: records run in per-key lanes; at most this many are admitted and unfinished
    # at once per consumer (the fetch waits beyond it).
    max_in_flight: int = Field(default=1000, ge=1)
    # Finished offsets are committed at most this often (and at every revocation and shutdown).
    # Once a second, as Kafka's own clients do at most: a crash replays at most a second of
    # records, which the consumers' event-id ledgers make harmless, and 200 ms cost five
    # commit requests a second per busy consumer (docs/benchmarks.md).
    commit_interval_ms: int = Field(default=1_000, ge=1)
    # At a revocation, how long the lanes of revoked partitions may take to finish the
    # record they are running before they are stopped.
    revoke_timeout_s: float = Field(default=30.0, gt=0)
    # A record that keeps failing for infrastructure reasons this long raises one admin
    # alert and the `mirage_consumer_stalled` metric.
    stall_alert_after_s: float = Field(default=120.0, gt=0)
    session_timeout_ms: int = Field(default=10_000, ge=6_000)
    heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    max_poll_interval_ms: int = Field(default=300_000, ge=10_000)
    # aiokafka's `consumer_timeout_ms`: how often the background fetcher wakes to look around
    # while its long poll waits. Every event it acts on (a record consumed, a rebalance, a
    # resumed partition, a metadata refresh) wakes it at once; the timeout is only a safety
    # net, and aiokafka's 200 ms default is five wake-ups a second per idle consumer.
    fetcher_idle_check_ms: int = Field(default=1_000, ge=10)

    # Producers. No linger: a record goes out at once, and under load records batch by
    # themselves behind the request in flight. 2 ms cost every hop of a reply up to 2 ms of
    # latency for no CPU saved (docs/benchmarks.md).
    linger_ms: int = Field(default=0, ge=0)
    request_timeout_ms: int = Field(default=30_000, ge=1_000)
    # The outbox relay deletes published rows in bulk at most this often (one DELETE for a
    # second of rows under load; the sweep leaves rows waiting for it alone).
    outbox_delete_interval_ms: int = Field(default=1_000, ge=1)

    # How long start-up waits for the broker before it gives up.
    connect_timeout_s: float = Field(default=10.0, gt=0)
    # Seconds a service waits for in-flight records when it is asked to stop.
    graceful_timeout_s: float = Field(default=20.0, gt=0)

    @model_validator(mode="after")
    def _replicas_fit(self) -> KafkaSettings:
        if self.min_insync_replicas > self.replication_factor:
            raise ValueError("min_insync_replicas cannot exceed replication_factor")
        return self

    def topic(self, topic: Topic | str) -> str:
        """The physical name of a logical topic."""
        return f"{self.topic_prefix}{topic}"

    def group(self, consumer: str) -> str:
        """The physical consumer group id of a logical consumer name."""
        return f"{self.group_prefix}{consumer}"

    def dead_letter(self, topic: Topic | str, consumer: str) -> str:
        """The physical dead-letter topic of `consumer` on `topic`."""
        return self.topic(dead_letter_topic(topic, consumer))
