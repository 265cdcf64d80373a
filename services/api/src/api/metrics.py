"""Operational metrics of one api process (Prometheus), served on `/metrics`.

Each app gets its own registry, so several apps in one process (tests, two
replicas in-process) never collide on metric names.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest


class ApiMetrics:
    """The counters and gauges the api maintains."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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


def metrics_router(metrics: ApiMetrics) -> APIRouter:
    """`GET /metrics` in the Prometheus text format (unauthenticated, for scrapers)."""
    router = APIRouter(tags=["operations"])

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    async def prometheus_metrics() -> Response:
        """The process's operational metrics."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
