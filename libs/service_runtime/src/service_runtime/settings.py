"""Settings building blocks shared by every service's own settings class."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

SHARED_ENV_PREFIX = "MIRAGE_"

Environment = Literal["development", "test", "production"]


class RuntimeSettings(BaseModel):
    """How the process runs: environment, logs, its HTTP port."""

    environment: Environment = "development"
    log_level: str = "INFO"
    # JSON lines for machines; `false` gives readable console lines for humans.
    log_json: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # Seconds the HTTP server waits for in-flight requests when asked to stop.
    graceful_timeout_s: float = Field(default=20.0, gt=0)


class MirageSettings(BaseSettings):
    """Base of every service's settings.

    A subclass sets its own `env_prefix` (`MIRAGE_INGEST_`, …). Settings shared by
    all services may also be given once with the shared prefix `MIRAGE_`
    (`MIRAGE_KAFKA__BOOTSTRAP_SERVERS`); the service's own prefix wins.
    Nested models use `__`: `MIRAGE_INGEST_POSTGRES__DSN`.
    """

    model_config = SettingsConfigDict(
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
    )

    service_name: ClassVar[str] = "mirage"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        shared = EnvSettingsSource(
            settings_cls,
            env_prefix=SHARED_ENV_PREFIX,
            env_nested_delimiter="__",
            case_sensitive=False,
        )
        return (init_settings, env_settings, shared, dotenv_settings, file_secret_settings)

    @classmethod
    def env_names(cls, dotted_field: str) -> str:
        """The environment variables that set `dotted_field` (`kafka.bootstrap_servers`)."""
        path = "__".join(part.upper() for part in dotted_field.split("."))
        own_prefix = str(cls.model_config.get("env_prefix", "")).upper()
        return f"{own_prefix}{path} or {SHARED_ENV_PREFIX}{path}"


def refuse_default_secrets(environment: Environment, secrets: dict[str, tuple[Any, Any]]) -> list[str]:
    """Names of secrets still at their development default outside development."""
    if environment == "development":
        return []
    return [name for name, (value, default) in secrets.items() if value == default]
