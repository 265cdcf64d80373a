"""Instance lookups by Evolution name, cached briefly: every webhook needs one."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from database import Pool
from ingest.authentication import AuthMode


@dataclass(frozen=True)
class KnownInstance:
    """What ingest needs to know about an instance to accept its webhooks."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    auth_mode: AuthMode
    secret: str


class InstanceDirectory:
    """Name → instance, from PostgreSQL, with a short time-to-live cache."""

    def __init__(self, pool: Pool, ttl_s: float) -> None:
        self._pool = pool
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, KnownInstance | None]] = {}

    async def find(self, name: str) -> KnownInstance | None:
        """The live instance named `name`, or None (removed instances are unknown)."""
        if not _storable(name):
            return None  # a NUL or a lone surrogate: no stored name has one, PostgreSQL refuses both
        now = time.monotonic()
        cached = self._cache.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        row = await self._pool.fetchrow(
            "SELECT id, tenant_id, name, webhook_auth, webhook_secret FROM instances"
            " WHERE name = $1 AND state <> 'removed'",
            name,
        )
        found = (
            KnownInstance(
                id=row["id"],
                tenant_id=row["tenant_id"],
                name=row["name"],
                auth_mode=AuthMode(row["webhook_auth"]),
                secret=row["webhook_secret"],
            )
            if row
            else None
        )
        # Unknown names are cached too (briefly), so a flood for a deleted instance
        # does not turn into a flood of queries.
        self._cache[name] = (now + self._ttl_s, found)
        if len(self._cache) > 10_000:
            self._cache.clear()
        return found


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
