"""A sliding-window rate limiter: one atomic Lua call per request, exact under concurrency.

Each tenant and endpoint (`GET /instances/{instance_id}`) has a sorted set
`rate_limit:{tenant}:{endpoint}` of the requests admitted in the last window
(scored by Redis's own clock, so replicas never disagree about time). One script
drops what left the window, counts what remains and admits the request only if
the count is below the limit — nothing can interleave inside it, so with 200
concurrent requests against a limit of 50 exactly 50 are admitted. A sliding
window has no boundary burst (a fixed window lets 2× the limit through around
its edge); it costs one set member per admitted request, bounded by the limit.

If Redis fails or is slow the request is served anyway (fail open), counted in
`mirage_api_rate_limit_fail_open_total`; after a few failures in a row Redis is
skipped for a short while so a dead Redis does not add its timeout to every
request, while a single slow answer does not switch limiting off.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from api.metrics import ApiMetrics
from api.settings import RateLimitPolicy, RateLimitSettings

log = structlog.get_logger(__name__)

# KEYS[1] the window's sorted set; ARGV: limit, window in ms, a unique member suffix.
# Returns {admitted (1/0), remaining, ms until the oldest counted request leaves, now in ms}.
SLIDING_WINDOW_SCRIPT = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms - window_ms)
local count = redis.call('ZCARD', key)
local admitted = 0
if count < limit then
  redis.call('ZADD', key, now_ms, clock[1] .. '.' .. clock[2] .. ':' .. ARGV[3])
  count = count + 1
  admitted = 1
end
redis.call('PEXPIRE', key, window_ms)
local reset_ms = window_ms
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
if oldest[2] then
  reset_ms = tonumber(oldest[2]) + window_ms - now_ms
end
return {admitted, limit - count, reset_ms, now_ms}
"""


@dataclass(frozen=True)
class Decision:
    """The limiter's verdict on one request."""

    admitted: bool
    policy_name: str
    limit: int
    window_s: int
    remaining: int
    # Milliseconds until the oldest request counted in the window leaves it (a slot frees).
    reset_after_ms: int
    # Redis's clock when the decision was made (ms since the epoch).
    now_ms: int

    @property
    def reset_epoch_s(self) -> int:
        """`X-RateLimit-Reset`: when a slot frees, in epoch seconds."""
        return math.ceil((self.now_ms + self.reset_after_ms) / 1000)

    @property
    def reset_after_s(self) -> int:
        """Seconds until a slot frees (at least 1 while limited)."""
        return max(1, math.ceil(self.reset_after_ms / 1000))

    def headers(self) -> dict[str, str]:
        """`X-RateLimit-*`, the IETF draft `RateLimit`/`RateLimit-Policy`, `Retry-After` when limited."""
        reset_s = self.reset_after_s if not self.admitted else max(0, math.ceil(self.reset_after_ms / 1000))
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_epoch_s),
            "RateLimit-Policy": f'"{self.policy_name}";q={self.limit};w={self.window_s}',
            "RateLimit": f'"{self.policy_name}";r={self.remaining};t={reset_s}',
        }
        if not self.admitted:
            headers["Retry-After"] = str(self.reset_after_s)
        return headers


def endpoint_name(method: str, route_template: str) -> str:
    """The endpoint a limit applies to: method and route template (`GET /instances/{instance_id}`)."""
    return f"{method.upper()} {route_template}"


class RateLimiter:
    """Decides, per tenant and endpoint, whether a request is within its limit."""

    def __init__(
        self, redis: Redis, settings: RateLimitSettings, *, key_prefix: str, metrics: ApiMetrics
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.key_prefix = key_prefix
        self.metrics = metrics
        self._script = redis.register_script(SLIDING_WINDOW_SCRIPT)
        self._skip_redis_until = 0.0
        self._failures_in_a_row = 0

    def policy_for(self, endpoint: str) -> tuple[str, RateLimitPolicy]:
        """The policy of an endpoint: its override, else the default."""
        override = self.settings.endpoints.get(endpoint)
        if override is not None:
            return endpoint, override
        return "default", self.settings.default

    def key(self, tenant_id: uuid.UUID, endpoint: str) -> str:
        """The Redis key of a tenant's window on an endpoint."""
        return f"{self.key_prefix}rate_limit:{tenant_id}:{endpoint}"

    async def check(self, tenant_id: uuid.UUID, endpoint: str) -> Decision | None:
        """Count the request; None when no decision could be made (fail open)."""
        if not self.settings.enabled:
            return None
        if time.monotonic() < self._skip_redis_until:
            self.metrics.rate_limit_fail_open.inc()
            return None
        name, policy = self.policy_for(endpoint)
        try:
            admitted, remaining, reset_ms, now_ms = await self._script(
                keys=[self.key(tenant_id, endpoint)],
                args=[policy.limit, policy.window_s * 1000, uuid.uuid4().hex[:12]],
            )
        except (RedisError, OSError, TimeoutError) as error:
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= self.settings.breaker_failures:
                self._failures_in_a_row = 0
                self._skip_redis_until = time.monotonic() + self.settings.breaker_open_s
            self.metrics.rate_limit_fail_open.inc()
            log.warning("rate limit check failed open", error=f"{type(error).__name__}: {error}"[:200])
            return None
        self._failures_in_a_row = 0
        decision = Decision(
            admitted=bool(admitted),
            policy_name=name,
            limit=policy.limit,
            window_s=policy.window_s,
            remaining=max(0, int(remaining)),
            reset_after_ms=max(0, int(reset_ms)),
            now_ms=int(now_ms),
        )
        if not decision.admitted:
            self.metrics.rate_limit_rejected.labels(endpoint=endpoint).inc()
        return decision
