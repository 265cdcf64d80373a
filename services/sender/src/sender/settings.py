"""Settings of the sender service (env prefix `MIRAGE_SENDER_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from database import PostgresSettings
from evolution_client import EvolutionSettings
from messaging import KafkaSettings
from service_runtime import MirageSettings, RuntimeSettings


class SenderRuntime(RuntimeSettings):
    """The sender's probe port."""

    port: int = 8005


class SendRetrySettings(BaseModel):
    """How often and how patiently one send is attempted at Evolution API."""

    # HTTP attempts in total, the first included (PRODUCT §1: three).
    attempts: int = Field(default=3, ge=1)
    # Exponential backoff with jitter between attempts: the n-th retry waits between
    # half and all of min(max_delay_s, base_delay_s * 2**(n-1)) seconds.
    base_delay_s: float = Field(default=1.0, ge=0)
    max_delay_s: float = Field(default=20.0, ge=0)


class PresenceSettings(BaseModel):
    """The best-effort "composing" presence shown before each send."""

    enabled: bool = True
    # The presence lasts the send's typing delay, capped here (the send's own `delay`
    # shows "composing" again while Evolution waits before sending).
    max_delay_ms: int = Field(default=1_500, ge=0)
    # Extra seconds the presence call may take beyond its delay before it is abandoned.
    timeout_s: float = Field(default=2.0, gt=0)


class SenderSettings(MirageSettings):
    """Everything the sender reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="MIRAGE_SENDER_")
    service_name: ClassVar[str] = "sender"

    runtime: SenderRuntime = SenderRuntime()
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    evolution: EvolutionSettings = EvolutionSettings()
    retry: SendRetrySettings = SendRetrySettings()
    presence: PresenceSettings = PresenceSettings()
    # After an unknown outcome, how long to look for the send's `send.message` echo
    # (recorded by ingest) before the send is declared ambiguous.
    echo_wait_s: float = Field(default=8.0, ge=0)
    # How often the echo (or a send another consumer has in flight) is polled.
    poll_interval_s: float = Field(default=0.25, gt=0)
    # Sends of different conversations in flight at once in this process.
    max_concurrent_sends: int = Field(default=64, ge=1)
    # In-process re-runs of the handler on an unexpected error (never extra HTTP
    # attempts: the attempt count lives in `sends.attempts`).
    handler_attempts: int = Field(default=3, ge=1)
    # How often ambiguous sends are checked for a `send.message` echo that arrived late (it
    # makes them `sent`), and how far back an ambiguous send is still checked.
    late_echo_interval_s: float = Field(default=15.0, gt=0)
    late_echo_window_h: float = Field(default=24.0, gt=0)
