"""Composition root of the outreach: its only place that wires dependencies."""

from __future__ import annotations

from fastapi import FastAPI

from contracts import Topic
from messaging import MessagingRuntime, Outbox, OutboxRelay, create_broker
from outreach.metrics import OutreachMetrics
from outreach.scanner import DueTargetScanner
from outreach.service import CONSENT_CONSUMER, CONSUMER, OUTCOMES_CONSUMER, PRODUCER, OutreachWorker
from outreach.settings import OutreachSettings
from quotas import QuotaGate
from service_runtime import ServiceHost, configure_logging, configure_tracing

PRODUCES = (Topic.SEND_REQUESTED, Topic.OUTREACH_REQUESTED, Topic.PERSONALISE_REQUESTED)


def create_app(settings: OutreachSettings) -> FastAPI:
    """Build the outreach process: the `outreach.requested` consumer, the consumers of campaign
    sends' outcomes and of opt-outs, the due-target scanner and the outbox relay."""
    configure_logging("outreach", level=settings.runtime.log_level, json_lines=settings.runtime.log_json)
    configure_tracing("mirage-outreach")
    host = ServiceHost("outreach", OutreachSettings)
    outbox = Outbox(PRODUCER, namespace=settings.kafka.topic_prefix)
    worker = OutreachWorker(policy=settings.policy, outbox=outbox, metrics=OutreachMetrics(host.registry))
    broker = create_broker(settings.kafka, client_id="mirage-outreach")

    messaging = MessagingRuntime(
        broker=broker,
        settings=settings.kafka,
        produces=PRODUCES,
        metrics=host.messaging_metrics,
    )
    messaging.consume(Topic.OUTREACH_REQUESTED, CONSUMER, worker.on_outreach_requested)
    messaging.consume(Topic.MESSAGE_SENT, OUTCOMES_CONSUMER, worker.on_message_sent)
    messaging.consume(Topic.MESSAGE_FAILED, OUTCOMES_CONSUMER, worker.on_message_failed)
    messaging.consume(Topic.CONTACT_OPTED_OUT, CONSENT_CONSUMER, worker.on_consent_changed)
    messaging.register()

    async def startup() -> None:
        pool = await host.open_pool(settings.postgres)
        redis = await host.open_redis(settings.redis)
        relay = OutboxRelay(
            pool=pool, settings=settings.kafka, producer=PRODUCER, metrics=host.messaging_metrics
        )
        messaging.relay = relay
        worker.bind(pool=pool, relay=relay, gate=QuotaGate(redis, settings.redis))
        await host.start_messaging(messaging)
        scanner = DueTargetScanner(pool=pool, outbox=outbox, relay=relay, policy=settings.policy)
        scanner.start()
        # Closed first at shutdown: nothing is claimed once the consumers and relay stop.
        host.on_close(scanner.stop)

    return host.create_app(title="Mirage outreach", startup=startup)
