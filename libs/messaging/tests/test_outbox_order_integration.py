"""The outbox relay through a Kafka outage: nothing lost, and within a key nothing overtakes.

Runs against a throwaway broker of its own (`testkit.kafka_broker`), killed with SIGKILL in
the middle of a stream of staged events and started again, so the shared broker the rest of
the suite uses is never touched. While the broker is down the service's relay is restarted
too, as a service is when its readiness fails: the rows the first relay could not publish
must still go out before the ones the second relay is handed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer

from contracts import MessageReceived, Topic, parse_event
from database import Pool
from messaging import KafkaSettings, Outbox, OutboxRelay, ensure_topics
from testkit import wait_until
from testkit.kafka_broker import ThrowawayKafka

from .conftest import message_received

pytestmark = pytest.mark.integration

KEYS = 4
ROUNDS = 40


@pytest.fixture
async def own_broker() -> AsyncIterator[ThrowawayKafka]:
    broker = ThrowawayKafka()
    await asyncio.to_thread(broker.start)
    try:
        yield broker
    finally:
        await asyncio.to_thread(broker.remove)


async def test_after_an_outage_later_rows_of_a_key_never_overtake_the_ones_that_failed(
    kafka_settings: KafkaSettings, db_pool: Pool, own_broker: ThrowawayKafka
) -> None:
    settings = kafka_settings.model_copy(
        update={
            "bootstrap_servers": own_broker.bootstrap,
            "request_timeout_ms": 2_000,
            "graceful_timeout_s": 2.0,
        }
    )
    topic = settings.topic(Topic.MESSAGE_RECEIVED)
    await ensure_topics(settings, [topic])
    producer = f"order-{uuid.uuid4().hex[:6]}"
    outbox = Outbox(producer, namespace=settings.topic_prefix)
    conversations = [uuid.uuid4() for _ in range(KEYS)]

    def new_relay() -> OutboxRelay:
        # The periodic sweep of rows left behind waits its usual 5 s: only recovery may be quicker.
        return OutboxRelay(pool=db_pool, settings=settings, producer=producer, sweep_interval_s=0.2)

    relay = new_relay()
    await relay.start()

    async def stage_round(seq: int) -> None:
        # One transaction per event, as a handler stages them, each handed to the fast path.
        for conversation in conversations:
            async with db_pool.acquire() as conn, conn.transaction():
                staged = await outbox.stage(conn, [message_received(conversation, text=str(seq))])
            relay.notify(staged)

    try:
        for seq in range(10):
            await stage_round(seq)
            await asyncio.sleep(0.05)
        await asyncio.to_thread(own_broker.kill)
        for seq in range(10, 20):  # the broker is down: the fast path times out, recovery takes over
            await stage_round(seq)
            await asyncio.sleep(0.3)
        await wait_until(lambda: relay.recovering, timeout=10, message="the relay in recovery")
        await relay.stop()  # the service restarts while Kafka is away; its rows stay in the outbox
        assert not await _outbox_empty(db_pool, relay.producer)
        await asyncio.to_thread(own_broker.start)
        relay = new_relay()
        await relay.start()
        for seq in range(20, ROUNDS):
            await stage_round(seq)
            await asyncio.sleep(0.02)
        await wait_until(
            lambda: _outbox_empty(db_pool, relay.producer), timeout=90, message="the outbox drained"
        )
        await wait_until(lambda: not relay.recovering, timeout=30, message="the fast path back")
    finally:
        await relay.stop()

    seen = await _read_until_complete(
        settings, topic, {(c, str(s)) for c in conversations for s in range(ROUNDS)}
    )
    for conversation in conversations:
        order: list[int] = []
        for key, text in seen:
            if key == conversation and int(text) not in order:
                order.append(int(text))  # duplicates are allowed (at-least-once), overtaking is not
        assert order == list(range(ROUNDS)), f"{conversation}: {order}"


async def _outbox_empty(pool: Pool, producer: str) -> bool:
    count: int = await pool.fetchval("SELECT count(*) FROM outbox WHERE producer = $1", producer)
    return count == 0


async def _read_until_complete(
    settings: KafkaSettings, topic: str, expected: set[tuple[uuid.UUID, str]]
) -> list[tuple[uuid.UUID, str]]:
    """Every record of `topic` in partition order, until each expected (key, text) was seen."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    by_partition: dict[int, list[tuple[uuid.UUID, str]]] = {}
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for partition, records in batch.items():
                for record in records:
                    event = parse_event(record.value)
                    assert isinstance(event, MessageReceived)
                    by_partition.setdefault(partition.partition, []).append(
                        (event.data.conversation_id, event.data.text or "")
                    )
            got = {item for items in by_partition.values() for item in items}
            if expected <= got:
                break
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"missing after the outage: {sorted(expected - got)[:10]}")
    finally:
        await consumer.stop()
    # A key lives in one partition, so the per-partition order is the order of each key.
    return [item for items in by_partition.values() for item in items]
