"""Sending quotas in Redis: the key of each counter, and one Lua script that takes from all
the counters a send needs at once, or from none of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from redis.asyncio import Redis

from quotas.periods import LocalPeriods
from redis_client import RedisSettings


class QuotaScope(StrEnum):
    """What a counter limits (its key's second part)."""

    DAILY = "daily"  # the tenant's sends of a local day
    HOURLY = "hourly"  # the tenant's sends of a local hour
    NUMBER = "number"  # one sending number's sends of a local day


# How long a counter lives after it is created: its period plus a margin for clock skew.
_TTL_S = {QuotaScope.DAILY: 2 * 86_400, QuotaScope.HOURLY: 2 * 3_600, QuotaScope.NUMBER: 2 * 86_400}

# KEYS: the counters. ARGV: their limits, then their TTLs (seconds), then the amount.
# Checks every counter first; only when all have room are they all incremented. A counter
# gets its TTL when this script creates it. Returns 0, or the 1-based index of the first
# counter that has no room (nothing was changed).
TAKE_SCRIPT = """
local n = #KEYS
local amount = tonumber(ARGV[2 * n + 1])
for i = 1, n do
  local current = tonumber(redis.call('GET', KEYS[i]) or '0')
  if current + amount > tonumber(ARGV[i]) then
    return i
  end
end
for i = 1, n do
  local value = redis.call('INCRBY', KEYS[i], amount)
  if value == amount then
    redis.call('EXPIRE', KEYS[i], tonumber(ARGV[n + i]))
  end
end
return 0
"""


@dataclass(frozen=True)
class Counter:
    """One counter a send takes from: its key, scope and limit."""

    key: str
    scope: QuotaScope
    limit: int


@dataclass(frozen=True)
class QuotaVerdict:
    """What taking from a set of counters gave."""

    admitted: bool
    # The counter that had no room (None when admitted).
    blocked_by: Counter | None = None
    # When the blocking counter's period ends (UTC), for a reschedule.
    retry_at: datetime | None = None


class QuotaKeys:
    """The Redis key of every quota counter (PRODUCT §4.1), behind the deployment's key prefix.

    Dates are the tenant's local dates: `quota:daily:{tenant}:{YYYY-MM-DD}`,
    `quota:hourly:{tenant}:{YYYY-MM-DDTHH}`, `quota:number:{number}:{YYYY-MM-DD}`.
    """

    def __init__(self, settings: RedisSettings) -> None:
        self._settings = settings

    def daily(self, tenant: object, periods: LocalPeriods) -> str:
        """The tenant's counter of the local day."""
        return self._settings.key(f"quota:daily:{tenant}:{periods.day}")

    def hourly(self, tenant: object, periods: LocalPeriods) -> str:
        """The tenant's counter of the local hour."""
        return self._settings.key(f"quota:hourly:{tenant}:{periods.hour}")

    def number(self, number: str, periods: LocalPeriods) -> str:
        """One sending number's counter of the local day."""
        return self._settings.key(f"quota:number:{number}:{periods.day}")


class QuotaGate:
    """Takes sends from quota counters atomically, on one Redis."""

    def __init__(self, redis: Redis, settings: RedisSettings) -> None:
        self._redis = redis
        self.keys = QuotaKeys(settings)
        self._script = redis.register_script(TAKE_SCRIPT)

    def counters(
        self,
        *,
        tenant: object,
        number: str | None,
        periods: LocalPeriods,
        daily: int | None,
        hourly: int | None,
        per_number_daily: int | None,
    ) -> list[Counter]:
        """The counters of one send (a limit of None leaves its counter out)."""
        found = []
        if daily is not None:
            found.append(Counter(self.keys.daily(tenant, periods), QuotaScope.DAILY, daily))
        if hourly is not None:
            found.append(Counter(self.keys.hourly(tenant, periods), QuotaScope.HOURLY, hourly))
        if per_number_daily is not None and number is not None:
            found.append(Counter(self.keys.number(number, periods), QuotaScope.NUMBER, per_number_daily))
        return found

    async def take(self, counters: Sequence[Counter], periods: LocalPeriods, amount: int = 1) -> QuotaVerdict:
        """Take `amount` from every counter, or from none when one has no room."""
        if not counters:
            return QuotaVerdict(admitted=True)
        keys = [counter.key for counter in counters]
        limits = [counter.limit for counter in counters]
        ttls = [_TTL_S[counter.scope] for counter in counters]
        blocked = int(await self._script(keys=keys, args=[*limits, *ttls, amount]))
        if blocked == 0:
            return QuotaVerdict(admitted=True)
        counter = counters[blocked - 1]
        retry_at = periods.next_hour if counter.scope is QuotaScope.HOURLY else periods.next_day
        return QuotaVerdict(admitted=False, blocked_by=counter, retry_at=retry_at)

    async def used(self, keys: Sequence[str]) -> list[int]:
        """How much each counter has used (0 for one not created yet)."""
        if not keys:
            return []
        values = await self._redis.mget(list(keys))
        return [int(value) if value is not None else 0 for value in values]
