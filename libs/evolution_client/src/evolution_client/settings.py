"""Settings of the Evolution API client, nested into each service's own settings class."""

from __future__ import annotations

import httpx
from pydantic import BaseModel, Field, SecretStr


class EvolutionSettings(BaseModel):
    """Where Evolution API answers, with which key, and how patiently."""

    # The local simulator by default (PRODUCT §10); a real Evolution API in production.
    base_url: str = "http://127.0.0.1:8002"
    # The global `AUTHENTICATION_API_KEY`; per-instance tokens are passed per call.
    api_key: SecretStr = SecretStr("sim-global-key")
    connect_timeout_s: float = Field(default=3.0, gt=0)
    # Waiting for the answer. Calls that make Evolution block (`delay` on sendText and
    # sendPresence) get that delay added on top, per call.
    read_timeout_s: float = Field(default=15.0, gt=0)
    write_timeout_s: float = Field(default=10.0, gt=0)
    # Waiting for a free pooled connection (the request has not left the process yet).
    pool_timeout_s: float = Field(default=10.0, gt=0)
    max_connections: int = Field(default=100, ge=1)
    max_keepalive_connections: int = Field(default=20, ge=0)
    # Shorter than Node's default 5 s keep-alive: reusing a connection the server is
    # closing fails the request in a way that looks like "outcome unknown".
    keepalive_expiry_s: float = Field(default=4.0, ge=0)

    def timeout(self, *, extra_read_s: float = 0.0) -> httpx.Timeout:
        """The httpx timeout of one call, with `extra_read_s` added to the read wait."""
        return httpx.Timeout(
            connect=self.connect_timeout_s,
            read=self.read_timeout_s + max(0.0, extra_read_s),
            write=self.write_timeout_s,
            pool=self.pool_timeout_s,
        )

    def limits(self) -> httpx.Limits:
        """The connection pool limits of the shared client."""
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_keepalive_connections,
            keepalive_expiry=self.keepalive_expiry_s,
        )
