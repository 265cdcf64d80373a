"""Refreshes the materialized views every `refresh.interval_s`, then invalidates the api's cache.

Each view is refreshed `CONCURRENTLY` in a transaction of its own: readers keep reading the
previous contents and never wait. One replica refreshes a view at a time (a transaction-scoped
advisory lock; the others skip it). After a pass the cache generation in Redis is bumped: the
api's cache keys carry the generation, so every cached answer is invalidated at once and the
old entries expire with their TTL.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis

from analytics.metrics import AnalyticsMetrics
from analytics.tables import VIEWS
from database import Connection, Pool
from redis_client import RedisSettings
from service_runtime import PeriodicTask

log = structlog.get_logger(__name__)

# Logical Redis key of the stats cache generation (the api reads it: `api.stats.cache`).
CACHE_GENERATION_KEY = "stats:generation"
_LOCK_NAMESPACE = 7_262_011


def cache_generation_key(settings: RedisSettings) -> str:
    """The physical key of the cache generation."""
    return settings.key(CACHE_GENERATION_KEY)


@dataclass(frozen=True)
class RefreshReport:
    """What one pass did."""

    refreshed: tuple[str, ...]
    skipped: tuple[str, ...]
    seconds: float


async def refresh_view(conn: Connection, schema: str, view: str, *, concurrently: bool = True) -> None:
    """Refresh one view (inside the caller's transaction)."""
    mode = "CONCURRENTLY " if concurrently else ""
    await conn.execute(f"REFRESH MATERIALIZED VIEW {mode}{schema}.{view}")


class ViewRefresher:
    """Refreshes the views periodically and on demand (`POST /refresh`)."""

    def __init__(
        self,
        *,
        pool: Pool,
        redis: Redis,
        redis_settings: RedisSettings,
        schema: str,
        interval_s: float,
        statement_timeout_s: float,
        metrics: AnalyticsMetrics,
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.generation_key = cache_generation_key(redis_settings)
        self.schema = schema
        self.interval_s = interval_s
        self.statement_timeout_ms = int(statement_timeout_s * 1000)
        self.metrics = metrics
        self._loop = PeriodicTask(
            "analytics-view-refresh", self.refresh, interval_s=interval_s, first_delay_s=interval_s
        )
        self._lock = asyncio.Lock()

    async def refresh(self) -> RefreshReport:
        """Refresh every view now (one pass at a time per process) and invalidate the cache."""
        async with self._lock:
            started = time.perf_counter()
            refreshed: list[str] = []
            skipped: list[str] = []
            for view in VIEWS:
                if await self._refresh_one(view):
                    refreshed.append(view)
                else:
                    skipped.append(view)
            seconds = time.perf_counter() - started
            async with self.pool.acquire() as conn:
                await conn.execute(
                    f"INSERT INTO {self.schema}.refreshes (id, refreshed_at, duration_ms)"  # noqa: S608
                    " VALUES (true, now(), $1)"
                    " ON CONFLICT (id) DO UPDATE SET refreshed_at = excluded.refreshed_at,"
                    " duration_ms = excluded.duration_ms",
                    round(seconds * 1000),
                )
            await self.redis.incr(self.generation_key)
            self.metrics.last_refresh.set(time.time())
            log.info("views refreshed", refreshed=refreshed, skipped=skipped, seconds=round(seconds, 3))
            return RefreshReport(tuple(refreshed), tuple(skipped), seconds)

    async def _refresh_one(self, view: str) -> bool:
        started = time.perf_counter()
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(f"SET LOCAL statement_timeout = {self.statement_timeout_ms}")
                locked = await conn.fetchval(
                    "SELECT pg_try_advisory_xact_lock($1, hashtext($2))",
                    _LOCK_NAMESPACE,
                    f"{self.schema}.{view}",
                )
                if not locked:
                    return False  # another replica is refreshing it right now
                await refresh_view(conn, self.schema, view)
        except Exception:
            self.metrics.refresh_failures.labels(view).inc()
            raise
        self.metrics.refresh_seconds.labels(view).observe(time.perf_counter() - started)
        return True

    def start(self) -> None:
        """Refresh every `interval_s` in the background."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop refreshing."""
        await self._loop.stop()
