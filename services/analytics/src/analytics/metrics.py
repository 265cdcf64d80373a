"""Operational metrics of the analytics service (Prometheus, on its `/metrics`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from analytics.repository import Applied


class AnalyticsMetrics:
    """Batches written, events counted, views refreshed."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.events = Counter(
            "mirage_analytics_events",
            "Events consumed into the stats, by outcome (counted, duplicate: already counted,"
            " facts: facts only, ignored: no statistic reads it).",
            ["outcome"],
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "mirage_analytics_batch_seconds",
            "Time to write one batch of events (one transaction).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.batch_events = Histogram(
            "mirage_analytics_batch_events",
            "Events per written batch.",
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
            registry=self.registry,
        )
        self.refresh_seconds = Histogram(
            "mirage_analytics_refresh_seconds",
            "Time to refresh one materialized view CONCURRENTLY.",
            ["view"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0),
            registry=self.registry,
        )
        self.refresh_failures = Counter(
            "mirage_analytics_refresh_failures",
            "Refreshes of a view that failed (the previous contents stay readable).",
            ["view"],
            registry=self.registry,
        )
        self.last_refresh = Gauge(
            "mirage_analytics_last_refresh_timestamp_seconds",
            "When this process last finished refreshing the views (Unix time).",
            registry=self.registry,
        )

    def batch(self, applied: Applied, seconds: float) -> None:
        """Record one written batch."""
        self.batch_seconds.observe(seconds)
        self.batch_events.observe(applied.events)
        self.events.labels("counted").inc(applied.counted)
        self.events.labels("duplicate").inc(applied.duplicates)
        self.events.labels("facts").inc(applied.events - applied.counted - applied.duplicates)
