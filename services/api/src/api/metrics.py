"""Operational metrics of one api process (Prometheus), served on `/metrics` by the service host.

They live in the app's own registry (`ServiceHost.registry`), so several apps in one
process (tests, two replicas in-process) never collide on metric names.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ApiMetrics:
    """The counters and gauges the api maintains."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.rate_limit_fail_open = Counter(
            "mirage_api_rate_limit_fail_open",
            "Requests served without a rate-limit decision because Redis failed or was skipped.",
            registry=self.registry,
        )
        self.rate_limit_rejected = Counter(
            "mirage_api_rate_limit_rejected",
            "Requests refused with 429, by endpoint.",
            ["endpoint"],
            registry=self.registry,
        )
        self.live_clients = Gauge(
            "mirage_api_live_clients", "Open `/events` streams in this process.", registry=self.registry
        )
        self.live_events = Counter(
            "mirage_api_live_events",
            "instance.status_changed events received by this process's live listener.",
            registry=self.registry,
        )
        self.alerts_delivered = Counter(
            "mirage_api_alerts_delivered",
            "Admin alerts POSTed to tenant webhooks, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
