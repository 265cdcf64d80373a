"""The outreach's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class OutreachMetrics:
    """Quota denials and what happens to targets."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.quota_denials = Counter(
            "mirage_outreach_quota_denials",
            "Campaign sends a quota counter refused, by the counter that had no room",
            ["scope"],
            registry=registry,
        )
        self.targets = Counter(
            "mirage_outreach_targets",
            "Campaign targets moved to a state, by state and reason",
            ["state", "reason"],
            registry=registry,
        )
