"""Settings of the generator service (env prefix `MIRAGE_GENERATOR_`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from database import PostgresSettings
from messaging import KafkaSettings
from service_runtime import MirageSettings, RuntimeSettings
from warmup_rules import TypingModel

# The OpenAI SDK's own variables, honoured only when Mirage's settings leave the value unset.
OPENAI_API_KEY_ENV = "OPENAI_API_KEY"
OPENAI_BASE_URL_ENV = "OPENAI_BASE_URL"


class GeneratorRuntime(RuntimeSettings):
    """The generator's probe port."""

    port: int = 8004


@dataclass(frozen=True)
class ModelEndpoint:
    """Where the model answers, once Mirage's settings and the OpenAI fallbacks are resolved.

    `None` (from `ModelSettings.endpoint`) means the offline generator writes the replies.
    """

    api_key: str | None
    base_url: str | None
    model: str
    timeout_s: float
    max_retries: int
    max_tokens: int | None
    max_connections: int


class ModelSettings(BaseModel):
    """The OpenAI-compatible model that writes replies."""

    # Unset: `OPENAI_API_KEY` is used when present.
    api_key: SecretStr | None = None
    # Any OpenAI-compatible server (`http://host:port/v1`). Unset: `OPENAI_BASE_URL`, else OpenAI.
    base_url: str | None = None
    # Used when the instance's persona names no model of its own.
    model: str = "gpt-4o-mini"
    # Per HTTP attempt; the SDK retries timeouts, connection errors, 408/409/429 and 5xx.
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=2, ge=0)
    # Sent as `max_tokens` when set; unset leaves the length to the persona's instructions
    # (some reasoning models refuse `max_tokens` or spend it all on reasoning).
    max_tokens: int | None = Field(default=None, ge=1)
    # Kept-alive connections to the model server: how many replies can wait on it at once.
    max_connections: int = Field(default=256, ge=1)
    # Forces the offline generator even when a key or base URL is configured.
    offline: bool = False
    # What a contact experiences when the model still fails after the SDK's retries:
    # `fallback` sends a short pt-BR apology; `dead_letter` fails the event (the consumer
    # retries it, then dead-letters it) and the contact gets nothing.
    on_failure: Literal["fallback", "dead_letter"] = "fallback"

    def endpoint(self, environ: Mapping[str, str]) -> ModelEndpoint | None:
        """The model to call, or None for the offline generator (no key and no base URL)."""
        if self.offline:
            return None
        api_key = self.api_key.get_secret_value() if self.api_key else None
        api_key = api_key or environ.get(OPENAI_API_KEY_ENV) or None
        base_url = self.base_url or environ.get(OPENAI_BASE_URL_ENV) or None
        if api_key is None and base_url is None:
            return None
        return ModelEndpoint(
            api_key=api_key,
            base_url=base_url,
            model=self.model,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            max_tokens=self.max_tokens,
            max_connections=self.max_connections,
        )


@dataclass(frozen=True)
class VisionEndpoint:
    """Where images without a caption are described (see `VisionSettings.endpoint`)."""

    api_key: str | None
    base_url: str | None
    model: str
    timeout_s: float
    max_retries: int
    max_tokens: int
    detail: str


class VisionSettings(BaseModel):
    """The vision-capable chat model that describes images sent without a caption (docs/media.md)."""

    # Unset: no vision; an image without caption gets the persona's fallback.
    model: str | None = None
    # Unset: the reply model's key and base URL.
    api_key: SecretStr | None = None
    base_url: str | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=2, ge=0)
    max_tokens: int = Field(default=200, ge=1)
    # OpenAI's image `detail`: `low` is enough to tell what a photo shows, and cheap.
    detail: Literal["low", "high", "auto"] = "low"

    def endpoint(
        self, reply_model: ModelEndpoint | None, environ: Mapping[str, str]
    ) -> VisionEndpoint | None:
        """The vision model to call, or None when none is configured."""
        if self.model is None:
            return None
        api_key = self.api_key.get_secret_value() if self.api_key else None
        api_key = api_key or (reply_model.api_key if reply_model else None) or environ.get(OPENAI_API_KEY_ENV)
        base_url = self.base_url or (reply_model.base_url if reply_model else None)
        base_url = base_url or environ.get(OPENAI_BASE_URL_ENV) or None
        if api_key is None and base_url is None:
            return None
        return VisionEndpoint(
            api_key=api_key,
            base_url=base_url,
            model=self.model,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            max_tokens=self.max_tokens,
            detail=self.detail,
        )


class ReplySettings(BaseModel):
    """How much context a reply sees and how it is cut into messages."""

    # The conversation's last N messages (the request's own burst is always added).
    context_messages: int = Field(default=20, ge=1, le=200)
    # A long reply is split on blank lines into at most this many WhatsApp messages.
    max_parts: int = Field(default=3, ge=1, le=10)


class TypingSettings(BaseModel):
    """The human-like typing delay of each part (`SendText.typing_delay_ms`)."""

    # False (or every value at zero) gives 0 ms delays, for benchmarks.
    human_delays: bool = True
    ms_per_char: float = Field(default=40.0, ge=0)
    min_ms: int = Field(default=800, ge=0)
    # A hard ceiling: Evolution's sendText blocks the sender for the whole delay.
    max_ms: int = Field(default=8_000, ge=0)
    # Relative spread: 0.25 gives ±25 % around the length-proportional delay.
    jitter: float = Field(default=0.25, ge=0, le=1)


class GeneratorSettings(MirageSettings):
    """Everything the generator reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="MIRAGE_GENERATOR_")
    service_name: ClassVar[str] = "generator"

    runtime: GeneratorRuntime = GeneratorRuntime()
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    model: ModelSettings = ModelSettings()
    reply: ReplySettings = ReplySettings()
    typing: TypingSettings = TypingSettings()
    # Typing time of warm-up turns: 35–55 words a minute with pauses (`WARMUP_TYPING__SCALE` shrinks it).
    warmup_typing: TypingModel = TypingModel()
    vision: VisionSettings = VisionSettings()
    # Bounds how many conversations of one fetched batch are answered at once (unset: all).
    max_concurrent_conversations: int | None = Field(default=None, ge=1)
