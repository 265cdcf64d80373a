"""Settings of the api service (env prefix `MIRAGE_API_`; shared ones also as `MIRAGE_`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from database import PostgresSettings
from evolution_client import EvolutionSettings
from messaging import KafkaSettings
from redis_client import RedisSettings
from service_runtime import MirageSettings, RuntimeSettings, refuse_default_secrets

DEFAULT_DEMO_API_KEY = "demo-key"
# The simulator's global key (`MIRAGE_SIM_API_KEY`), Evolution's default in development.
DEFAULT_EVOLUTION_API_KEY = "sim-global-key"
WebhookAuth = Literal["jwt", "header"]


class ApiRuntime(RuntimeSettings):
    """The api listens on PRODUCT §10's port."""

    port: int = Field(default=8000, ge=0, le=65535)


class InstanceSettings(BaseModel):
    """How instances are created at Evolution and watched."""

    integration: Literal["WHATSAPP-BAILEYS", "WHATSAPP-BUSINESS", "EVOLUTION"] = "WHATSAPP-BAILEYS"
    # How Evolution proves to ingest that a webhook is its own: the `jwt_key` header option
    # (Evolution signs a short-lived JWT per call) or a static secret header.
    webhook_auth: WebhookAuth = "jwt"
    webhook_secret_header: str = "X-Mirage-Webhook-Secret"  # noqa: S105 - a header name
    # Upper-snake Evolution events the webhook sends; empty means every event.
    webhook_events: tuple[str, ...] = (
        "MESSAGES_UPSERT",
        "SEND_MESSAGE",
        "MESSAGES_UPDATE",
        "MESSAGES_EDITED",
        "MESSAGES_DELETE",
        "CONNECTION_UPDATE",
        "QRCODE_UPDATED",
    )
    # How often each replica looks for QR codes not scanned within their lifetime.
    qr_expiry_interval_s: float = Field(default=5.0, gt=0)


class LiveSettings(BaseModel):
    """The `/events` stream."""

    # Seconds between heartbeat comments on an idle stream.
    ping_interval_s: float = Field(default=15.0, gt=0)
    # Events buffered per client; a client that falls this far behind is disconnected
    # (it reconnects with `Last-Event-ID` and gets a snapshot).
    queue_size: int = Field(default=1000, ge=1)
    # Most instances sent in one snapshot.
    snapshot_limit: int = Field(default=1000, ge=1)
    # Open streams one tenant may hold on one api process; one more answers 429.
    max_streams_per_tenant: int = Field(default=20, ge=1)


class BodyLimitSettings(BaseModel):
    """The largest request body each route accepts (PRODUCT §6); larger ones answer 413."""

    default_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Routes with bigger bodies, by path: a campaign carries up to 100,000 contacts.
    # Campaign creation (100,000 contacts as JSON) and the dashboard's CSV upload (5 MB plus
    # the form around it) are the bodies allowed past the default.
    by_path: dict[str, int] = Field(
        default_factory=lambda: {"/outreach/campaigns": 32 * 1024 * 1024, "/ui/campaigns/new": 5_308_416}
    )


class RateLimitPolicy(BaseModel):
    """`limit` requests per `window_s` seconds (sliding window)."""

    limit: int = Field(ge=1, le=1_000_000)
    window_s: int = Field(ge=1, le=86_400)


class RateLimitSettings(BaseModel):
    """Per-tenant, per-endpoint limits held in Redis."""

    enabled: bool = True
    default: RateLimitPolicy = RateLimitPolicy(limit=600, window_s=60)
    # Overrides by endpoint, `"<METHOD> <route template>"`:
    # `{"POST /instances": {"limit": 30, "window_s": 60}}`.
    endpoints: dict[str, RateLimitPolicy] = Field(default_factory=dict)
    # A Redis call slower than this fails open (the request is served, the metric counts it).
    redis_timeout_s: float = Field(default=0.5, gt=0)
    # After this many Redis failures in a row, requests skip Redis (fail open) for
    # `breaker_open_s` instead of each paying the timeout. One slow answer during a
    # burst must not switch limiting off for everyone: that is when it matters most.
    breaker_failures: int = Field(default=3, ge=1)
    breaker_open_s: float = Field(default=1.0, ge=0)


class HealthSettings(BaseModel):
    """`GET /health`."""

    # Each check gets this long; the whole answer never takes much more.
    check_timeout_s: float = Field(default=1.0, gt=0, le=10)


class AlertSettings(BaseModel):
    """Admin alert delivery to the tenant's webhook."""

    delivery_enabled: bool = True
    sweep_interval_s: float = Field(default=2.0, gt=0)
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)


class StatsSettings(BaseModel):
    """The `/stats` routes (`MIRAGE_API_STATS__<FIELD>`)."""

    # Answers stay cached this long at most; a refresh of the views invalidates them sooner.
    cache_ttl_s: int = Field(default=300, ge=1, le=86_400)


class DemoSettings(BaseModel):
    """The demo tenant of PRODUCT §10 (development mode only)."""

    enabled: bool = True
    tenant_slug: str = "demo"
    tenant_name: str = "Demo"
    instance_names: tuple[str, ...] = ("demo-1", "demo-2")
    # None: detect the simulator (`GET /_sim/instances` answers); True/False: force it.
    simulator: bool | None = None
    # The seeding runs at start-up and again this often, so a restarted simulator gets
    # its instances back, connected.
    recheck_interval_s: float = Field(default=30.0, gt=0)
    # How long start-up waits for the first seeding before serving anyway.
    startup_wait_s: float = Field(default=20.0, ge=0)


class ApiSettings(MirageSettings):
    """Everything the api reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="MIRAGE_API_")
    service_name: ClassVar[str] = "api"

    runtime: ApiRuntime = ApiRuntime()
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    evolution: EvolutionSettings = EvolutionSettings()
    # Where Evolution reaches ingest: the base of every instance's webhook URL.
    ingest_public_url: str = "http://127.0.0.1:8001"
    # The demo tenant's API key (`MIRAGE_DEMO_API_KEY`); refused outside development.
    demo_api_key: SecretStr = SecretStr(DEFAULT_DEMO_API_KEY)
    demo: DemoSettings = DemoSettings()
    instances: InstanceSettings = InstanceSettings()
    live: LiveSettings = LiveSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    health: HealthSettings = HealthSettings()
    alerts: AlertSettings = AlertSettings()
    stats: StatsSettings = StatsSettings()
    body_limit: BodyLimitSettings = BodyLimitSettings()

    def webhook_url(self) -> str:
        """The webhook URL every instance is created with."""
        return f"{self.ingest_public_url.rstrip('/')}/webhook/evolution"

    def default_secrets_in_use(self) -> list[str]:
        """Env names of secrets still at their development default (always empty in development)."""
        return refuse_default_secrets(
            self.runtime.environment,
            {
                "MIRAGE_DEMO_API_KEY": (self.demo_api_key.get_secret_value(), DEFAULT_DEMO_API_KEY),
                "MIRAGE_EVOLUTION__API_KEY": (
                    self.evolution.api_key.get_secret_value(),
                    DEFAULT_EVOLUTION_API_KEY,
                ),
            },
        )
