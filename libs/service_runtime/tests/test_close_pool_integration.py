"""Shutdown never waits without limit for a database connection someone still holds."""

from __future__ import annotations

import asyncio
import time

from database import Pool, PostgresSettings, create_pool
from service_runtime.host import close_pool
from testkit import wait_until

NAME = "mirage-close-pool-test"


async def _backends(db_pool: Pool) -> int:
    return int(
        await db_pool.fetchval("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", NAME)
    )


async def test_a_held_connection_delays_the_close_only_up_to_the_bound(
    postgres_settings: PostgresSettings, db_pool: Pool
) -> None:
    pool = await create_pool(postgres_settings, application_name=NAME)
    held = await pool.acquire()  # never released, like a task stuck on an answer
    assert await held.fetchval("SELECT 1") == 1
    started = time.monotonic()
    await asyncio.wait_for(close_pool(pool, timeout_s=0.3), timeout=10)
    assert time.monotonic() - started < 5
    assert pool.is_closing()

    async def gone() -> bool:
        return await _backends(db_pool) == 0

    await wait_until(gone, timeout=5, message="its connections closed")


async def test_an_idle_pool_closes_gracefully(postgres_settings: PostgresSettings) -> None:
    pool = await create_pool(postgres_settings, application_name=NAME)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT 1") == 1
    await close_pool(pool, timeout_s=5)
    assert pool.is_closing()
