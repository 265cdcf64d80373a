"""Settings of the outreach service (env prefix `MIRAGE_OUTREACH_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from database import PostgresSettings
from messaging import KafkaSettings
from redis_client import RedisSettings
from service_runtime import MirageSettings, RuntimeSettings


class OutreachRuntime(RuntimeSettings):
    """The outreach's probe port."""

    port: int = 8006


class OutreachPolicy(BaseModel):
    """How the worker paces campaigns (`MIRAGE_OUTREACH_POLICY__<FIELD>`)."""

    # How often the scanner looks for due targets and free numbers.
    scan_interval_s: float = Field(default=1.0, gt=0, le=60)
    # How long the scanner holds a number (and moves a target's due time) for a request it
    # made; a request that got lost is made again after this.
    claim_hold_s: float = Field(default=30.0, gt=0, le=3_600)
    # Targets whose number is gone, rotated per scan.
    stranded_per_scan: int = Field(default=50, ge=1, le=10_000)
    # A number's one outstanding campaign send holds it at most this long without an outcome.
    send_lease_s: float = Field(default=300.0, gt=0, le=86_400)
    # With none of a campaign's numbers connected, its targets are looked at again after this.
    no_number_retry_s: float = Field(default=60.0, gt=0, le=86_400)


class OutreachSettings(MirageSettings):
    """Everything the outreach reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="MIRAGE_OUTREACH_")
    service_name: ClassVar[str] = "outreach"

    runtime: OutreachRuntime = OutreachRuntime()
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    policy: OutreachPolicy = OutreachPolicy()
