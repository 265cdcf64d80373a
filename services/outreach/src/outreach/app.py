"""Composition root of the outreach: its only place that wires dependencies."""

from __future__ import annotations

from fastapi import FastAPI

from messaging import MessagingRuntime, create_broker
from outreach.settings import OutreachSettings
from service_runtime import ServiceHost, configure_logging, configure_tracing


def create_app(settings: OutreachSettings) -> FastAPI:
    """Build the outreach process: probes now, campaign quotas in their own issue."""
    configure_logging("outreach", level=settings.runtime.log_level, json_lines=settings.runtime.log_json)
    configure_tracing("mirage-outreach")
    host = ServiceHost("outreach", OutreachSettings)
    broker = create_broker(settings.kafka, client_id="mirage-outreach")
    messaging = MessagingRuntime(broker=broker, settings=settings.kafka)

    async def startup() -> None:
        await host.open_pool(settings.postgres)
        await host.open_redis(settings.redis)
        await host.start_messaging(messaging)

    return host.create_app(title="Mirage outreach", startup=startup)
