"""Fixtures for the messaging tests: sample events and a started Kafka runtime."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer

from contracts import (
    ChatKind,
    Envelope,
    MessageCategory,
    MessageReceived,
    MessageReceivedData,
    Topic,
    partition_key,
    topic_of,
    utc_now,
)
from messaging import (
    KafkaSettings,
    KeyedConsumer,
    MessagingRuntime,
    RetryPolicy,
    create_broker,
)

TENANT = uuid.UUID("00000000-0000-4000-8000-00000000000a")


def message_received(conversation_id: uuid.UUID, text: str = "oi") -> MessageReceived:
    """A minimal valid `message.received` for one conversation."""
    return MessageReceived(
        tenant_id=TENANT,
        correlation_id=uuid.uuid4(),
        data=MessageReceivedData(
            message_id=uuid.uuid4(),
            instance_id=uuid.uuid4(),
            instance_name="test",
            conversation_id=conversation_id,
            contact_id=uuid.uuid4(),
            provider_message_id=uuid.uuid4().hex[:22].upper(),
            from_me=False,
            chat_jid="5511999990001@s.whatsapp.net",
            reply_to="5511999990001@s.whatsapp.net",
            chat_kind=ChatKind.DIRECT,
            category=MessageCategory.TEXT,
            text=text,
            sent_at=utc_now(),
        ),
    )


@asynccontextmanager
async def running_consumer(
    settings: KafkaSettings,
    handler: Callable[[MessageReceived], Awaitable[None]],
    *,
    consumer: str = "test-consumer",
    retry: RetryPolicy | None = None,
    max_concurrency: int | None = None,
) -> AsyncIterator[MessagingRuntime]:
    """A broker with one `KeyedConsumer` on `message.received`, running inside the block."""
    broker = create_broker(settings, client_id=f"test-{consumer}")
    keyed = KeyedConsumer(
        broker=broker,
        settings=settings,
        topic=Topic.MESSAGE_RECEIVED,
        consumer=consumer,
        handler=handler,
        retry=retry or RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.1),
        max_concurrency=max_concurrency,
    )
    runtime = MessagingRuntime(broker=broker, settings=settings, consumers=[keyed])
    runtime.register()
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def publish(settings: KafkaSettings, runtime: MessagingRuntime, events: Sequence[Envelope]) -> None:
    """Publish events straight to their topic, keyed like production does, in order."""
    for event in events:
        await runtime.broker.publish(
            event.to_json_bytes(), topic=settings.topic(topic_of(event)), key=partition_key(event)
        )


async def read_topic(settings: KafkaSettings, topic: str, count: int, timeout_s: float = 30) -> list[Any]:
    """Read `count` records from the beginning of a physical topic."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(records) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"read {len(records)} of {count} records from {topic}")
            batch = await consumer.getmany(timeout_ms=int(min(remaining, 1) * 1000))
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()
    return records
