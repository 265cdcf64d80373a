"""Composition root of the sender: its only place that wires dependencies."""

from __future__ import annotations

from fastapi import FastAPI

from contracts import Topic
from evolution_client import EvolutionClient, EvolutionSettings, PreciseAiohttpTransport
from messaging import MessagingRuntime, OutboxRelay, RetryPolicy, create_broker
from sender.outcomes import PRODUCER
from sender.send_metrics import CountingRelay, SendMetrics
from sender.sending import CONSUMER, SendService
from sender.settings import SenderSettings
from service_runtime import (
    PeriodicTask,
    ServiceHost,
    StartupError,
    configure_logging,
    configure_tracing,
    refuse_default_secrets,
    traced_transport,
)


def create_app(settings: SenderSettings) -> FastAPI:
    """Build the sender process: one consumer of `send.requested`, its outbox relay, probes."""
    configure_logging("sender", level=settings.runtime.log_level, json_lines=settings.runtime.log_json)
    configure_tracing("mirage-sender")
    host = ServiceHost("sender", SenderSettings)
    send_metrics = SendMetrics(host.registry)
    sender = SendService(settings=settings)
    broker = create_broker(settings.kafka, client_id="mirage-sender")
    messaging = MessagingRuntime(
        broker=broker,
        settings=settings.kafka,
        metrics=host.messaging_metrics,
        produces=(Topic.MESSAGE_SENT, Topic.MESSAGE_FAILED, Topic.ADMIN_ALERT),
    )
    messaging.consume(
        Topic.SEND_REQUESTED,
        CONSUMER,
        sender.send,
        # Re-runs the handler only after unexpected errors; HTTP attempts are counted in the
        # database, so a re-run never adds one beyond `retry.attempts`.
        retry=RetryPolicy(attempts=settings.handler_attempts),
        max_concurrency=settings.max_concurrent_sends,
    )
    messaging.register()

    async def startup() -> None:
        default_key = EvolutionSettings().api_key.get_secret_value()
        if refuse_default_secrets(
            settings.runtime.environment,
            {"evolution.api_key": (settings.evolution.api_key.get_secret_value(), default_key)},
        ):
            raise StartupError(
                "the Evolution API key is the simulator's development default",
                setting=SenderSettings.env_names("evolution.api_key"),
            )
        pool = await host.open_pool(settings.postgres)
        # Traced (when tracing is on): the `sendText` call is the last hop of a message's trace.
        evolution = EvolutionClient(
            settings.evolution,
            transport=traced_transport(PreciseAiohttpTransport(limits=settings.evolution.limits())),
        )
        # Registered before messaging: closed after the consumer finished its records.
        host.on_close(evolution.aclose)
        relay = OutboxRelay(
            pool=pool, settings=settings.kafka, producer=PRODUCER, metrics=host.messaging_metrics
        )
        messaging.relay = relay
        sender.bind(pool=pool, evolution=evolution, relay=CountingRelay(relay, send_metrics))
        await host.start_messaging(messaging)
        # Settles ambiguous sends whose echo arrived late.
        late_echoes = PeriodicTask(
            "late-echoes",
            lambda: sender.settle_late_echoes(within_hours=settings.late_echo_window_h),
            interval_s=settings.late_echo_interval_s,
            first_delay_s=settings.late_echo_interval_s,
        )
        late_echoes.start()
        host.on_close(late_echoes.stop)

    return host.create_app(title="Mirage sender", startup=startup)
