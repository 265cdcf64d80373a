"""Composition root of ingest: its only place that wires dependencies."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from contracts import Topic
from ingest.directory import InstanceDirectory
from ingest.intake import WebhookIntake
from ingest.repository import PRODUCER
from ingest.routes import (
    OPENAPI_COMPONENTS,
    EvolutionWebhookEndpoint,
    WebhookShortcut,
    openapi_paths,
    webhook_routes,
)
from ingest.settings import IngestSettings
from messaging import MessagingRuntime, Outbox, OutboxRelay, create_broker
from service_runtime import ServiceHost, configure_logging, configure_tracing


class _Late:
    """Holds what only exists once start-up ran (the pool and what needs it)."""

    intake: WebhookIntake
    relay: OutboxRelay


def create_app(settings: IngestSettings) -> FastAPI:
    """Build ingest: the webhook routes, the outbox relay and the Kafka producer."""
    configure_logging("ingest", level=settings.runtime.log_level, json_lines=settings.runtime.log_json)
    configure_tracing("mirage-ingest")
    host = ServiceHost("ingest", IngestSettings)
    broker = create_broker(settings.kafka, client_id="mirage-ingest")
    outbox = Outbox(PRODUCER, namespace=settings.kafka.topic_prefix)
    late = _Late()

    async def startup() -> None:
        pool = await host.open_pool(settings.postgres)
        relay = OutboxRelay(
            pool=pool, settings=settings.kafka, producer=PRODUCER, metrics=host.messaging_metrics
        )
        messaging = MessagingRuntime(
            broker=broker,
            settings=settings.kafka,
            relay=relay,
            produces=[Topic.MESSAGE_RECEIVED, Topic.INSTANCE_STATUS_CHANGED],
        )
        await host.start_messaging(messaging)
        late.relay = relay
        late.intake = WebhookIntake(
            pool=pool,
            directory=InstanceDirectory(pool, settings.webhook.instance_cache_ttl_s),
            outbox=outbox,
            relay=relay,
            settings=settings.webhook,
        )

    app = host.create_app(
        title="Mirage ingest",
        description="Receives Evolution API webhooks, stores them and publishes `message.received`.",
        startup=startup,
    )
    webhooks = EvolutionWebhookEndpoint(lambda: late.intake, settings.webhook.max_body_bytes)
    app.router.routes.extend(webhook_routes(webhooks))
    app.add_middleware(WebhookShortcut, endpoint=webhooks)
    _document_webhooks(app)
    # What start-up built, for operational tooling and tests that take Kafka away.
    app.state.started = late
    return app


def _document_webhooks(app: FastAPI) -> None:
    """Add the plain webhook routes to the generated OpenAPI document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("paths", {}).update(openapi_paths())
            components = schema.setdefault("components", {})
            for section, entries in OPENAPI_COMPONENTS.items():
                components.setdefault(section, {}).update(entries)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
