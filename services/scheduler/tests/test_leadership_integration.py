"""Two scheduler replicas: exactly one leads and starts rounds; when it goes, the other takes over."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack

from fastapi import FastAPI

from database import Pool, PostgresSettings
from messaging import KafkaSettings
from redis_client import RedisSettings
from scheduler.app import create_app
from scheduler.leadership import Leadership, lock_key
from scheduler.settings import SchedulerRuntime, SchedulerSettings
from testkit import wait_until

from .conftest import forget_pairs, new_pair, new_tenant

ALWAYS = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "24:00"}]


def _started(app: FastAPI) -> float:
    value = app.state.host.registry.get_sample_value(
        "mirage_warmup_rounds_started_total", {"trigger": "cron"}
    )
    return float(value or 0)


def _leading(app: FastAPI) -> bool:
    leadership: Leadership = app.state.leadership
    return leadership.is_leader


async def _rounds(pool: Pool, pairs: list[uuid.UUID]) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM rounds WHERE pair_id = ANY($1::uuid[])", pairs))


async def test_only_the_leader_starts_rounds_and_another_replica_takes_over(
    db_pool: Pool,
    postgres_settings: PostgresSettings,
    kafka_settings: KafkaSettings,
    redis_settings: RedisSettings,
) -> None:
    tenant = await new_tenant(db_pool, count=8)
    settings = SchedulerSettings(
        runtime=SchedulerRuntime(log_level="WARNING", log_json=False),
        kafka=kafka_settings,
        postgres=postgres_settings,
        redis=redis_settings,
        cron="* * * * * *",  # every second
        leader_retry_s=0.3,
        timer_interval_s=0.2,
        turn_timeout_s=3600,
        only_tenants=(tenant.id,),
    )
    numbers = tenant.numbers
    pairs = [
        await new_pair(
            db_pool, tenant, windows=ALWAYS, instance_a_id=numbers[i].id, instance_b_id=numbers[i + 1].id
        )
        for i in (0, 2, 4)
    ]
    replicas = [create_app(settings), create_app(settings)]
    lifespans = [AsyncExitStack(), AsyncExitStack()]
    try:
        for app, lifespan in zip(replicas, lifespans, strict=True):
            await lifespan.enter_async_context(app.router.lifespan_context(app))

        async def all_started() -> bool:
            return await _rounds(db_pool, pairs) == 3

        await wait_until(all_started, timeout=30, message="a round for each of the three pairs")
        await wait_until(lambda: sum(map(_leading, replicas)) == 1, timeout=10, message="one leader")
        [leader] = [index for index, app in enumerate(replicas) if _leading(app)]
        follower = 1 - leader
        # Several cron firings later, still one round per pair: each pair's round runs on.
        await wait_until(lambda: sum(map(_started, replicas)) == 3, timeout=10, message="three starts")
        assert _started(replicas[leader]) == 3
        assert _started(replicas[follower]) == 0
        assert not _leading(replicas[follower])
        holders = await db_pool.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND objid = ($1::bigint & 4294967295)::oid"
            " AND classid = (($1::bigint >> 32) & 4294967295)::oid",
            lock_key(kafka_settings.topic_prefix),
        )
        assert holders == 1

        # The leader goes away: the other replica takes over and starts the next pair's round.
        await lifespans[leader].aclose()
        await wait_until(lambda: _leading(replicas[follower]), timeout=15, message="the follower leads")
        late = await new_pair(
            db_pool, tenant, windows=ALWAYS, instance_a_id=numbers[6].id, instance_b_id=numbers[7].id
        )

        async def late_started() -> bool:
            return await _rounds(db_pool, [late]) == 1

        await wait_until(late_started, timeout=15, message="the new leader starts a round")
        assert _started(replicas[follower]) == 1
        assert await _rounds(db_pool, pairs) == 3
    finally:
        for lifespan in lifespans:
            await lifespan.aclose()
        await forget_pairs(db_pool, tenant.id)
