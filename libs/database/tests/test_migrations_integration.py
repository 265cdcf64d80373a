"""The Alembic migrations on a real PostgreSQL: up to head, down to base and up again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic import command

from database import migrate
from testkit import Infra
from testkit.databases import create_database, drop_database

ENTITY_TABLES = {
    "tenants", "api_keys", "personas", "instances", "instance_transitions", "contacts",
    "conversations", "messages", "raw_events", "outbox", "processed_events", "rounds",
    "campaigns", "campaign_targets", "consent_events", "opt_outs", "admin_alerts",
}  # fmt: skip


@pytest.fixture
async def empty_database(infra: Infra) -> AsyncIterator[str]:
    name = f"mirage_migrations_{uuid.uuid4().hex[:8]}"
    yield await create_database(infra.postgres_admin_dsn, name)
    await drop_database(infra.postgres_admin_dsn, name)


async def _tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {row["tablename"] for row in rows}


async def test_migrations_go_up_down_and_up_again(empty_database: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_database)
    assert await _tables(empty_database) >= ENTITY_TABLES

    await asyncio.to_thread(command.downgrade, migrate.alembic_config(empty_database), "base")
    assert await _tables(empty_database) == {"alembic_version"}

    await asyncio.to_thread(migrate.upgrade, empty_database)
    assert await _tables(empty_database) >= ENTITY_TABLES


async def test_a_provider_message_id_is_unique_per_instance(empty_database: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_database)
    conn = await asyncpg.connect(empty_database)
    try:
        constraints = await conn.fetch(
            "SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint"
            " WHERE conrelid = 'messages'::regclass AND contype = 'u'"
        )
    finally:
        await conn.close()
    assert "UNIQUE (instance_id, provider_id)" in {row["definition"] for row in constraints}


def test_the_command_line_names_the_setting_when_postgres_is_unreachable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert migrate.main(["current", "--dsn", "postgresql://mirage:x@127.0.0.1:1/nowhere"]) == 2
    assert "MIRAGE_POSTGRES__DSN" in capsys.readouterr().err
