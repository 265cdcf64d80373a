"""Redis clients that fail fast: a dead or frozen Redis must never stall a request or `/health`.

redis-py retries failed commands and waits the full socket timeout by default;
the rate limiter and the health check instead want one short attempt and an
answer, so their clients have no retries and short socket timeouts. The pool
blocks (briefly) instead of failing when all its connections are busy: a burst of
requests must queue for a connection, not fail open.
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from redis_client import RedisSettings

# A few connections serve thousands of sub-millisecond calls a second. Fewer connections
# also means a burst of requests opens few at once: a hundred simultaneous connects on a
# busy machine take longer than a command timeout, and the limiter would fail open on a
# Redis that is merely busy accepting connections.
MAX_CONNECTIONS = 16
# Connecting may take longer than a command under load; a Redis that is really down
# refuses at once, and a frozen one is caught by the command timeout.
MIN_CONNECT_TIMEOUT_S = 1.0


def fast_failing_redis(settings: RedisSettings, *, timeout_s: float, pool_wait_s: float = 2.0) -> Redis:
    """A client whose every command answers or fails within about `timeout_s`."""
    pool = BlockingConnectionPool.from_url(
        settings.url.get_secret_value(),
        max_connections=min(settings.max_connections, MAX_CONNECTIONS),
        timeout=pool_wait_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=max(timeout_s, MIN_CONNECT_TIMEOUT_S),
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
    )
    # `from_pool`: closing the client closes its pool too.
    return Redis.from_pool(pool)
