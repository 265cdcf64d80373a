"""Composition root of the api: its only place that wires dependencies."""

from __future__ import annotations

from fastapi import FastAPI

from api.alerts.delivery import AlertDispatcher
from api.alerts.intake import CONSUMER as ALERTS_CONSUMER
from api.alerts.intake import AlertIntake
from api.alerts.lifecycle_alerts import CONSUMER as LIFECYCLE_CONSUMER
from api.alerts.lifecycle_alerts import LifecycleAlerts
from api.alerts.routes import router as alerts_router
from api.asyncapi.routes import router as asyncapi_router
from api.blacklist.routes import router as blacklist_router
from api.body_limit import BodySizeLimit
from api.contacts.routes import router as contacts_router
from api.context import ApiContext
from api.conversations.routes import router as conversations_router
from api.dashboard import router as dashboard_router
from api.demo.seeding import DemoSeeder
from api.errors import install_error_handlers
from api.health.checks import HealthChecks
from api.health.routes import router as health_router
from api.instances.qr_expiry import QrExpirySweeper
from api.instances.routes import router as instances_router
from api.instances.service import InstanceService
from api.live.hub import LiveHub
from api.live.listener import StatusChangeListener
from api.live.routes import router as live_router
from api.metrics import ApiMetrics
from api.outreach.routes import router as outreach_router
from api.outreach.service import CampaignService
from api.personas.routes import router as personas_router
from api.ratelimit.limiter import RateLimiter
from api.ratelimit.response_headers import RateLimitHeaders
from api.redis_connections import fast_failing_redis
from api.settings import ApiSettings
from api.stats.cache import StatsCache, StatsCacheMetrics
from api.stats.routes import router as stats_router
from api.tenants.routes import router as tenants_router
from api.warmup.routes import router as warmup_router
from contracts import Topic
from evolution_client import EvolutionClient
from messaging import MessagingRuntime, Outbox, OutboxRelay, create_broker
from quotas import QuotaGate
from service_runtime import ServiceHost, StartupError, configure_logging, configure_tracing

PRODUCER = "api"

_DESCRIPTION = """\
The control plane of Mirage: tenants' instances (Evolution API), personas, conversations,
the blacklist, admin alerts and a realtime stream of instance status changes.

Every route except `/health`, `/metrics`, `/livez` and `/readyz` needs an API key, as
`Authorization: Bearer <key>` or `X-API-Key: <key>`, and sees only its tenant's data:
another tenant's id answers 404. Requests are rate limited per tenant and endpoint
(`X-RateLimit-*`, `RateLimit`, `RateLimit-Policy` headers; 429 with `Retry-After`).
Every error has the body `{"error": {"code", "message"}}`.
"""


def create_app(settings: ApiSettings) -> FastAPI:
    """Build the api: routes, Kafka consumers, the outbox relay and the background sweeps."""
    configure_logging("api", level=settings.runtime.log_level, json_lines=settings.runtime.log_json)
    configure_tracing("mirage-api")
    host = ServiceHost("api", ApiSettings)
    metrics = ApiMetrics(host.registry)
    context = ApiContext(
        settings=settings,
        metrics=metrics,
        hub=LiveHub(queue_size=settings.live.queue_size, metrics=metrics),
    )
    broker = create_broker(settings.kafka, client_id="mirage-api")
    outbox = Outbox(PRODUCER, namespace=settings.kafka.topic_prefix)
    intake = AlertIntake(outbox=outbox)
    lifecycle = LifecycleAlerts(outbox=outbox)
    messaging = MessagingRuntime(
        broker=broker,
        settings=settings.kafka,
        produces=[
            Topic.INSTANCE_STATUS_CHANGED,
            Topic.ADMIN_ALERT,
            Topic.SEND_REQUESTED,
            Topic.OUTREACH_REQUESTED,
        ],
        metrics=host.messaging_metrics,
    )
    messaging.consume(Topic.ADMIN_ALERT, ALERTS_CONSUMER, intake.on_admin_alert)
    messaging.consume(Topic.INSTANCE_STATUS_CHANGED, LIFECYCLE_CONSUMER, lifecycle.on_status_changed)
    messaging.register()

    async def startup() -> None:
        refused = settings.default_secrets_in_use()
        if refused:
            raise StartupError(
                f"default development secrets are refused in {settings.runtime.environment}",
                setting=", ".join(refused),
            )
        pool = await host.open_pool(settings.postgres)
        context.pool = pool
        # Fails fast when Redis is down at start-up; afterwards the limiter fails open.
        redis = await host.open_redis(settings.redis)
        app.state.stats_cache = StatsCache(
            redis,
            key_prefix=settings.redis.key_prefix,
            ttl_s=settings.stats.cache_ttl_s,
            metrics=StatsCacheMetrics(host.registry),
        )
        limiter_redis = fast_failing_redis(settings.redis, timeout_s=settings.rate_limit.redis_timeout_s)
        host.on_close(limiter_redis.aclose)
        context.limiter = RateLimiter(
            limiter_redis, settings.rate_limit, key_prefix=settings.redis.key_prefix, metrics=metrics
        )
        evolution = EvolutionClient(settings.evolution)
        host.on_close(evolution.aclose)
        relay = OutboxRelay(
            pool=pool, settings=settings.kafka, producer=PRODUCER, metrics=host.messaging_metrics
        )
        context.instances = InstanceService(
            pool=pool, evolution=evolution, outbox=outbox, relay=relay, settings=settings
        )
        context.campaigns = CampaignService(
            pool=pool, outbox=outbox, relay=relay, gate=QuotaGate(redis, settings.redis)
        )
        intake.bind(pool, relay=relay)
        lifecycle.bind(pool=pool, relay=relay)
        messaging.relay = relay
        await host.start_messaging(messaging)

        health_redis = fast_failing_redis(settings.redis, timeout_s=settings.health.check_timeout_s * 0.8)
        host.on_close(health_redis.aclose)
        health_evolution = EvolutionClient(
            settings.evolution.model_copy(
                update={
                    "connect_timeout_s": settings.health.check_timeout_s * 0.8,
                    "read_timeout_s": settings.health.check_timeout_s * 0.8,
                    "pool_timeout_s": settings.health.check_timeout_s * 0.8,
                }
            )
        )
        host.on_close(health_evolution.aclose)
        context.health = HealthChecks(
            pool=pool,
            redis=health_redis,
            kafka=settings.kafka,
            evolution=health_evolution,
            timeout_s=settings.health.check_timeout_s,
        )

        listener = StatusChangeListener(kafka=settings.kafka, hub=context.hub, metrics=metrics)
        await listener.start()
        host.on_close(listener.stop)

        async def close_streams() -> None:
            context.hub.close_all()

        host.on_close(close_streams)

        sweeper = QrExpirySweeper(
            pool=pool, outbox=outbox, relay=relay, interval_s=settings.instances.qr_expiry_interval_s
        )
        sweeper.start()
        host.on_close(sweeper.stop)
        if settings.alerts.delivery_enabled:
            dispatcher = AlertDispatcher(pool=pool, settings=settings.alerts, metrics=metrics)
            context.alerts = dispatcher
            dispatcher.start()
            host.on_close(dispatcher.stop)
        if settings.runtime.environment == "development" and settings.demo.enabled:
            seeder = DemoSeeder(pool=pool, service=context.instances, settings=settings)
            await seeder.start()
            host.on_close(seeder.stop)
            app.state.demo_seeder = seeder
        app.state.live_listener = listener

    app = host.create_app(title="Mirage API", description=_DESCRIPTION, startup=startup)
    app.state.context = context
    install_error_handlers(app)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(
        BodySizeLimit,
        default_bytes=settings.body_limit.default_bytes,
        by_path=settings.body_limit.by_path,
    )
    app.include_router(health_router)
    for router in (
        tenants_router,
        instances_router,
        personas_router,
        conversations_router,
        blacklist_router,
        alerts_router,
        live_router,
        warmup_router,
        outreach_router,
        contacts_router,
        stats_router,
        asyncapi_router,
    ):
        app.include_router(router)
    # The web dashboard (pages at `/` and `/ui/…`), last: it owns no route of the JSON api.
    app.include_router(dashboard_router)
    return app
