"""Settings of the scheduler service (env prefix `MIRAGE_SCHEDULER_`)."""

from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from database import PostgresSettings
from messaging import KafkaSettings
from redis_client import RedisSettings
from service_runtime import MirageSettings, RuntimeSettings
from warmup_rules import CronSchedule, TurnTiming


class SchedulerRuntime(RuntimeSettings):
    """The scheduler's probe and control port."""

    port: int = 8007


class SchedulerSettings(MirageSettings):
    """Everything the scheduler reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="MIRAGE_SCHEDULER_")
    service_name: ClassVar[str] = "scheduler"

    runtime: SchedulerRuntime = SchedulerRuntime()
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()

    # When the leader scans every active pair (UTC; six fields put seconds last). Empty: never
    # (rounds then start only through `POST /warmup/pairs/{id}/tick`).
    cron: str = "*/5 * * * *"
    # How often the leader starts due turns and ends rounds whose turn never arrived.
    timer_interval_s: float = Field(default=1.0, gt=0)
    # How often a replica that is not the leader tries to become it, and the leader checks
    # that it still holds the lock.
    leader_retry_s: float = Field(default=5.0, gt=0)
    # T: a turn whose messages have not all arrived at the peer this long after it was
    # requested ends the round (`deaf` when everything was sent, else `timed_out`).
    turn_timeout_s: float = Field(default=600.0, gt=0)
    # How long a pair rests after a deaf round.
    quarantine_h: float = Field(default=24.0, ge=0)
    # Reading and thinking pauses between turns (`TIMING__SCALE=0.01` shrinks them for tests).
    timing: TurnTiming = TurnTiming()
    # Only these tenants' pairs (tests, or sharding tenants over scheduler deployments); empty: all.
    only_tenants: tuple[uuid.UUID, ...] = ()
    # When set, `POST /control/…` needs `Authorization: Bearer <token>` (the api sends it).
    control_token: SecretStr | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if value.strip():
            CronSchedule(value.strip())
        return value.strip()
