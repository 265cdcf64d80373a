"""The quota script on a real Redis: all counters or none, never over a limit under concurrency,
against a model under random limits and clock jumps across hours, days and DST."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from redis.asyncio import Redis

from quotas import QuotaGate, QuotaScope, local_periods
from redis_client import RedisSettings, create_redis

pytestmark = pytest.mark.integration

ZONE = "America/Sao_Paulo"


@pytest.fixture
async def redis(redis_settings: RedisSettings) -> AsyncIterator[Redis]:
    client = await create_redis(redis_settings)
    yield client
    await client.aclose()


async def test_a_blocked_counter_leaves_every_counter_untouched_and_says_when_to_come_back(
    redis: Redis, redis_settings: RedisSettings
) -> None:
    gate = QuotaGate(redis, redis_settings)
    now = datetime(2026, 12, 2, 14, 20, tzinfo=UTC)
    periods = local_periods(now, ZONE)
    counters = gate.counters(
        tenant="t1", number="5511900000001", periods=periods, daily=10, hourly=10, per_number_daily=2
    )
    assert [c.scope for c in counters] == [QuotaScope.DAILY, QuotaScope.HOURLY, QuotaScope.NUMBER]
    assert (await gate.take(counters, periods)).admitted
    assert (await gate.take(counters, periods)).admitted
    verdict = await gate.take(counters, periods)
    assert not verdict.admitted
    assert verdict.blocked_by is not None
    assert verdict.blocked_by.scope is QuotaScope.NUMBER
    assert verdict.retry_at == periods.next_day
    assert await gate.used([c.key for c in counters]) == [2, 2, 2], "none incremented by the refusal"
    ttls = [await redis.ttl(c.key) for c in counters]
    assert all(0 < ttl <= 2 * 86_400 for ttl in ttls), ttls
    assert counters[0].key.endswith(f"quota:daily:t1:{periods.day}")
    assert counters[1].key.endswith(f"quota:hourly:t1:{periods.hour}")
    assert counters[2].key.endswith(f"quota:number:5511900000001:{periods.day}")


async def test_an_hourly_block_comes_back_at_the_next_local_hour(
    redis: Redis, redis_settings: RedisSettings
) -> None:
    gate = QuotaGate(redis, redis_settings)
    periods = local_periods(datetime(2026, 12, 2, 14, 20, tzinfo=UTC), ZONE)
    counters = gate.counters(
        tenant="t2", number=None, periods=periods, daily=100, hourly=1, per_number_daily=5
    )
    assert [c.scope for c in counters] == [QuotaScope.DAILY, QuotaScope.HOURLY]
    assert (await gate.take(counters, periods)).admitted
    verdict = await gate.take(counters, periods)
    assert verdict.retry_at == periods.next_hour


async def test_64_concurrent_callers_never_over_admit(redis: Redis, redis_settings: RedisSettings) -> None:
    gate = QuotaGate(redis, redis_settings)
    periods = local_periods(datetime.now(UTC), ZONE)
    tenant = uuid.uuid4().hex

    async def caller(index: int) -> int:
        # Each of the 64 callers asks four times, as fast as Redis answers.
        counters = gate.counters(
            tenant=tenant,
            number=f"55119000000{index % 4:02d}",
            periods=periods,
            daily=37,
            hourly=30,
            per_number_daily=9,
        )
        return sum([(await gate.take(counters, periods)).admitted for _ in range(4)])

    admitted = sum(await asyncio.gather(*(caller(i) for i in range(64))))
    daily, hourly = await gate.used([gate.keys.daily(tenant, periods), gate.keys.hourly(tenant, periods)])
    numbers = await gate.used([gate.keys.number(f"55119000000{i:02d}", periods) for i in range(4)])
    assert admitted == 30 == hourly == daily, "the hourly limit binds, exactly"
    assert all(used <= 9 for used in numbers)
    assert sum(numbers) == admitted


class QuotaModel(RuleBasedStateMachine):
    """Random limits, sends on two numbers, and a clock that jumps across hours, days and DST."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.settings = RedisSettings(url=REDIS_URL, key_prefix=f"tq{uuid.uuid4().hex[:8]}:")
        self.redis = self.loop.run_until_complete(create_redis(self.settings))
        self.gate = QuotaGate(self.redis, self.settings)
        self.now = datetime(2026, 10, 31, 20, 0, tzinfo=UTC)
        self.model: dict[str, int] = {}

    @initialize(
        daily=st.integers(min_value=0, max_value=8),
        hourly=st.integers(min_value=0, max_value=5),
        per_number=st.integers(min_value=0, max_value=4),
        zone=st.sampled_from(["America/Sao_Paulo", "America/New_York", "Asia/Kolkata", "UTC"]),
    )
    def limits(self, daily: int, hourly: int, per_number: int, zone: str) -> None:
        self.daily, self.hourly, self.per_number, self.zone = daily, hourly, per_number, zone

    @rule(number=st.sampled_from(["5511900000001", "5511900000002"]))
    def send(self, number: str) -> None:
        periods = local_periods(self.now, self.zone)
        counters = self.gate.counters(
            tenant="t",
            number=number,
            periods=periods,
            daily=self.daily,
            hourly=self.hourly,
            per_number_daily=self.per_number,
        )
        expected = all(self.model.get(c.key, 0) + 1 <= c.limit for c in counters)
        verdict = self.loop.run_until_complete(self.gate.take(counters, periods))
        assert verdict.admitted == expected
        if expected:
            for counter in counters:
                self.model[counter.key] = self.model.get(counter.key, 0) + 1
        else:
            assert verdict.retry_at is not None
            assert verdict.retry_at > self.now

    @rule(minutes=st.sampled_from([7, 45, 60, 61, 23 * 60, 24 * 60, 25 * 60, 3 * 24 * 60]))
    def advance(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @invariant()
    def redis_matches_the_model(self) -> None:
        if not self.model:
            return
        keys = sorted(self.model)
        used = self.loop.run_until_complete(self.gate.used(keys))
        assert used == [self.model[key] for key in keys]

    def teardown(self) -> None:
        async def clean() -> None:
            keys = [key async for key in self.redis.scan_iter(match=f"{self.settings.key_prefix}*")]
            if keys:
                await self.redis.delete(*keys)
            await self.redis.aclose()

        self.loop.run_until_complete(clean())
        self.loop.close()


REDIS_URL = RedisSettings().url


@pytest.fixture
def _redis_for_the_model(redis_settings: RedisSettings) -> None:
    global REDIS_URL  # noqa: PLW0603 - the state machine is built by Hypothesis, without fixtures
    REDIS_URL = redis_settings.url


@pytest.mark.usefixtures("_redis_for_the_model")
def test_the_quota_script_agrees_with_a_model() -> None:
    QuotaModel.TestCase.settings = settings(
        max_examples=40, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)
    )
    QuotaModel.TestCase().runTest()
