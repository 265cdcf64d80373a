"""Settings of the outreach service (env prefix `MIRAGE_OUTREACH_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from database import PostgresSettings
from messaging import KafkaSettings
from redis_client import RedisSettings
from service_runtime import MirageSettings, RuntimeSettings


class OutreachRuntime(RuntimeSettings):
    """The outreach's probe port."""

    port: int = 8006


class OutreachSettings(MirageSettings):
    """Everything the outreach reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="MIRAGE_OUTREACH_")
    service_name: ClassVar[str] = "outreach"

    runtime: OutreachRuntime = OutreachRuntime()
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
