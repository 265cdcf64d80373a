"""Prometheus metrics of the Kafka runtime: consumers and the outbox relay.

Metrics live in a registry the service hands in (every service serves its own
registry on `/metrics`), so several runtimes in one process (tests) never
collide on names.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class MessagingMetrics:
    """Every metric the consumers and the outbox relay of one process maintain."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        consumer = ["consumer", "topic"]
        partition = ["consumer", "topic", "partition"]
        self.records = Counter(
            "mirage_consumer_records",
            "Records a consumer finished, by outcome (handled, skipped, dead_lettered).",
            [*consumer, "outcome"],
            registry=self.registry,
        )
        self.handler_seconds = Histogram(
            "mirage_consumer_handler_seconds",
            "Time from a record entering its lane to its work being durable.",
            consumer,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "mirage_consumer_in_flight",
            "Records admitted to lanes and not finished yet.",
            consumer,
            registry=self.registry,
        )
        self.lanes = Gauge(
            "mirage_consumer_lanes", "Keys with records in flight.", consumer, registry=self.registry
        )
        self.infrastructure_retries = Counter(
            "mirage_consumer_infrastructure_retries",
            "Handler attempts that failed because a dependency was unreachable.",
            consumer,
            registry=self.registry,
        )
        self.stalled = Gauge(
            "mirage_consumer_stalled",
            "1 while a record of the partition has kept failing for infrastructure reasons"
            " longer than the stall threshold.",
            partition,
            registry=self.registry,
        )
        self.lag = Gauge(
            "mirage_consumer_lag",
            "Records between the partition's end and the consumer's committed position.",
            partition,
            registry=self.registry,
        )
        self.rebalances = Counter(
            "mirage_consumer_rebalances",
            "Partition revocations this consumer went through.",
            consumer,
            registry=self.registry,
        )
        self.dropped = Counter(
            "mirage_consumer_dropped",
            "Records given back at a revocation or shutdown before they started (redelivered later).",
            consumer,
            registry=self.registry,
        )
        self.outbox_published = Counter(
            "mirage_outbox_published",
            "Events the outbox relay published, by path (fast, sweep).",
            ["producer", "path"],
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "mirage_outbox_depth",
            "Rows of this producer waiting in the outbox (sampled by the sweep).",
            ["producer"],
            registry=self.registry,
        )
        self.outbox_age = Gauge(
            "mirage_outbox_age_seconds",
            "Age of the oldest row of this producer waiting in the outbox (sampled by the sweep).",
            ["producer"],
            registry=self.registry,
        )
