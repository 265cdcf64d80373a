"""A number's daily budget, shared with outreach: the `quota:number:{number}:{date}` counter."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from redis.asyncio import Redis

from quotas import QuotaGate, local_periods
from redis_client import RedisSettings


class NumberBudget:
    """Reads and takes warm-up sends from the per-number daily counters (dates in the tenant's zone)."""

    def __init__(self, redis: Redis, settings: RedisSettings) -> None:
        self.gate = QuotaGate(redis, settings)

    async def used_today(self, numbers: Sequence[str | None], time_zone: str, now: datetime) -> list[int]:
        """What each number has taken today (0 for an unknown number)."""
        periods = local_periods(now, time_zone)
        known = [number for number in numbers if number]
        used = dict(
            zip(known, await self.gate.used([self.gate.keys.number(n, periods) for n in known]), strict=True)
        )
        return [used.get(number, 0) if number else 0 for number in numbers]

    async def take(self, number: str, cap: int, amount: int, time_zone: str, now: datetime) -> bool:
        """Take `amount` sends from the number's counter, or nothing when that would pass `cap`."""
        periods = local_periods(now, time_zone)
        counters = self.gate.counters(
            tenant=None, number=number, periods=periods, daily=None, hourly=None, per_number_daily=cap
        )
        verdict = await self.gate.take(counters, periods, amount=amount)
        return verdict.admitted
