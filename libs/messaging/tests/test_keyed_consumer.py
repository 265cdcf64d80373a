"""`KeyedConsumer.process_batch` against fakes (unit tier): lanes, retries, dead letters.

The integration tests in `test_kafka_integration.py` prove the same behaviour on a
real broker; these pin the decisions quickly and without one.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord

from contracts import MessageReceived, Topic, partition_key
from messaging import Delivery, KafkaSettings, KeyedConsumer, PermanentFailure, RetryPolicy

from .conftest import message_received

SETTINGS = KafkaSettings(bootstrap_servers="unused:9092", topic_prefix="unit.", group_prefix="unit.")


@dataclass
class FakeBroker:
    """Records what would have been published (the dead letters)."""

    published: list[dict[str, Any]] = field(default_factory=list)

    async def publish(self, body: bytes, *, topic: str, key: bytes | None, headers: dict[str, str]) -> None:
        self.published.append({"body": body, "topic": topic, "key": key, "headers": headers})


def record(offset: int, value: bytes, key: bytes | None) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="unit.message.received",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value),
        headers=[],
    )


def event_record(offset: int, event: MessageReceived) -> ConsumerRecord[bytes, bytes]:
    return record(offset, event.model_dump_json().encode(), partition_key(event))


def keyed_consumer(broker: FakeBroker, handler: Any, attempts: int = 3) -> KeyedConsumer[MessageReceived]:
    return KeyedConsumer(
        broker=broker,  # type: ignore[arg-type]
        settings=SETTINGS,
        topic=Topic.MESSAGE_RECEIVED,
        consumer="unit",
        accepts=(MessageReceived,),
        handler=handler,
        retry=RetryPolicy(attempts=attempts, base_delay_s=0.001, max_delay_s=0.001, batch_retry_delay_s=0),
    )


async def test_a_batch_runs_keys_concurrently_and_each_key_in_order() -> None:
    conversations = [uuid.uuid4() for _ in range(4)]
    events = [message_received(c, text=str(seq)) for seq in range(3) for c in conversations]
    seen: dict[uuid.UUID, list[str]] = {c: [] for c in conversations}
    active = peak = 0

    async def handle(event: MessageReceived, _: Delivery) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        seen[event.data.conversation_id].append(event.data.text or "")
        active -= 1

    consumer = keyed_consumer(FakeBroker(), handle)
    await consumer.process_batch(tuple(event_record(i, e) for i, e in enumerate(events)))
    assert all(order == ["0", "1", "2"] for order in seen.values()), seen
    assert peak == len(conversations)
    assert consumer.in_flight == 0


async def test_an_unparseable_record_is_dead_lettered_and_its_neighbours_handled() -> None:
    broker = FakeBroker()
    handled: list[uuid.UUID] = []

    async def handle(event: MessageReceived, _: Delivery) -> None:
        handled.append(event.event_id)

    good = message_received(uuid.uuid4())
    await keyed_consumer(broker, handle).process_batch((record(0, b"{not json", b"k"), event_record(1, good)))
    assert handled == [good.event_id]
    [dead] = broker.published
    assert dead["topic"] == SETTINGS.dead_letter(Topic.MESSAGE_RECEIVED, "unit")
    assert dead["body"] == b"{not json"
    assert dead["headers"]["x-dead-letter-reason"] == "unparseable"
    assert dead["headers"]["x-dead-letter-offset"] == "0"


async def test_a_failing_handler_is_retried_then_dead_lettered_with_its_error() -> None:
    broker = FakeBroker()
    calls = 0

    async def handle(event: MessageReceived, _: Delivery) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("persona missing")

    await keyed_consumer(broker, handle, attempts=3).process_batch(
        (event_record(0, message_received(uuid.uuid4())),)
    )
    assert calls == 3
    [dead] = broker.published
    assert dead["headers"]["x-dead-letter-reason"] == "handler_failed"
    assert "ValueError: persona missing" in dead["headers"]["x-dead-letter-error"]


async def test_a_permanent_failure_is_dead_lettered_at_once() -> None:
    broker = FakeBroker()
    calls = 0

    async def handle(event: MessageReceived, _: Delivery) -> None:
        nonlocal calls
        calls += 1
        raise PermanentFailure("unknown instance")

    await keyed_consumer(broker, handle).process_batch((event_record(0, message_received(uuid.uuid4())),))
    assert calls == 1
    assert broker.published[0]["headers"]["x-dead-letter-reason"] == "rejected"


async def test_an_infrastructure_failure_fails_the_batch_so_nothing_is_committed() -> None:
    broker = FakeBroker()

    async def handle(event: MessageReceived, _: Delivery) -> None:
        raise ConnectionRefusedError("postgres is down")

    consumer = keyed_consumer(broker, handle, attempts=2)
    with pytest.raises(ConnectionRefusedError):
        await consumer.process_batch((event_record(0, message_received(uuid.uuid4())),))
    assert broker.published == [], "a dependency outage must never dead-letter events"
    assert consumer.in_flight == 0
