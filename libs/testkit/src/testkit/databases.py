"""One migrated PostgreSQL database per test worker, cloned from a template."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import asyncpg

from database import migrate

_LOCK_ID = 7_262_001  # advisory lock serialising template builds across workers


def _migrations_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(migrate.MIGRATIONS_DIR).rglob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _with_database(dsn: str, name: str) -> str:
    base, _, _ = dsn.rpartition("/")
    return f"{base}/{name}"


async def _exists(conn: asyncpg.Connection[asyncpg.Record], name: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))


async def prepare_template(admin_dsn: str) -> str:
    """The name of a database migrated to head for the current migrations (built once)."""
    name = f"mirage_tpl_{_migrations_fingerprint()}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
        try:
            if not await _exists(conn, name):
                building = f"{name}_building"
                await conn.execute(f'DROP DATABASE IF EXISTS "{building}"')
                await conn.execute(f'CREATE DATABASE "{building}"')
                await asyncio.to_thread(migrate.upgrade, _with_database(admin_dsn, building))
                await conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    finally:
        await conn.close()
    return name


async def create_database(admin_dsn: str, name: str, template: str) -> str:
    """(Re)create database `name` as a copy of `template`; returns its DSN."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return _with_database(admin_dsn, name)
