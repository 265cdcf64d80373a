"""The Kafka wiring against a real broker, PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from contracts import MessageReceived, Topic, partition_key
from database import Pool
from messaging import (
    KafkaSettings,
    MessagingRuntime,
    Outbox,
    OutboxRelay,
    RetryPolicy,
    claim_event,
    create_broker,
)
from redis_client import RedisSettings, create_redis
from testkit import wait_until

from .conftest import message_received, publish, read_topic, running_consumer

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(redis_settings: RedisSettings) -> AsyncIterator[Redis]:
    client = await create_redis(redis_settings)
    yield client
    await client.aclose()


async def test_round_trip_event_is_consumed_persisted_and_marked_in_redis(
    kafka_settings: KafkaSettings, redis_settings: RedisSettings, redis: Redis, db_pool: Pool
) -> None:
    """Outbox → Kafka → KeyedConsumer → PostgreSQL ledger row + Redis key."""

    async def handle(event: MessageReceived) -> None:
        async with db_pool.acquire() as conn, conn.transaction():
            assert await claim_event(conn, "round-trip", event.event_id)
        await redis.set(redis_settings.key(f"seen:{event.event_id}"), event.data.text or "")

    event = message_received(uuid.uuid4(), text="olá")
    async with running_consumer(kafka_settings, handle):
        relay = OutboxRelay(pool=db_pool, settings=kafka_settings, producer="round-trip-test")
        await relay.start()
        try:
            async with db_pool.acquire() as conn, conn.transaction():
                staged = await Outbox("round-trip-test", namespace=kafka_settings.topic_prefix).stage(
                    conn, [event]
                )
            relay.notify(staged)
            value = await wait_until(
                lambda: redis.get(redis_settings.key(f"seen:{event.event_id}")),
                timeout=30,
                message="the Redis key set by the consumer",
            )
        finally:
            await relay.stop()
    assert value == "olá".encode()
    async with db_pool.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM processed_events WHERE consumer = 'round-trip' AND event_id = $1",
                event.event_id,
            )
            == 1
        )
        # Published rows leave the outbox.
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE producer = $1", relay.producer) == 0


async def test_keys_run_concurrently_and_each_key_stays_in_order(
    kafka_settings: KafkaSettings,
) -> None:
    conversations = [uuid.uuid4() for _ in range(8)]
    events = [message_received(c, text=str(seq)) for seq in range(4) for c in conversations]
    seen: dict[uuid.UUID, list[str]] = {c: [] for c in conversations}
    active = 0
    peak = 0

    async def handle(event: MessageReceived) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        seen[event.data.conversation_id].append(event.data.text or "")
        active -= 1

    async with running_consumer(kafka_settings, handle) as runtime:
        await publish(kafka_settings, runtime, events)
        await wait_until(
            lambda: sum(map(len, seen.values())) == len(events), timeout=30, message="all events"
        )
    assert all(order == ["0", "1", "2", "3"] for order in seen.values()), seen
    assert peak > 1, "a batch must be processed concurrently across keys"


async def test_malformed_records_go_to_the_dead_letter_topic_and_the_rest_is_processed(
    kafka_settings: KafkaSettings,
) -> None:
    handled: list[uuid.UUID] = []

    async def handle(event: MessageReceived) -> None:
        handled.append(event.event_id)

    good = message_received(uuid.uuid4())
    async with running_consumer(kafka_settings, handle, consumer="dlq-test") as runtime:
        # Same key as the good event, so both share a partition and the good one comes after it.
        await runtime.broker.publish(
            b"{not json", topic=kafka_settings.topic(Topic.MESSAGE_RECEIVED), key=partition_key(good)
        )
        await publish(kafka_settings, runtime, [good])
        await wait_until(lambda: good.event_id in handled, timeout=30, message="the good event")
    [dead] = await read_topic(
        kafka_settings, kafka_settings.dead_letter(Topic.MESSAGE_RECEIVED, "dlq-test"), 1
    )
    headers = {name: value.decode() for name, value in dead.headers}
    assert dead.value == b"{not json"
    assert headers["x-dead-letter-reason"] == "unparseable"
    assert headers["x-dead-letter-consumer"] == "dlq-test"
    assert headers["x-dead-letter-topic"] == kafka_settings.topic(Topic.MESSAGE_RECEIVED)


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_its_attempts(
    kafka_settings: KafkaSettings,
) -> None:
    attempts: list[int] = []
    # One conversation, so one partition and one lane: the event after the poison waits behind
    # it and is handled only once the poison has used its attempts and gone to the dead letter.
    conversation = uuid.uuid4()
    poison = message_received(conversation, text="poison")
    after = message_received(conversation)
    processed: list[uuid.UUID] = []

    async def handle(event: MessageReceived) -> None:
        if event.event_id == poison.event_id:
            attempts.append(1)
            raise ValueError("cannot handle this one")
        processed.append(event.event_id)

    async with running_consumer(kafka_settings, handle, consumer="poison-test") as runtime:
        await publish(kafka_settings, runtime, [poison, after])
        await wait_until(
            lambda: after.event_id in processed, timeout=30, message="the event after the poison"
        )
        assert len(attempts) == 3, "the lane moved on before the poison used its attempts"
    [dead] = await read_topic(
        kafka_settings, kafka_settings.dead_letter(Topic.MESSAGE_RECEIVED, "poison-test"), 1
    )
    headers = {name: value.decode() for name, value in dead.headers}
    assert headers["x-dead-letter-reason"] == "handler_failed"
    assert "cannot handle this one" in headers["x-dead-letter-error"]
    assert len(attempts) == 3


async def test_an_infrastructure_failure_is_retried_in_its_lane_never_dead_lettered(
    kafka_settings: KafkaSettings,
) -> None:
    event = message_received(uuid.uuid4())
    calls: list[int] = []
    done = asyncio.Event()

    async def handle(_: MessageReceived) -> None:
        calls.append(1)
        if len(calls) <= 4:
            raise ConnectionError("database went away")
        done.set()

    async with running_consumer(
        kafka_settings,
        handle,
        consumer="infra-test",
        # One attempt for an event's own failure; infrastructure failures are not counted.
        retry=RetryPolicy(attempts=1, base_delay_s=0.01, max_delay_s=0.05),
    ) as runtime:
        await publish(kafka_settings, runtime, [event])
        await wait_until(done.is_set, timeout=30, message="the event after four infrastructure failures")
    assert len(calls) == 5


async def test_the_outbox_sweep_publishes_rows_a_crashed_process_left_behind(
    kafka_settings: KafkaSettings, db_pool: Pool
) -> None:
    conversation = uuid.uuid4()
    events = [message_received(conversation, text=str(i)) for i in range(20)]
    # Committed but never handed to a fast path: as if the process died after COMMIT.
    async with db_pool.acquire() as conn, conn.transaction():
        await Outbox("sweep-test", namespace=kafka_settings.topic_prefix).stage(conn, events)
        # Another installation's (or test's) rows in the same database are never this relay's.
        [foreign] = await Outbox("sweep-test", namespace=f"x{kafka_settings.topic_prefix}").stage(
            conn, [message_received(conversation, text="not mine")]
        )
    received: list[str] = []

    async def handle(event: MessageReceived) -> None:
        received.append(event.data.text or "")

    async with running_consumer(kafka_settings, handle, consumer="sweep-test"):
        relay = OutboxRelay(
            pool=db_pool,
            settings=kafka_settings,
            producer="sweep-test",
            sweep_interval_s=0.1,
            sweep_after_s=0.0,
        )
        await relay.start()
        try:
            await wait_until(lambda: len(received) == 20, timeout=30, message="swept events")
            # The sweep's probe samples the depth: this relay's rows only, none left.
            labels = {"producer": relay.producer}
            await wait_until(
                lambda: relay.metrics.registry.get_sample_value("mirage_outbox_depth", labels) == 0,
                timeout=10,
                message="an empty outbox sampled",
            )
        finally:
            await relay.stop()
    assert received == [str(i) for i in range(20)], "one conversation's events stay in order"
    assert await db_pool.fetchval("SELECT count(*) FROM outbox WHERE id = $1", foreign.id) == 1


CRASHING_CONSUMER = Path(__file__).with_name("crashing_consumer.py")


async def test_a_consumer_killed_mid_handler_gets_the_message_again(
    kafka_settings: KafkaSettings, redis_settings: RedisSettings, redis: Redis
) -> None:
    """SIGKILL during the handler: nothing was committed, so the group redelivers the event."""
    event = message_received(uuid.uuid4())
    env = {
        **os.environ,
        "TEST_KAFKA_BOOTSTRAP": kafka_settings.bootstrap_servers,
        "TEST_TOPIC_PREFIX": kafka_settings.topic_prefix,
        "TEST_REDIS_URL": redis_settings.url.get_secret_value(),
        "TEST_REDIS_PREFIX": redis_settings.key_prefix,
    }
    started_key = redis_settings.key(f"started:{event.event_id}")
    process = subprocess.Popen([sys.executable, str(CRASHING_CONSUMER)], env=env)
    try:
        producer = create_broker(kafka_settings, client_id="crash-test-producer")
        runtime = MessagingRuntime(
            broker=producer, settings=kafka_settings, produces=[Topic.MESSAGE_RECEIVED]
        )
        await runtime.start()
        try:
            await publish(kafka_settings, runtime, [event])
        finally:
            await runtime.stop()
        await wait_until(lambda: redis.exists(started_key), timeout=60, message="the handler to start")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    redelivered: list[uuid.UUID] = []

    async def handle(received: MessageReceived) -> None:
        redelivered.append(received.event_id)

    # Same group as the killed process: it resumes from the last committed offset.
    async with running_consumer(kafka_settings, handle, consumer="crash-test"):
        await wait_until(lambda: event.event_id in redelivered, timeout=60, message="the redelivered event")
    assert redelivered.count(event.event_id) == 1
