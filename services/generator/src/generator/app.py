"""Composition root of the generator: its only place that wires dependencies."""

from __future__ import annotations

import os
from collections.abc import Mapping

import structlog
from fastapi import FastAPI

from contracts import Topic
from generator.campaign_messages import PERSONALISE_CONSUMER, CampaignPersonaliser
from generator.replies import CONSUMER, PRODUCER, ReplyGenerator
from generator.reply_model import ModelMetrics, build_reply_model
from generator.settings import GeneratorSettings
from generator.turns import TURN_CONSUMER, TurnWriter
from generator.vision import VisionModel
from messaging import MessagingRuntime, OutboxRelay, create_broker
from service_runtime import ServiceHost, configure_logging, configure_tracing

log = structlog.get_logger(__name__)


def create_app(settings: GeneratorSettings, *, environ: Mapping[str, str] | None = None) -> FastAPI:
    """Build the generator process.

    `environ` is where `OPENAI_API_KEY`/`OPENAI_BASE_URL` are looked up as fallbacks for the
    model settings (the process environment unless given).
    """
    configure_logging("generator", level=settings.runtime.log_level, json_lines=settings.runtime.log_json)
    configure_tracing("mirage-generator")
    host = ServiceHost("generator", GeneratorSettings)
    endpoint = settings.model.endpoint(os.environ if environ is None else environ)
    model = build_reply_model(endpoint, metrics=ModelMetrics(host.registry))
    vision_endpoint = settings.vision.endpoint(endpoint, os.environ if environ is None else environ)
    vision = VisionModel(vision_endpoint) if vision_endpoint is not None else None
    generator = ReplyGenerator(settings, model, vision)
    turns = TurnWriter(model, settings.warmup_typing, namespace=settings.kafka.topic_prefix)
    campaign_messages = CampaignPersonaliser(model, namespace=settings.kafka.topic_prefix)
    broker = create_broker(settings.kafka, client_id="mirage-generator")
    messaging = MessagingRuntime(
        broker=broker,
        settings=settings.kafka,
        produces=(Topic.REPLY_GENERATED, Topic.SEND_REQUESTED),
        metrics=host.messaging_metrics,
    )
    # Concurrent across conversations, in order within one.
    messaging.consume(
        Topic.REPLY_REQUESTED,
        CONSUMER,
        generator.on_reply_requested,
        max_concurrency=settings.max_concurrent_conversations,
    )
    # Warm-up turns have a topic and group of their own: they never queue behind replies.
    messaging.consume(Topic.TURN_REQUESTED, TURN_CONSUMER, turns.on_turn_requested)
    # Campaign rewrites too: a large campaign never delays a reply to a person.
    messaging.consume(
        Topic.PERSONALISE_REQUESTED, PERSONALISE_CONSUMER, campaign_messages.on_personalise_requested
    )
    messaging.register()

    async def startup() -> None:
        # Closed last: consumers finish their in-flight model calls before the client goes.
        host.on_close(model.close)
        if vision is not None:
            host.on_close(vision.close)
        pool = await host.open_pool(settings.postgres)
        relay = OutboxRelay(
            pool=pool, settings=settings.kafka, producer=PRODUCER, metrics=host.messaging_metrics
        )
        messaging.relay = relay
        generator.bind(pool, relay)
        turns.bind(pool, relay)
        campaign_messages.bind(pool, relay)
        await host.start_messaging(messaging)
        if endpoint is None:
            log.warning("no model key or base URL configured: the offline generator writes the replies")
        else:
            log.info(
                "replies are written by the model",
                model=endpoint.model,
                base_url=endpoint.base_url or "https://api.openai.com/v1",
            )

    app = host.create_app(title="Mirage generator", startup=startup)
    app.state.generator = generator
    return app
