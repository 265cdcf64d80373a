"""Settings of the ingest service (env prefix `MIRAGE_INGEST_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from database import PostgresSettings
from instance_lifecycle import REPORT_REORDER_WINDOW
from messaging import KafkaSettings
from service_runtime import MirageSettings, RuntimeSettings


class IngestRuntime(RuntimeSettings):
    """Ingest listens on PRODUCT §10's port."""

    port: int = 8001


class WebhookSettings(BaseModel):
    """How webhooks are accepted."""

    # Bodies above this are refused with 413 (Evolution sends media as URLs unless base64 is on).
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # Messages older than this (offline backlog after a reconnect) are stored, never answered.
    freshness_window_s: int = Field(default=600, ge=0)
    # Only for local development: accept instances configured with webhook_auth = 'none'.
    allow_unauthenticated: bool = False
    secret_header: str = "X-Mirage-Webhook-Secret"  # noqa: S105 - a header name, not a secret
    jwt_leeway_s: float = Field(default=30.0, ge=0)
    # How long an instance's name → id/secret lookup is cached.
    instance_cache_ttl_s: float = Field(default=30.0, ge=0)
    # Bodies that are not JSON are kept as text, up to this many characters.
    raw_text_limit: int = Field(default=65_536, ge=0)
    # A `connection.update`/`qrcode.updated` older (by its `date_time`) than the newest one applied
    # for its instance, by less than this, is a late retry and is not applied; older by more, it is
    # taken as Evolution's clock moving back and applied. Cover Evolution's retry span (~25 min).
    lifecycle_reorder_window_s: float = Field(default=REPORT_REORDER_WINDOW.total_seconds(), ge=0)


class IngestSettings(MirageSettings):
    """Everything ingest reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="MIRAGE_INGEST_")
    service_name: ClassVar[str] = "ingest"

    runtime: IngestRuntime = IngestRuntime()
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    webhook: WebhookSettings = WebhookSettings()
