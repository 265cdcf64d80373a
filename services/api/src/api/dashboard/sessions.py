"""Dashboard sign-in sessions, held server-side in Redis.

The browser holds only a random session id in an HttpOnly, SameSite=Strict cookie;
the API key never leaves the sign-in request. Redis keeps, under the SHA-256 of the
id (a dump of Redis yields no usable cookie), the tenant, the SHA-256 of the API key
(the same hash PostgreSQL stores, so every request re-checks that the key is still
live: revoking a key signs its sessions out) and the session's CSRF token.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis

SESSION_COOKIE = "mirage_session"
# Long enough for a working day; every request pushes the expiry forward.
SESSION_TTL_S = 12 * 3600


@dataclass(frozen=True)
class DashboardSession:
    """What a signed-in browser is."""

    tenant_id: uuid.UUID
    key_hash: str
    csrf_token: str
    created_at: datetime


class SessionStore:
    """Create, find and end sessions (one Redis string per session, with a TTL)."""

    def __init__(self, redis: Redis, *, key_prefix: str, ttl_s: int = SESSION_TTL_S) -> None:
        self.redis = redis
        self.key_prefix = key_prefix
        self.ttl_s = ttl_s

    def _key(self, session_id: str) -> str:
        digest = hashlib.sha256(session_id.encode()).hexdigest()
        return f"{self.key_prefix}dashboard:session:{digest}"

    async def create(self, tenant_id: uuid.UUID, key_hash: str) -> tuple[str, DashboardSession]:
        """A new session; returns the id for the cookie (shown nowhere else) and the session."""
        session_id = secrets.token_urlsafe(32)
        session = DashboardSession(
            tenant_id=tenant_id,
            key_hash=key_hash,
            csrf_token=secrets.token_urlsafe(32),
            created_at=datetime.now(UTC),
        )
        body = {
            "tenant_id": str(session.tenant_id),
            "key_hash": session.key_hash,
            "csrf_token": session.csrf_token,
            "created_at": session.created_at.isoformat(),
        }
        await self.redis.set(self._key(session_id), json.dumps(body), ex=self.ttl_s)
        return session_id, session

    async def find(self, session_id: str) -> DashboardSession | None:
        """The live session with this id (its expiry pushed forward), or None."""
        if not session_id or len(session_id) > 100:
            return None
        key = self._key(session_id)
        raw = await self.redis.getex(key, ex=self.ttl_s)
        if raw is None:
            return None
        try:
            body = json.loads(raw)
            return DashboardSession(
                tenant_id=uuid.UUID(body["tenant_id"]),
                key_hash=str(body["key_hash"]),
                csrf_token=str(body["csrf_token"]),
                created_at=datetime.fromisoformat(body["created_at"]),
            )
        except (ValueError, KeyError, TypeError):
            await self.redis.delete(key)
            return None

    async def end(self, session_id: str) -> None:
        """Sign out: the session id is worthless from now on."""
        if session_id:
            await self.redis.delete(self._key(session_id))
