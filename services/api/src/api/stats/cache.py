"""Cache-aside for the stats routes: answers kept in Redis for a TTL, invalidated on refresh.

The analytics service bumps a generation counter in Redis after each refresh of its views
(`analytics.refresher.CACHE_GENERATION_KEY`); every cache key carries the generation it was
computed under, so a refresh invalidates every cached answer at once and the old entries
simply expire. Redis trouble never fails a request: the answer is computed from the views.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

# Logical key of the generation the analytics service bumps (the same name on both sides).
GENERATION_KEY = "stats:generation"


class StatsCacheMetrics:
    """Hits and misses of the stats cache."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.lookups = Counter(
            "mirage_api_stats_cache",
            "Stats answers served, by outcome (hit, miss, bypass: Redis failed).",
            ["outcome"],
            registry=registry if registry is not None else CollectorRegistry(),
        )


class StatsCache:
    """Answers of the stats routes by tenant, route and parameters."""

    def __init__(
        self, redis: Redis, *, key_prefix: str, ttl_s: int, metrics: StatsCacheMetrics | None = None
    ) -> None:
        self.redis = redis
        self.key_prefix = key_prefix
        self.ttl_s = ttl_s
        self.metrics = metrics or StatsCacheMetrics()

    def _key(
        self, generation: bytes | str | None, tenant_id: uuid.UUID, route: str, params: dict[str, Any]
    ) -> str:
        digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:24]
        version = generation.decode() if isinstance(generation, bytes) else (generation or "0")
        return f"{self.key_prefix}stats:cache:{version}:{tenant_id}:{route}:{digest}"

    async def get_or_compute(
        self,
        tenant_id: uuid.UUID,
        route: str,
        params: dict[str, Any],
        compute: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """The cached answer, or `compute()`'s (then cached for the TTL)."""
        try:
            generation = await self.redis.get(f"{self.key_prefix}{GENERATION_KEY}")
            key = self._key(generation, tenant_id, route, params)
            cached = await self.redis.get(key)
        except (RedisError, OSError) as error:
            log.warning("stats cache unavailable", error=f"{type(error).__name__}: {error}")
            self.metrics.lookups.labels("bypass").inc()
            return await compute()
        if cached is not None:
            self.metrics.lookups.labels("hit").inc()
            answer: dict[str, Any] = json.loads(cached)
            return answer
        self.metrics.lookups.labels("miss").inc()
        answer = await compute()
        try:
            await self.redis.set(key, json.dumps(answer, default=str), ex=self.ttl_s)
        except (RedisError, OSError) as error:
            log.warning("stats answer not cached", error=f"{type(error).__name__}: {error}")
        return answer
