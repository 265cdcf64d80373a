"""Composition root of the analytics service: its only place that wires dependencies."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException

from analytics.instance_states import InstanceStates
from analytics.metrics import AnalyticsMetrics
from analytics.refresher import ViewRefresher
from analytics.settings import AnalyticsSettings
from analytics.writer import StatsWriter
from messaging import MessagingRuntime, create_broker
from service_runtime import ServiceHost, configure_logging, configure_tracing


class _Started:
    """What only exists once start-up ran."""

    refresher: ViewRefresher | None = None


def create_app(settings: AnalyticsSettings) -> FastAPI:
    """Build the analytics process: a consumer group on every topic (`messaging.topology`),
    the group-committing stats writer and the view refresher, behind the probes and `/metrics`."""
    configure_logging("analytics", level=settings.runtime.log_level, json_lines=settings.runtime.log_json)
    configure_tracing("mirage-analytics")
    host = ServiceHost("analytics", AnalyticsSettings)
    metrics = AnalyticsMetrics(host.registry)
    writer = StatsWriter(settings, metrics)
    states = InstanceStates(host.registry)
    broker = create_broker(settings.kafka, client_id="mirage-analytics")
    messaging = MessagingRuntime(
        broker=broker,
        settings=settings.kafka,
        metrics=host.messaging_metrics,
    )
    writer.consume_every_topic(messaging)
    messaging.register()
    started = _Started()

    async def startup() -> None:
        pool = await host.open_pool(settings.postgres)
        redis = await host.open_redis(settings.redis)
        writer.bind(pool=pool)
        # Closed after the consumers (registered first, closed last): their records finish first.
        host.on_close(writer.close)
        await host.start_messaging(messaging)
        refresher = ViewRefresher(
            pool=pool,
            redis=redis,
            redis_settings=settings.redis,
            schema=settings.schema_name,
            interval_s=settings.refresh.interval_s,
            statement_timeout_s=settings.refresh.statement_timeout_s,
            metrics=metrics,
        )
        refresher.start()
        host.on_close(refresher.stop)
        started.refresher = refresher
        states.start(pool)
        host.on_close(states.stop)

    app = host.create_app(
        title="Mirage analytics",
        description="Consumes every topic into the stats tables and refreshes their materialized views.",
        startup=startup,
    )

    @app.post("/refresh", tags=["operations"], summary="Refresh the stats views now")
    async def refresh_now() -> dict[str, Any]:
        """Refresh every materialized view CONCURRENTLY and invalidate the api's stats cache."""
        if started.refresher is None:
            raise HTTPException(503, "not started")
        report = await started.refresher.refresh()
        return {
            "refreshed": list(report.refreshed),
            "skipped": list(report.skipped),
            "seconds": report.seconds,
        }

    return app
