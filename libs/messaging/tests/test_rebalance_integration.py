"""Rebalances on a real broker: consumers joining a group mid-stream lose nothing, repeat
nothing, and keep every key in order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest

from contracts import MessageReceived, Topic
from database import Pool
from messaging import KafkaSettings, MessagingRuntime, claim_event, create_broker
from testkit import wait_until

from .conftest import message_received, publish, running_consumer

pytestmark = pytest.mark.integration

CONVERSATIONS = 30
PER_CONVERSATION = 20


@pytest.fixture
async def effects(db_pool: Pool) -> AsyncIterator[str]:
    """A run id in a table of handled events (the state change each handler makes)."""
    await db_pool.execute(
        "CREATE TABLE IF NOT EXISTS test_rebalance_effects ("
        " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, run text NOT NULL,"
        " conversation uuid NOT NULL, seq integer NOT NULL, event_id uuid NOT NULL, member text NOT NULL)"
    )
    run = uuid.uuid4().hex
    yield run
    await db_pool.execute("DELETE FROM test_rebalance_effects WHERE run = $1", run)


async def test_a_member_joining_mid_stream_keeps_every_key_in_order_and_every_event_once(
    kafka_settings: KafkaSettings, db_pool: Pool, effects: str
) -> None:
    settings = kafka_settings.model_copy(update={"partitions": 6, "commit_interval_ms": 50})
    invocations: dict[str, int] = {"a": 0, "b": 0, "c": 0}

    def handler(member: str) -> Callable[[MessageReceived], Awaitable[None]]:
        async def handle(event: MessageReceived) -> None:
            invocations[member] += 1
            await asyncio.sleep(0.005)  # records are mid-flight when the rebalance comes
            seq = int(event.data.text or "0")
            async with db_pool.acquire() as conn, conn.transaction():
                if not await claim_event(conn, f"rebalance-{effects}", event.event_id):
                    return
                await conn.execute(
                    "INSERT INTO test_rebalance_effects (run, conversation, seq, event_id, member)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    effects,
                    event.data.conversation_id,
                    seq,
                    event.event_id,
                    member,
                )

        return handle

    async def handled() -> int:
        count: int = await db_pool.fetchval(
            "SELECT count(*) FROM test_rebalance_effects WHERE run = $1", effects
        )
        return count

    conversations = [uuid.uuid4() for _ in range(CONVERSATIONS)]
    total = CONVERSATIONS * PER_CONVERSATION
    producer = MessagingRuntime(
        broker=create_broker(settings, client_id="rebalance-producer"),
        settings=settings,
        produces=[Topic.MESSAGE_RECEIVED],
    )
    await producer.start()
    async with AsyncExitStack() as stack:
        stack.push_async_callback(producer.stop)
        first = await stack.enter_async_context(
            running_consumer(settings, handler("a"), consumer="rebalance")
        )
        await stack.enter_async_context(running_consumer(settings, handler("b"), consumer="rebalance"))

        async def stream() -> None:
            for seq in range(PER_CONVERSATION):
                await publish(settings, producer, [message_received(c, text=str(seq)) for c in conversations])
                await asyncio.sleep(0.15)

        streaming = asyncio.create_task(stream())
        await wait_until(lambda: _at_least(handled, total // 4), timeout=60, message="a quarter handled")
        joined_at = await handled()
        await stack.enter_async_context(running_consumer(settings, handler("c"), consumer="rebalance"))
        await streaming
        await wait_until(lambda: _at_least(handled, total), timeout=120, message="every event handled")
        await asyncio.sleep(1.0)  # late redeliveries, if any, would show up now
        revocations = first.consumers[0].metrics.registry.get_sample_value(
            "mirage_consumer_rebalances_total", {"consumer": "rebalance", "topic": "message.received"}
        )

    assert joined_at < total, "the third member joined while the stream was still running"
    assert revocations, "the first member had partitions revoked while it was handling records"
    rows = await db_pool.fetch(
        "SELECT conversation, seq, event_id, member FROM test_rebalance_effects WHERE run = $1 ORDER BY id",
        effects,
    )
    assert len(rows) == total
    assert len({row["event_id"] for row in rows}) == total, "each event's effect exactly once"
    for conversation in conversations:
        order = [row["seq"] for row in rows if row["conversation"] == conversation]
        assert order == list(range(PER_CONVERSATION)), f"{conversation}: {order}"
    members = {row["member"] for row in rows}
    assert "c" in members, "the member that joined took partitions over"
    assert sum(invocations.values()) >= total


async def _at_least(count: Callable[[], Awaitable[int]], expected: int) -> bool:
    return await count() >= expected
