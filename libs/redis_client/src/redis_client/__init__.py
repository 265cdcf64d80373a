"""Redis settings and the client factory."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field, SecretStr
from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = ["RedisSettings", "RedisUnavailableError", "create_redis"]


class RedisSettings(BaseModel):
    """How a service reaches Redis."""

    url: SecretStr = SecretStr("redis://127.0.0.1:16379/0")
    # Prepended to every key: isolates tests and installations sharing one Redis.
    key_prefix: str = ""
    socket_timeout_s: float = Field(default=2.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=100, ge=1)

    def key(self, name: str) -> str:
        """The physical name of a logical key."""
        return f"{self.key_prefix}{name}"


class RedisUnavailableError(RuntimeError):
    """Redis did not answer PING at start-up."""


async def create_redis(settings: RedisSettings, *, check: bool = True) -> Redis:
    """A client (with its own pool); with `check`, fail fast unless Redis answers PING."""
    client = Redis.from_url(
        settings.url.get_secret_value(),
        socket_timeout=settings.socket_timeout_s,
        socket_connect_timeout=settings.connect_timeout_s,
        max_connections=settings.max_connections,
        decode_responses=False,
        health_check_interval=30,
    )
    if check:
        try:
            await asyncio.wait_for(client.ping(), timeout=settings.connect_timeout_s)
        except (RedisError, OSError, TimeoutError) as error:
            await client.aclose()
            raise RedisUnavailableError(f"Redis is unreachable: {error or 'timed out'}") from error
    return client
