"""Settings of the simulator service (env prefix `MIRAGE_SIM_`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from service_runtime import MirageSettings, RuntimeSettings


class SimulatorRuntime(RuntimeSettings):
    """The simulator's HTTP port (Evolution routes, `/_sim/`, `/v1/` and probes)."""

    port: int = Field(default=8002, ge=0, le=65535)


class WebhookDeliverySettings(BaseModel):
    """How webhooks are POSTed and retried (Evolution 2.3 retry semantics, faster clock)."""

    # Evolution waits INITIAL_DELAY_SECONDS=5 before the first retry and caps at 300 s;
    # tests and demos cannot wait that long, so the defaults are compressed.
    retry_initial_delay_ms: int = Field(default=200, ge=0)
    retry_max_delay_ms: int = Field(default=10_000, ge=0)
    retry_max_attempts: int = Field(default=10, ge=1)
    retry_jitter: float = Field(default=0.2, ge=0.0, le=1.0)
    # Evolution's WEBHOOK_REQUEST_TIMEOUT_MS defaults to 30 s.
    timeout_s: float = Field(default=10.0, gt=0)
    non_retryable_statuses: frozenset[int] = frozenset({400, 401, 403, 404, 422})
    # Deliveries in flight at once (and pooled connections); the rest wait on a cheap semaphore.
    max_concurrent: int = Field(default=64, ge=1)
    user_agent: str = "axios/1.12.2"


class SeedInstance(BaseModel):
    """An instance created at start-up (kept across `/_sim/reset`)."""

    name: str = Field(min_length=1)
    token: str | None = None
    number: str | None = None
    integration: str = "WHATSAPP-BAILEYS"
    webhook_url: str | None = None
    webhook_by_events: bool = False
    webhook_headers: dict[str, Any] = Field(default_factory=dict)
    webhook_events: list[str] = Field(default_factory=list)
    # True: the QR is already scanned, the instance starts `open`.
    connected: bool = True


class SimulatorSettings(MirageSettings):
    """Everything the simulator reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="MIRAGE_SIM_")
    service_name: ClassVar[str] = "simulator"

    runtime: SimulatorRuntime = SimulatorRuntime()
    # Evolution's AUTHENTICATION_API_KEY (the global key). Development only.
    api_key: str = "sim-global-key"
    # Evolution's SERVER_URL, echoed in webhook envelopes; default http://<host>:<port>.
    server_url: str | None = None
    # Evolution's DATABASE_CONNECTION_CLIENT_NAME, shown in `GET /` and fetchInstances.
    client_name: str = "evolution_exchange"
    # Evolution's AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES: the instance token in `apikey`.
    expose_instance_token: bool = True
    webhook: WebhookDeliverySettings = WebhookDeliverySettings()
    # Milliseconds between a send's `send.message` echo and its `messages.update` ack.
    delivery_ack_delay_ms: int = Field(default=50, ge=0)
    # When set, a READ `messages.update` follows the delivery ack after this many ms.
    read_ack_delay_ms: int | None = Field(default=None, ge=0)
    # Seconds before `connect` shows a fresh QR (Baileys `qrTimeout` is 45 s).
    qr_refresh_s: float = Field(default=45.0, gt=0)
    # Latency added to every `/v1/chat/completions` answer.
    completion_latency_ms: int = Field(default=0, ge=0)
    completion_model: str = "mirage-sim"
    # Latency added to every `/v1/audio/transcriptions` answer.
    transcription_latency_ms: int = Field(default=0, ge=0)
    # JSON file that keeps instances (not logs) across restarts; none: memory only.
    state_file: Path | None = None
    seed_instances: list[SeedInstance] = Field(default_factory=list)
    # Upper bound of each in-memory log (sent, deliveries, inbound, completions).
    log_limit: int = Field(default=100_000, ge=1)

    def resolved_server_url(self) -> str:
        """The public URL of this simulator (`SERVER_URL` in Evolution)."""
        if self.server_url:
            return self.server_url.rstrip("/")
        return f"http://{self.runtime.host}:{self.runtime.port}"
