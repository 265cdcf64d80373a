"""The earlier conversations the pipeline benchmarks' database holds before the load, on real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from bench.pipeline_history import seed_history

from testkit.databases import create_database, drop_database, prepare_template
from testkit.infra import Infra

CONVERSATIONS = 300


@pytest.fixture
async def seeded(infra: Infra) -> AsyncIterator[tuple[asyncpg.Connection[asyncpg.Record], uuid.UUID]]:
    name = f"history_{uuid.uuid4().hex[:12]}"
    template = await prepare_template(infra.postgres_admin_dsn)
    dsn = await create_database(infra.postgres_admin_dsn, name, template)
    conn = await asyncpg.connect(dsn)
    try:
        tenant = await conn.fetchval("INSERT INTO tenants (slug, name) VALUES ('history', 'h') RETURNING id")
        instance = await conn.fetchval(
            "INSERT INTO instances (tenant_id, name, webhook_secret)"
            " VALUES ($1, 'history-1', 's') RETURNING id",
            tenant,
        )
        await seed_history(
            dsn,
            tenant_id=tenant,
            instance_id=instance,
            instance_name="history-1",
            conversations=CONVERSATIONS,
        )
        yield conn, instance
    finally:
        await conn.close()
        await drop_database(infra.postgres_admin_dsn, name)


async def test_every_conversation_has_its_contact_state_messages_reply_and_send(
    seeded: tuple[asyncpg.Connection[asyncpg.Record], uuid.UUID],
) -> None:
    conn, instance = seeded

    complete = await conn.fetchval(
        """
        SELECT count(*) FROM conversations c
        JOIN contacts p ON p.id = c.contact_id
        JOIN conversation_guard_state g ON g.conversation_id = c.id
        WHERE c.instance_id = $1
          AND (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) = 2
          AND EXISTS (SELECT 1 FROM guard_decisions d WHERE d.conversation_id = c.id)
          AND EXISTS (SELECT 1 FROM replies r WHERE r.conversation_id = c.id)
          AND EXISTS (SELECT 1 FROM sends s WHERE s.conversation_id = c.id AND s.status = 'sent')
        """,
        instance,
    )

    assert complete == CONVERSATIONS


async def test_every_table_is_analyzed_with_its_rows(
    seeded: tuple[asyncpg.Connection[asyncpg.Record], uuid.UUID],
) -> None:
    conn, _ = seeded

    rows = await conn.fetch(
        "SELECT relname, reltuples FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        " AND relname = ANY($1::text[])",
        ["contacts", "conversations", "conversation_guard_state", "messages", "replies", "sends"],
    )
    estimates = {row["relname"]: row["reltuples"] for row in rows}

    assert estimates == {
        "contacts": CONVERSATIONS,
        "conversations": CONVERSATIONS,
        "conversation_guard_state": CONVERSATIONS,
        "messages": 2 * CONVERSATIONS,
        "replies": CONVERSATIONS,
        "sends": CONVERSATIONS,
    }
