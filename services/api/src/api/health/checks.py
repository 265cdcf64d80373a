"""The dependency checks behind `GET /health`, each bounded so health never hangs.

- PostgreSQL: `SELECT 1` through the pool.
- Redis: `PING` on a client of its own with short socket timeouts and no retries
  (redis-py would otherwise retry and wait its full timeout; a reconnect happens
  on the next check once Redis is back).
- Kafka: a metadata request, with the connect timeout cut to the check's.
- Evolution API: `connectionState` of an instance Mirage knows (a 404 still
  proves Evolution answers), or `GET /` when there is none — on a client with
  short timeouts, because Evolution's `GET /` can hang.

All four run concurrently, each inside `asyncio.wait_for(check_timeout_s)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from api.instances import repository as instances
from database import Pool
from evolution_client import EvolutionClient, EvolutionNotFoundError
from messaging import KafkaSettings, cluster_metadata

Check = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome."""

    ok: bool
    latency_ms: float
    error: str | None = None


class HealthChecks:
    """Runs the four dependency checks."""

    def __init__(
        self,
        *,
        pool: Pool,
        redis: Redis,
        kafka: KafkaSettings,
        evolution: EvolutionClient,
        timeout_s: float,
    ) -> None:
        self.pool = pool
        self.redis = redis
        # The admin client gives up on its own (connect, then metadata) before the check's
        # deadline, so it is always closed instead of cancelled half-open.
        self.kafka = kafka.model_copy(update={"connect_timeout_s": timeout_s * 0.4})
        self.evolution = evolution
        self.timeout_s = timeout_s
        self.checks: dict[str, Check] = {
            "postgres": self._postgres,
            "redis": self._redis,
            "kafka": self._kafka,
            "evolution": self._evolution,
        }

    async def _postgres(self) -> None:
        await self.pool.fetchval("SELECT 1")

    async def _redis(self) -> None:
        if not await self.redis.ping():
            raise RuntimeError("PING did not answer PONG")

    async def _kafka(self) -> None:
        await cluster_metadata(self.kafka, client_id="mirage-api-health")

    async def _evolution(self) -> None:
        known = await instances.any_live_instance(self.pool)
        if known is None:
            await self.evolution.server_info()
            return
        # A 404 is an answer: Evolution is up, it just lost that instance.
        with contextlib.suppress(EvolutionNotFoundError):
            await self.evolution.connection_state(known[0])

    async def _one(self, check: Check) -> CheckResult:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(check(), timeout=self.timeout_s)
        except TimeoutError:
            return CheckResult(
                ok=False, latency_ms=self._since(started), error=f"timed out after {self.timeout_s:g}s"
            )
        except Exception as error:  # noqa: BLE001 - a health check reports, never raises
            return CheckResult(
                ok=False, latency_ms=self._since(started), error=f"{type(error).__name__}: {error}"[:300]
            )
        return CheckResult(ok=True, latency_ms=self._since(started))

    @staticmethod
    def _since(started: float) -> float:
        return round((time.perf_counter() - started) * 1000, 1)

    async def run(self) -> dict[str, CheckResult]:
        """Every check, concurrently."""
        names = list(self.checks)
        results = await asyncio.gather(*(self._one(self.checks[name]) for name in names))
        return dict(zip(names, results, strict=True))
