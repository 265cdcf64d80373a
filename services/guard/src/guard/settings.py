"""Settings of the guard service (env prefix `MIRAGE_GUARD_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from database import PostgresSettings
from evolution_client import EvolutionSettings
from messaging import KafkaSettings
from redis_client import RedisSettings
from service_runtime import MirageSettings, RuntimeSettings


class GuardRuntime(RuntimeSettings):
    """The guard's probe port."""

    port: int = 8003


class GuardPolicy(BaseModel):
    """The guard's tunable rules (`MIRAGE_GUARD_POLICY__<FIELD>`)."""

    # A burst of messages from one person within this window gets one reply; every new
    # message pushes the reply back by the window. 0 answers each message at once.
    debounce_window_ms: int = Field(default=3_000, ge=0)
    # A burst that never pauses is still answered this long after its first message (0: no cap).
    debounce_max_wait_ms: int = Field(default=20_000, ge=0)
    # Each replica sleeps until the next burst is due (a burst it schedules wakes it); this is
    # how soon it looks again when a due burst is held by another replica or Redis failed.
    flush_poll_interval_ms: int = Field(default=100, ge=5)
    # The longest a replica sleeps without looking: how late it finds bursts it was not told of
    # (another replica's, once that one died; they wait for their lease anyway).
    flush_idle_poll_interval_ms: int = Field(default=1_000, ge=5)
    # Most conversations one replica claims per poll.
    flush_batch_size: int = Field(default=64, ge=1)
    # A replica that claimed a burst and died is replaced after this lease.
    claim_lease_ms: int = Field(default=30_000, ge=100)
    # A flush that failed (database or Redis hiccup) is tried again after this pause.
    flush_retry_delay_ms: int = Field(default=1_000, ge=0)
    # How often every replica re-schedules bursts whose Redis state was lost (Redis restarted
    # without persistence): decisions still `debounced` well past their window.
    repair_interval_s: float = Field(default=30.0, gt=0)
    # How long the bot stays quiet in a conversation after the operator typed on the phone.
    human_takeover_minutes: float = Field(default=30.0, ge=0)
    # A `fromMe` message equal to one of Mirage's sends younger than this is Mirage's own echo.
    in_flight_echo_s: float = Field(default=30.0, ge=0)
    # Repeats of the same script id tolerated before the conversation is blocked.
    loop_threshold: int = Field(default=3, ge=1)
    # Extra pause before answering a suspected bot loop.
    loop_reply_delay_ms: int = Field(default=15_000, ge=0)
    # Idle loop counters leave Redis after this (the database mirror seeds them again).
    loop_counter_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)

    @property
    def repair_after_s(self) -> float:
        """Age past which a still-`debounced` decision is surely lost rather than waiting."""
        longest_wait_ms = max(self.debounce_window_ms, self.debounce_max_wait_ms)
        return (longest_wait_ms + self.claim_lease_ms) / 1000 + 30.0


class MediaSettings(BaseModel):
    """How the guard fetches and keeps the media it must understand (`MIRAGE_GUARD_MEDIA__<FIELD>`)."""

    # Voice notes bigger than this are not fetched (WhatsApp's own limit is 16 MB).
    max_audio_bytes: int = Field(default=16 * 1024 * 1024, ge=1)
    # Images bigger than this are not fetched (vision models refuse large ones anyway).
    max_image_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
    audio_mimetypes: tuple[str, ...] = (
        "audio/ogg",
        "audio/opus",
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/amr",
        "audio/wav",
        "audio/x-wav",
        "audio/webm",
        "audio/x-m4a",
    )
    image_mimetypes: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp", "image/gif")
    # Images without a caption are fetched and kept for the generator's vision model.
    fetch_images: bool = True
    # Attempts of one media fetch (connection errors, 5xx and 429 are retried with backoff).
    fetch_attempts: int = Field(default=3, ge=1)
    fetch_backoff_s: float = Field(default=0.3, ge=0)
    # Stored bytes are deleted this long after they were fetched (transcripts are kept).
    retention_hours: float = Field(default=168.0, gt=0)
    retention_sweep_interval_s: float = Field(default=300.0, gt=0)


class TranscriptionSettings(BaseModel):
    """The OpenAI-compatible `/v1/audio/transcriptions` endpoint (`MIRAGE_GUARD_TRANSCRIPTION__<FIELD>`).

    Neither key nor base URL (nor `OPENAI_API_KEY`/`OPENAI_BASE_URL`): voice notes without
    Evolution's own `speechToText` get the "could you type it?" fallback.
    """

    api_key: SecretStr | None = None
    base_url: str | None = None
    model: str = "whisper-1"
    # ISO-639-1 language hint (Brazilian contacts: Portuguese).
    language: str = "pt"
    timeout_s: float = Field(default=30.0, gt=0)
    # Attempts in all (the SDK retries timeouts, connection errors, 408/409/429 and 5xx).
    attempts: int = Field(default=3, ge=1)
    # Switches transcription off even when an endpoint is configured.
    enabled: bool = True


class GuardSettings(MirageSettings):
    """Everything the guard reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="MIRAGE_GUARD_")
    service_name: ClassVar[str] = "guard"

    runtime: GuardRuntime = GuardRuntime()
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    policy: GuardPolicy = GuardPolicy()
    media: MediaSettings = MediaSettings()
    transcription: TranscriptionSettings = TranscriptionSettings()
    # Where media is fetched from (`getBase64FromMediaMessage`).
    evolution: EvolutionSettings = EvolutionSettings()
