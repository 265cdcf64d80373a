"""Fixtures for the guard's tests: rows the guard reads, events it consumes, a guard to run."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis.asyncio import Redis

from contracts import (
    ChatKind,
    Envelope,
    MessageCategory,
    MessageReceived,
    MessageReceivedData,
    Topic,
    parse_event,
    partition_key,
    utc_now,
)
from database import Pool, PostgresSettings
from guard.app import create_app
from guard.debounce import DebounceStore
from guard.loop_counter import LoopCounter
from guard.redis_keys import GuardRedisKeys
from guard.service import Guard
from guard.settings import GuardPolicy, GuardRuntime, GuardSettings
from messaging import KafkaSettings, MessagingRuntime, Outbox, StagedEvent, create_broker
from redis_client import RedisSettings, create_redis


def _digits(count: int) -> str:
    return "".join(random.choices("0123456789", k=count))


@dataclass
class Chat:
    """A tenant, one of its instances, a contact and their conversation, stored."""

    tenant_id: uuid.UUID
    instance_id: uuid.UUID
    instance_name: str
    contact_id: uuid.UUID
    conversation_id: uuid.UUID
    chat_jid: str
    chat_kind: ChatKind
    # Digits of the contact's phone (None in groups and broadcasts).
    phone: str | None

    @property
    def reply_to(self) -> str:
        """Where Mirage answers."""
        return self.chat_jid


async def new_chat(
    pool: Pool,
    *,
    chat_kind: ChatKind = ChatKind.DIRECT,
    reply_to_groups: bool = False,
    reply_to_broadcasts: bool = False,
    opt_out_keywords: Sequence[str] | None = None,
    opt_in_keywords: Sequence[str] | None = None,
    tenant_id: uuid.UUID | None = None,
    phone: str | None = None,
    lid_only: bool = False,
    contact_of: Chat | None = None,
) -> Chat:
    """Store a new tenant (unless given), instance, contact (unless `contact_of` gives one) and
    conversation. `lid_only` makes a contact known by its `@lid` JID and stored phone only."""
    if contact_of is not None:
        tenant_id = contact_of.tenant_id
    async with pool.acquire() as conn, conn.transaction():
        if tenant_id is None:
            tenant_id = await conn.fetchval(
                "INSERT INTO tenants (slug, name) VALUES ($1, 'Guard test') RETURNING id",
                f"guard-{uuid.uuid4().hex[:12]}",
            )
            if opt_out_keywords is not None:
                await conn.execute(
                    "UPDATE tenants SET opt_out_keywords = $2 WHERE id = $1",
                    tenant_id,
                    list(opt_out_keywords),
                )
            if opt_in_keywords is not None:
                await conn.execute(
                    "UPDATE tenants SET opt_in_keywords = $2 WHERE id = $1", tenant_id, list(opt_in_keywords)
                )
        instance_name = f"guard-test-{uuid.uuid4().hex[:10]}"
        instance_id = await conn.fetchval(
            "INSERT INTO instances (tenant_id, name, webhook_secret, state, owner_jid,"
            " reply_to_groups, reply_to_broadcasts)"
            " VALUES ($1, $2, 'secret', 'connected', $3, $4, $5) RETURNING id",
            tenant_id,
            instance_name,
            f"55119{_digits(8)}@s.whatsapp.net",
            reply_to_groups,
            reply_to_broadcasts,
        )
        contact_phone: str | None
        if contact_of is not None:
            chat_jid, contact_phone = contact_of.chat_jid, contact_of.phone
        elif chat_kind is ChatKind.GROUP:
            chat_jid, contact_phone = f"120363{_digits(12)}@g.us", None
        elif chat_kind is ChatKind.BROADCAST:
            chat_jid, contact_phone = "status@broadcast", None
        elif chat_kind is ChatKind.NEWSLETTER:
            chat_jid, contact_phone = f"120363{_digits(12)}@newsletter", None
        elif lid_only:
            chat_jid, contact_phone = f"{_digits(15)}@lid", phone or f"55219{_digits(8)}"
        else:
            contact_phone = phone or f"55219{_digits(8)}"
            chat_jid = f"{contact_phone}@s.whatsapp.net"
        if contact_of is not None:
            contact_id = contact_of.contact_id
        else:
            contact_id = await conn.fetchval(
                "INSERT INTO contacts (tenant_id, jid, lid, phone, push_name) VALUES ($1, $2, $3, $4, 'Ana')"
                " RETURNING id",
                tenant_id,
                None if lid_only else chat_jid,
                chat_jid if lid_only else None,
                contact_phone,
            )
        conversation_id = await conn.fetchval(
            "INSERT INTO conversations (tenant_id, instance_id, contact_id, chat_kind)"
            " VALUES ($1, $2, $3, $4) RETURNING id",
            tenant_id,
            instance_id,
            contact_id,
            str(chat_kind),
        )
    return Chat(
        tenant_id=tenant_id,
        instance_id=instance_id,
        instance_name=instance_name,
        contact_id=contact_id,
        conversation_id=conversation_id,
        chat_jid=chat_jid,
        chat_kind=chat_kind,
        phone=contact_phone,
    )


async def store_message(
    pool: Pool,
    chat: Chat,
    text: str | None = "oi",
    *,
    from_me: bool = False,
    category: MessageCategory | None = None,
    message_type: str | None = None,
    fresh: bool = True,
    app_origin: str | None = None,
    script_id: str | None = None,
    provider_message_id: str | None = None,
    origin: str | None = None,
    sent_at: datetime | None = None,
) -> MessageReceived:
    """Store a message the way ingest does and build the `message.received` it publishes."""
    provider_message_id = provider_message_id or f"3EB0{uuid.uuid4().hex[:18].upper()}"
    if category is None:
        category = MessageCategory.TEXT if text else MessageCategory.AUDIO
    sent_at = sent_at or utc_now()
    origin = origin or ("operator" if from_me else "contact")
    async with pool.acquire() as conn:
        message_id = await conn.fetchval(
            "INSERT INTO messages (tenant_id, instance_id, conversation_id, contact_id, provider_id,"
            " direction, origin, source_event, chat_jid, category, text, sent_at, fresh, app_origin,"
            " script_id, message_type)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, 'messages.upsert', $8, $9, $10, $11, $12, $13, $14, $15)"
            " RETURNING id",
            chat.tenant_id,
            chat.instance_id,
            chat.conversation_id,
            chat.contact_id,
            provider_message_id,
            "outbound" if from_me else "inbound",
            origin,
            chat.chat_jid,
            str(category),
            text,
            sent_at,
            fresh,
            app_origin,
            script_id,
            message_type,
        )
    return MessageReceived(
        tenant_id=chat.tenant_id,
        correlation_id=uuid.uuid4(),
        data=MessageReceivedData(
            message_id=message_id,
            instance_id=chat.instance_id,
            instance_name=chat.instance_name,
            conversation_id=chat.conversation_id,
            contact_id=chat.contact_id,
            provider_message_id=provider_message_id,
            from_me=from_me,
            chat_jid=chat.chat_jid,
            reply_to=chat.reply_to,
            push_name="Ana",
            chat_kind=chat.chat_kind,
            category=category,
            text=text,
            message_type=message_type,
            sent_at=sent_at,
            fresh=fresh,
            app_origin=app_origin,
            script_id=script_id,
        ),
    )


async def decision_of(pool: Pool, message_id: uuid.UUID) -> tuple[str, str, uuid.UUID | None] | None:
    """(decision, reason, reply_request_id) recorded for a message, if any."""
    row = await pool.fetchrow(
        "SELECT decision, reason, reply_request_id FROM guard_decisions WHERE message_id = $1", message_id
    )
    return None if row is None else (row["decision"], row["reason"], row["reply_request_id"])


async def staged_events(pool: Pool, producer: str, tenant_id: uuid.UUID) -> list[Envelope]:
    """The events a producer staged in the outbox for one tenant, in order."""
    rows = await pool.fetch("SELECT payload FROM outbox WHERE producer = $1 ORDER BY id", producer)
    events = [parse_event(row["payload"]) for row in rows]
    return [event for event in events if event.tenant_id == tenant_id]


class RecordingRelay:
    """Stands in for the outbox relay in tests that read the outbox table directly."""

    def __init__(self) -> None:
        self.notified: list[StagedEvent] = []

    def notify(self, staged: Iterable[StagedEvent]) -> None:
        """Remember what would have been published."""
        self.notified.extend(staged)


@dataclass
class GuardUnderTest:
    """A guard wired to the real database and Redis, with an outbox of the test's own."""

    guard: Guard
    debounce: DebounceStore
    keys: GuardRedisKeys
    redis: Redis
    producer: str
    policy: GuardPolicy
    relay: RecordingRelay = field(default_factory=RecordingRelay)


@pytest.fixture
async def redis(redis_settings: RedisSettings) -> AsyncIterator[Redis]:
    """A client on the test's Redis (keys prefixed with the test's namespace)."""
    client = await create_redis(redis_settings)
    yield client
    await client.aclose()


def build_guard(
    pool: Pool,
    redis: Redis,
    redis_settings: RedisSettings,
    policy: GuardPolicy,
    producer: str,
    debounce_type: type[DebounceStore] = DebounceStore,
) -> GuardUnderTest:
    """A `Guard` as `create_app` wires it, but with a recording relay and its own outbox name."""
    keys = GuardRedisKeys(redis_settings)
    debounce = debounce_type(
        redis,
        keys,
        window_ms=policy.debounce_window_ms,
        max_wait_ms=policy.debounce_max_wait_ms,
        lease_ms=policy.claim_lease_ms,
    )
    relay = RecordingRelay()
    guard = Guard(policy=policy, outbox=Outbox(producer))
    guard.bind(
        pool=pool,
        relay=relay,
        loop_counter=LoopCounter(redis, keys, ttl_s=policy.loop_counter_ttl_s),
        debounce=debounce,
    )
    return GuardUnderTest(
        guard=guard,
        debounce=debounce,
        keys=keys,
        redis=redis,
        producer=producer,
        policy=policy,
        relay=relay,
    )


def guard_settings(
    kafka_settings: KafkaSettings,
    postgres_settings: PostgresSettings,
    redis_settings: RedisSettings,
    **policy: Any,
) -> GuardSettings:
    """Settings of a guard process on the test's topics, database and Redis prefix."""
    return GuardSettings(
        runtime=GuardRuntime(environment="test", log_json=False, log_level="WARNING"),
        kafka=kafka_settings,
        postgres=postgres_settings,
        redis=redis_settings,
        policy=GuardPolicy(**policy),
    )


@asynccontextmanager
async def running_guard(settings: GuardSettings) -> AsyncIterator[None]:
    """A whole guard process (consumer, relay, burst flusher) running inside the block."""
    app = create_app(settings)
    host = app.state.host
    await host.start()
    try:
        yield
    finally:
        await host.stop()


@asynccontextmanager
async def event_publisher(settings: KafkaSettings) -> AsyncIterator[MessagingRuntime]:
    """A producer for `message.received`, keyed as ingest keys it."""
    runtime = MessagingRuntime(
        broker=create_broker(settings, client_id="guard-test-producer"),
        settings=settings,
        produces=[Topic.MESSAGE_RECEIVED],
    )
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def publish(
    settings: KafkaSettings, runtime: MessagingRuntime, events: Sequence[MessageReceived]
) -> None:
    """Publish events to `message.received` in order, awaiting each acknowledgement."""
    for event in events:
        await runtime.broker.publish(
            event.to_json_bytes(), topic=settings.topic(Topic.MESSAGE_RECEIVED), key=partition_key(event)
        )


async def read_all(settings: KafkaSettings, topic: Topic) -> list[Envelope]:
    """Every event on a topic of the test's namespace, up to its current end."""
    name = settings.topic(topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        # The guard created the topic with the test's partition count.
        partitions = [TopicPartition(name, p) for p in range(settings.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Any] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()
    records.sort(key=lambda record: (record.timestamp, record.partition, record.offset))
    return [parse_event(record.value) for record in records]


async def unpublished(pool: Pool, tenant_id: uuid.UUID, producer: str = "guard") -> int:
    """How many of a tenant's events still wait in the outbox (in any topic namespace)."""
    rows = await pool.fetch(
        "SELECT payload FROM outbox WHERE producer = $1 OR producer LIKE '%.' || $1", producer
    )
    return sum(1 for row in rows if json.loads(row["payload"])["tenant_id"] == str(tenant_id))
