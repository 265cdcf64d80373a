"""The one asyncpg pool factory."""

from __future__ import annotations

import asyncio
import json
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from database.settings import PostgresSettings

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


class DatabaseUnavailableError(RuntimeError):
    """PostgreSQL could not be reached or refused the credentials at start-up."""


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    # jsonb in and out as Python objects, not strings.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _release(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    # asyncpg's default reset (unlock advisory locks, close cursors, unlisten, reset
    # settings) costs a round trip on *every* release, about ten per message through
    # the pipeline. Mirage leaves no such session state behind (no LISTEN, no held
    # cursors, no SET; the one session advisory lock is released in a `finally`), so a
    # returned connection only needs an abandoned transaction rolled back.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(settings: PostgresSettings, *, application_name: str) -> Pool:
    """Open a pool, failing fast with `DatabaseUnavailableError` when PostgreSQL is unreachable."""
    server_settings = {
        "application_name": application_name,
        "statement_timeout": str(settings.statement_timeout_ms),
    }
    try:
        pool: Any = await asyncio.wait_for(
            asyncpg.create_pool(
                settings.dsn.get_secret_value(),
                min_size=settings.pool_min_size,
                max_size=settings.pool_max_size,
                server_settings=server_settings,
                init=_init_connection,
                reset=_release,
                timeout=settings.connect_timeout_s,
            ),
            timeout=settings.connect_timeout_s,
        )
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise DatabaseUnavailableError(_describe(error)) from error
    return pool  # type: ignore[no-any-return]


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out connecting to PostgreSQL"
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
