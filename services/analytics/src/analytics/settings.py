"""Settings of the analytics service (env prefix `MIRAGE_ANALYTICS_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from database import PostgresSettings
from messaging import KafkaSettings
from redis_client import RedisSettings
from service_runtime import MirageSettings, RuntimeSettings


class AnalyticsRuntime(RuntimeSettings):
    """The analytics service's probe and metrics port."""

    port: int = 8008


class WriterSettings(BaseModel):
    """How consumed events are written (`MIRAGE_ANALYTICS_WRITER__<FIELD>`)."""

    # Events of many conversations are written in one transaction (group commit): a batch
    # closes at this many events, or this long after its first event arrived.
    max_batch: int = Field(default=500, ge=1, le=10_000)
    linger_ms: float = Field(default=5.0, ge=0)


class RefreshSettings(BaseModel):
    """The materialized views (`MIRAGE_ANALYTICS_REFRESH__<FIELD>`)."""

    # PRODUCT §5: every 15 minutes. Each view is refreshed CONCURRENTLY: reads never wait.
    interval_s: float = Field(default=900.0, gt=0)
    # A refresh may take longer than the pool's statement timeout.
    statement_timeout_s: float = Field(default=600.0, gt=0)


class ModelPrice(BaseModel):
    """US dollars per million tokens."""

    prompt: float = Field(ge=0)
    completion: float = Field(ge=0)


def _default_prices() -> dict[str, ModelPrice]:
    return {
        "gpt-4o-mini": ModelPrice(prompt=0.15, completion=0.60),
        "gpt-4o": ModelPrice(prompt=2.50, completion=10.00),
        "gpt-4.1-mini": ModelPrice(prompt=0.40, completion=1.60),
        "gpt-4.1": ModelPrice(prompt=2.00, completion=8.00),
    }


class CostSettings(BaseModel):
    """Estimated model cost (`MIRAGE_ANALYTICS_COST__PRICES='{"my-model": {...}}'`)."""

    # By model name; a model reported as `name-2024-07-18` uses the price of `name`.
    prices: dict[str, ModelPrice] = Field(default_factory=_default_prices)
    # Models not listed (local servers, the simulator) cost this.
    default: ModelPrice = ModelPrice(prompt=0.0, completion=0.0)

    def price(self, model: str) -> ModelPrice:
        """The price of `model`: the longest listed name it starts with, else the default."""
        best: str | None = None
        for name in self.prices:
            if (model == name or model.startswith(f"{name}-")) and (best is None or len(name) > len(best)):
                best = name
        return self.prices[best] if best is not None else self.default

    def micro_usd(self, model: str, prompt_tokens: int, completion_tokens: int) -> int:
        """Estimated cost of one call, in millionths of a US dollar."""
        price = self.price(model)
        return round(prompt_tokens * price.prompt + completion_tokens * price.completion)


class AnalyticsSettings(MirageSettings):
    """Everything the analytics service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="MIRAGE_ANALYTICS_")
    service_name: ClassVar[str] = "analytics"

    runtime: AnalyticsRuntime = AnalyticsRuntime()
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    writer: WriterSettings = WriterSettings()
    refresh: RefreshSettings = RefreshSettings()
    cost: CostSettings = CostSettings()
    # The database schema of the stats tables and views (the rebuild fills another one).
    schema_name: str = Field(default="analytics", pattern=r"^[a-z_][a-z0-9_]*$")
