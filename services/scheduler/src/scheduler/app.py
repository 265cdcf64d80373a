"""Composition root of the scheduler: its only place that wires dependencies."""

from __future__ import annotations

from fastapi import FastAPI

from messaging import MessagingRuntime, create_broker
from scheduler.settings import SchedulerSettings
from service_runtime import ServiceHost, configure_logging, configure_tracing


def create_app(settings: SchedulerSettings) -> FastAPI:
    """Build the scheduler process: probes now, warm-up rounds in their own issue."""
    configure_logging("scheduler", level=settings.runtime.log_level, json_lines=settings.runtime.log_json)
    configure_tracing("mirage-scheduler")
    host = ServiceHost("scheduler", SchedulerSettings)
    broker = create_broker(settings.kafka, client_id="mirage-scheduler")
    messaging = MessagingRuntime(broker=broker, settings=settings.kafka)

    async def startup() -> None:
        await host.open_pool(settings.postgres)
        await host.open_redis(settings.redis)
        await host.start_messaging(messaging)

    return host.create_app(title="Mirage scheduler", startup=startup)
