"""Exactly one scheduler replica leads: it holds a PostgreSQL advisory lock on a connection of
its own, and runs the cron and the turn timers only while it holds it.

The lock goes with the connection: a leader that dies, or loses its database connection,
releases it, and another replica takes it within `leader_retry_s`. Each round the cron starts
is written in a transaction that first checks, in `pg_locks`, that the leader's session still
holds the lock (a fence): a leader cut off from the database cannot start rounds on a stale
belief. The key is derived from the Kafka topic prefix, so installations (and tests) sharing a
database each have their own leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from database import Connection, PostgresSettings
from scheduler import repository

log = structlog.get_logger(__name__)


def lock_key(namespace: str) -> int:
    """The advisory lock key (a signed 64-bit integer) of the leader of `namespace`."""
    digest = hashlib.sha256(f"{namespace}mirage-scheduler-leader".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass
class Fence:
    """The leader's session, to check inside a transaction that it still holds the lock."""

    pid: int
    key: int
    current: bool = True

    async def holds(self, conn: Connection) -> bool:
        """Whether the leader's session still holds the lock (in the caller's transaction)."""
        return self.current and await repository.holds_leadership(conn, self.pid, self.key)


class Leadership:
    """Tries to become leader and, while it is, runs `lead(fence)`; stops it when the lock is lost."""

    def __init__(
        self,
        postgres: PostgresSettings,
        *,
        namespace: str,
        retry_s: float,
        lead: Callable[[Fence], Coroutine[Any, Any, None]],
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self._dsn = postgres.dsn.get_secret_value()
        self._connect_timeout_s = postgres.connect_timeout_s
        self.key = lock_key(namespace)
        self._retry_s = retry_s
        self._lead = lead
        self._on_change = on_change
        self._task: asyncio.Task[None] | None = None
        self.fence: Fence | None = None

    @property
    def is_leader(self) -> bool:
        """True while this replica holds the lock."""
        return self.fence is not None and self.fence.current

    def start(self) -> None:
        """Start competing for leadership in the background."""
        self._task = asyncio.create_task(self._run(), name="scheduler-leadership")

    async def stop(self) -> None:
        """Stop leading (if leading) and release the lock."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            conn: asyncpg.Connection[asyncpg.Record] | None = None
            try:
                conn = await asyncpg.connect(self._dsn, timeout=self._connect_timeout_s)
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key):
                    await self._hold(conn)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("scheduler leadership check failed; retrying", error=str(error))
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), timeout=2)
            await asyncio.sleep(self._retry_s)

    async def _hold(self, conn: asyncpg.Connection[asyncpg.Record]) -> None:
        pid = int(await conn.fetchval("SELECT pg_backend_pid()"))
        fence = Fence(pid=pid, key=self.key)
        self.fence = fence
        self._changed(leader=True)
        log.info("this scheduler replica leads", pid=pid)
        work: asyncio.Task[None] = asyncio.create_task(self._lead(fence), name="scheduler-leader-work")
        try:
            while not work.done():
                done, _ = await asyncio.wait({work}, timeout=self._retry_s)
                if done:
                    break
                await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=self._retry_s)
            if work.done() and not work.cancelled() and work.exception() is not None:
                log.error("the leader's work stopped", error=repr(work.exception()))
        finally:
            fence.current = False
            self.fence = None
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
            self._changed(leader=False)
            log.info("this scheduler replica no longer leads")

    def _changed(self, *, leader: bool) -> None:
        if self._on_change is not None:
            self._on_change(leader)
