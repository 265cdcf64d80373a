"""PostgreSQL settings, nested into each service's own settings class."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class PostgresSettings(BaseModel):
    """How a service reaches PostgreSQL."""

    dsn: SecretStr = SecretStr("postgresql://mirage:mirage@127.0.0.1:15432/mirage")
    pool_min_size: int = Field(default=2, ge=0)
    pool_max_size: int = Field(default=20, ge=1)
    # How long start-up waits for the database before it gives up.
    connect_timeout_s: float = Field(default=10.0, gt=0)
    # Bound on any single statement, so a stuck query never hangs a consumer.
    statement_timeout_ms: int = Field(default=15_000, ge=100)
