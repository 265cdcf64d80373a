"""One migrated PostgreSQL database per test worker, cloned from a template.

Worker databases are named `mirage_test_<pid>_<worker>`: a session drops its own at
the end, and the next session drops those whose process is gone (a run that was killed).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from pathlib import Path

import asyncpg

from database import migrate

_LOCK_ID = 7_262_001  # advisory lock serialising template builds across workers
WORKER_DATABASE_PREFIX = "mirage_test_"
_WORKER_DATABASE = re.compile(rf"^{WORKER_DATABASE_PREFIX}(\d+)_")


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
            await _drop_other_templates(conn, keep=name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    finally:
        await conn.close()
    return name


async def _drop_other_templates(conn: asyncpg.Connection[asyncpg.Record], *, keep: str) -> None:
    """Drop the templates of earlier migrations; one still being copied is left alone."""
    for row in await conn.fetch(
        "SELECT datname FROM pg_database WHERE datname LIKE 'mirage\\_tpl\\_%' AND datname <> $1", keep
    ):
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}"')
        except asyncpg.ObjectInUseError:
            continue


# How long a drop waits for an autovacuum worker to leave the database.
DROP_PATIENCE_S = 30.0


async def drop_forcibly(conn: asyncpg.Connection[asyncpg.Record], name: str) -> None:
    """`DROP DATABASE IF EXISTS name WITH (FORCE)`, also when autovacuum is working on it.

    FORCE terminates the other sessions, but PostgreSQL refuses it to a role that is not a
    member of each session's role, and an autovacuum worker (which a database that just took
    thousands of rows often has) counts as one: "must be a member of the role whose process
    is being terminated". A plain `DROP` stops autovacuum workers itself but fails while a
    session is connected, so the two are tried in turn until one goes through.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DROP_PATIENCE_S
    while True:
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except asyncpg.InsufficientPrivilegeError:
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            except asyncpg.ObjectInUseError:
                if loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.1)
                continue
        return


async def create_database(admin_dsn: str, name: str, template: str | None = None) -> str:
    """(Re)create database `name`, a copy of `template` or empty; returns its DSN."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await drop_forcibly(conn, name)
        copy = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await conn.close()
    return _with_database(admin_dsn, name)


def worker_database_name(worker_id: str) -> str:
    """The database of this process's test worker."""
    return f"{WORKER_DATABASE_PREFIX}{os.getpid()}_{worker_id}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def drop_database(admin_dsn: str, name: str) -> None:
    """Drop database `name`, disconnecting whoever is still on it."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await drop_forcibly(conn, name)
    finally:
        await conn.close()


async def drop_abandoned_worker_databases(admin_dsn: str) -> list[str]:
    """Drop the worker databases of test runs whose process is gone; their names."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        names = [
            row["datname"]
            for row in await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{WORKER_DATABASE_PREFIX}%"
            )
        ]
    finally:
        await conn.close()
    abandoned = []
    for name in names:
        found = _WORKER_DATABASE.match(name)
        if found and not _process_alive(int(found.group(1))):
            await drop_database(admin_dsn, name)
            abandoned.append(name)
    return abandoned
