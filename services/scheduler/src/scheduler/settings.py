"""Settings of the scheduler service (env prefix `MIRAGE_SCHEDULER_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from database import PostgresSettings
from messaging import KafkaSettings
from redis_client import RedisSettings
from service_runtime import MirageSettings, RuntimeSettings


class SchedulerRuntime(RuntimeSettings):
    """The scheduler's probe port."""

    port: int = 8007


class SchedulerSettings(MirageSettings):
    """Everything the scheduler reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="MIRAGE_SCHEDULER_")
    service_name: ClassVar[str] = "scheduler"

    runtime: SchedulerRuntime = SchedulerRuntime()
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
