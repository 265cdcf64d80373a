"""Composition root of the scheduler: its only place that wires dependencies."""

from __future__ import annotations

from fastapi import FastAPI

from contracts import Topic
from messaging import MessagingRuntime, OutboxRelay, create_broker
from scheduler.budget import NumberBudget
from scheduler.control_routes import control_router
from scheduler.dependencies import CONSUMER, PRODUCER
from scheduler.leadership import Leadership
from scheduler.metrics import SchedulerMetrics
from scheduler.service import Scheduler
from scheduler.settings import SchedulerSettings
from service_runtime import ServiceHost, configure_logging, configure_tracing


def create_app(settings: SchedulerSettings) -> FastAPI:
    """Build the scheduler: the arrival consumer, the leader's cron and timers, the control route."""
    configure_logging("scheduler", level=settings.runtime.log_level, json_lines=settings.runtime.log_json)
    configure_tracing("mirage-scheduler")
    host = ServiceHost("scheduler", SchedulerSettings)
    metrics = SchedulerMetrics(host.registry)
    scheduler = Scheduler(settings, metrics=metrics)
    broker = create_broker(settings.kafka, client_id="mirage-scheduler")
    messaging = MessagingRuntime(
        broker=broker,
        settings=settings.kafka,
        produces=(Topic.ROUND_STARTED, Topic.ROUND_COMPLETED, Topic.TURN_REQUESTED, Topic.ADMIN_ALERT),
        metrics=host.messaging_metrics,
    )
    # Every replica watches turns arrive at the peer numbers (its own consumer group).
    messaging.consume(Topic.MESSAGE_RECEIVED, CONSUMER, scheduler.on_message_received)
    messaging.register()
    leadership = Leadership(
        settings.postgres,
        namespace=settings.kafka.topic_prefix,
        retry_s=settings.leader_retry_s,
        lead=scheduler.lead,
        on_change=lambda leader: metrics.leader.set(1 if leader else 0),
    )

    async def startup() -> None:
        pool = await host.open_pool(settings.postgres)
        redis = await host.open_redis(settings.redis)
        relay = OutboxRelay(
            pool=pool, settings=settings.kafka, producer=PRODUCER, metrics=host.messaging_metrics
        )
        messaging.relay = relay
        scheduler.bind(pool=pool, relay=relay, budget=NumberBudget(redis, settings.redis))
        await host.start_messaging(messaging)
        # Registered last, so it stops first: no round starts while the rest shuts down.
        leadership.start()
        host.on_close(leadership.stop)

    app = host.create_app(title="Mirage scheduler", startup=startup)
    app.include_router(control_router(scheduler, settings))
    app.state.scheduler = scheduler
    app.state.leadership = leadership
    return app
