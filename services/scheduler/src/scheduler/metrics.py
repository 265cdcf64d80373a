"""The scheduler's operational metrics (Prometheus), on the process's `/metrics`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class SchedulerMetrics:
    """Rounds started and ended, skips by reason, turns requested, leadership."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()
        self.rounds_started = Counter(
            "mirage_warmup_rounds_started", "Warm-up rounds started.", ["trigger"], registry=registry
        )
        self.rounds_ended = Counter(
            "mirage_warmup_rounds_ended", "Warm-up rounds ended, by outcome.", ["outcome"], registry=registry
        )
        self.skips = Counter(
            "mirage_warmup_skips",
            "Pairs skipped at a scan or tick, by reason.",
            ["reason"],
            registry=registry,
        )
        self.turns_requested = Counter(
            "mirage_warmup_turns_requested", "Warm-up turns handed to the generator.", registry=registry
        )
        self.leader = Gauge(
            "mirage_scheduler_leader",
            "1 while this replica holds the scheduler's leadership.",
            registry=registry,
        )
