"""Fixtures of the scheduler's tests: tenants, connected numbers and pairs in the real database,
a scheduler bound to PostgreSQL and Redis with a controllable clock, and what it staged."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import pytest

from contracts import (
    ChatKind,
    Envelope,
    MessageCategory,
    MessageReceived,
    MessageReceivedData,
    parse_event,
)
from database import Pool
from messaging import KafkaSettings, OutboxRelay, StagedEvent
from redis_client import RedisSettings, create_redis
from scheduler.budget import NumberBudget
from scheduler.service import Scheduler
from scheduler.settings import SchedulerSettings
from warmup_rules import TurnTiming

# A Monday, 09:00 in São Paulo (UTC-3).
MONDAY_9_SP = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
MORNINGS = [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "11:00"}]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move forward."""
        self.now += timedelta(**delta)


class RecordingRelay:
    """Stands in for the outbox relay: remembers what was handed over after each commit."""

    def __init__(self) -> None:
        self.staged: list[StagedEvent] = []

    def notify(self, staged: Iterable[StagedEvent]) -> None:
        """Keep the rows."""
        self.staged.extend(staged)

    def events(self, kind: type[Envelope] | None = None) -> list[Any]:
        """The staged events (of one type), in order."""
        parsed = [parse_event(row.payload) for row in self.staged]
        return [event for event in parsed if kind is None or isinstance(event, kind)]


@dataclass
class Number:
    """A connected instance of the tenant."""

    id: uuid.UUID
    name: str
    number: str


@dataclass
class Tenant:
    """A tenant with connected numbers."""

    id: uuid.UUID
    numbers: list[Number] = field(default_factory=list)


def _phone() -> str:
    return "55119" + "".join(random.choices("0123456789", k=8))


async def new_tenant(pool: Pool, count: int = 2, *, number_quota: int = 200) -> Tenant:
    """A tenant with `count` connected numbers."""
    slug = f"sch-{uuid.uuid4().hex[:12]}"
    tenant_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO tenants (slug, name, number_daily_quota) VALUES ($1, $1, $2) RETURNING id",
        slug,
        number_quota,
    )
    tenant = Tenant(id=tenant_id)
    for index in range(count):
        name = f"{slug}-{index + 1}"
        phone = _phone()
        instance_id: uuid.UUID = await pool.fetchval(
            "INSERT INTO instances (tenant_id, name, webhook_secret, state, owner_jid)"
            " VALUES ($1, $2, 's', 'connected', $3) RETURNING id",
            tenant_id,
            name,
            f"{phone}@s.whatsapp.net",
        )
        tenant.numbers.append(Number(instance_id, name, phone))
    return tenant


async def new_pair(pool: Pool, tenant: Tenant, **columns: Any) -> uuid.UUID:
    """A pair of the tenant's first two numbers (mornings in São Paulo, no gap unless given)."""
    values: dict[str, Any] = {
        "name": "pair",
        "time_zone": "America/Sao_Paulo",
        "windows": MORNINGS,
        "min_delay_s": 0,
        "jitter_s": 0,
        "min_turns": 2,
        "max_turns": 2,
        "instance_a_id": tenant.numbers[0].id,
        "instance_b_id": tenant.numbers[1].id,
        **columns,
    }
    names = list(values)
    placeholders = ", ".join(
        f"${i + 2}::jsonb" if n == "windows" else f"${i + 2}" for i, n in enumerate(names)
    )
    pair_id: uuid.UUID = await pool.fetchval(
        f"INSERT INTO warmup_pairs (tenant_id, {', '.join(names)}) VALUES ($1, {placeholders}) RETURNING id",
        tenant.id,
        *(values[n] for n in names),
    )
    return pair_id


@dataclass
class Bound:
    """A scheduler bound to the real database and Redis, with a hand-moved clock, that sees
    only its test's tenant (tests share the worker's database)."""

    scheduler: Scheduler
    clock: Clock
    relay: RecordingRelay
    budget: NumberBudget
    settings: SchedulerSettings
    tenant: Tenant


@pytest.fixture
async def bound(
    db_pool: Pool, redis_settings: RedisSettings, kafka_settings: KafkaSettings
) -> AsyncIterator[Bound]:
    """A scheduler with tiny reading and thinking pauses and a 60 s turn timeout, and a tenant
    with four connected numbers."""
    tenant = await new_tenant(db_pool, count=4)
    settings = SchedulerSettings(
        kafka=kafka_settings,
        redis=redis_settings,
        turn_timeout_s=60,
        timing=TurnTiming(scale=0.001, reaction_probability=0),
        only_tenants=(tenant.id,),
    )
    clock = Clock(MONDAY_9_SP)
    scheduler = Scheduler(settings, clock=clock)
    scheduler.deps.rng.seed(7)
    relay = RecordingRelay()
    redis = await create_redis(redis_settings)
    budget = NumberBudget(redis, redis_settings)
    scheduler.bind(pool=db_pool, relay=cast(OutboxRelay, relay), budget=budget)
    yield Bound(
        scheduler=scheduler, clock=clock, relay=relay, budget=budget, settings=settings, tenant=tenant
    )
    await redis.aclose()
    await forget_pairs(db_pool, tenant.id)


async def forget_pairs(pool: Pool, tenant_id: uuid.UUID) -> None:
    """Delete a tenant's pairs and their rounds, so no later scheduler of the session (the
    end-to-end stack shares the database) finds a round of this test still running."""
    await pool.execute("DELETE FROM warmup_pairs WHERE tenant_id = $1", tenant_id)


async def write_turn(
    pool: Pool,
    turn_id: uuid.UUID,
    tenant_id: uuid.UUID,
    speaker: uuid.UUID,
    parts: list[str],
    *,
    round_id: uuid.UUID,
    status: str = "sent",
) -> list[str]:
    """What the generator and the sender would have written for a turn: its reply row and its sends.

    Returns the provider ids of the sends.
    """
    await pool.execute(
        "INSERT INTO replies (id, tenant_id, request_event_id, kind, instance_id, text, parts, model)"
        " VALUES ($1, $2, $3, 'warmup_turn', $4, $5, $6, 'test')",
        turn_id,
        tenant_id,
        uuid.uuid4(),
        speaker,
        "\n\n".join(parts),
        parts,
    )
    ids = []
    for index, text in enumerate(parts):
        provider_id = "3EB0" + uuid.uuid4().hex[:18].upper()
        ids.append(provider_id)
        await pool.execute(
            "INSERT INTO sends (send_id, tenant_id, instance_id, instance_name, recipient, recipient_digits,"
            " text, purpose, app_origin, reply_id, part_index, round_id, status, provider_message_id,"
            " sent_at)"
            " VALUES ($1, $2, $3, 'x', 'x', 'x', $4, 'warmup', 'bot', $5, $6, $7, $8, $9, now())",
            uuid.uuid4(),
            tenant_id,
            speaker,
            text,
            turn_id,
            index,
            round_id,
            status,
            provider_id if status == "sent" else None,
        )
    return ids


async def one(pool: Pool, sql: str, *args: object) -> asyncpg.Record:
    """The one row `sql` finds (the test fails when there is none)."""
    row = await pool.fetchrow(sql, *args)
    assert row is not None, sql
    return row


def arrival(
    tenant_id: uuid.UUID,
    listener: Number,
    speaker: Number,
    text: str,
    *,
    provider_id: str | None = None,
    sent_at: datetime = MONDAY_9_SP,
) -> MessageReceived:
    """A message from `speaker`'s number arriving at `listener` (as ingest publishes it)."""
    jid = f"{speaker.number}@s.whatsapp.net"
    return MessageReceived(
        tenant_id=tenant_id,
        correlation_id=uuid.uuid4(),
        data=MessageReceivedData(
            message_id=uuid.uuid4(),
            instance_id=listener.id,
            instance_name=listener.name,
            conversation_id=uuid.uuid4(),
            contact_id=uuid.uuid4(),
            provider_message_id=provider_id or uuid.uuid4().hex.upper(),
            from_me=False,
            chat_jid=jid,
            reply_to=jid,
            chat_kind=ChatKind.DIRECT,
            category=MessageCategory.TEXT,
            text=text,
            sent_at=sent_at,
        ),
    )
