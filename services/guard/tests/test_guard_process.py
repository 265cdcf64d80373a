"""The whole guard process (`create_app`: consumer, outbox relay, burst flusher) on the real
Kafka, PostgreSQL and Redis: events in through `message.received`, decisions out on Kafka."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from redis.asyncio import Redis

from contracts import (
    AdminAlert,
    AlertCause,
    ContactOptedOut,
    ConversationBlocked,
    Envelope,
    GenerateReply,
    MessageReceived,
    ReplyIntent,
    Topic,
)
from database import Pool, PostgresSettings
from guard.redis_keys import GuardRedisKeys
from messaging import KafkaSettings
from redis_client import RedisSettings
from testkit import wait_until

from .conftest import (
    Chat,
    decision_of,
    event_publisher,
    guard_settings,
    new_chat,
    publish,
    read_all,
    running_guard,
    store_message,
    unpublished,
)


async def events_on(settings: KafkaSettings, topic: Topic, tenant_id: uuid.UUID) -> list[Envelope]:
    return [event for event in await read_all(settings, topic) if event.tenant_id == tenant_id]


async def replies_on(settings: KafkaSettings, tenant_id: uuid.UUID) -> list[GenerateReply]:
    return [
        e for e in await events_on(settings, Topic.REPLY_REQUESTED, tenant_id) if isinstance(e, GenerateReply)
    ]


async def wait_for_replies(settings: KafkaSettings, tenant_id: uuid.UUID, count: int) -> None:
    async def enough() -> bool:
        return len(await replies_on(settings, tenant_id)) >= count

    await wait_until(enough, timeout=60, interval=0.2, message=f"{count} reply requests on Kafka")


async def settled(pool: Pool, redis: Redis, keys: GuardRedisKeys, chats: Sequence[Chat]) -> bool:
    """Nothing of these conversations is waiting anywhere: no debounced decision, no pending
    burst in Redis, no unpublished outbox row. Whatever Kafka holds then is final."""
    conversations = [chat.conversation_id for chat in chats]
    waiting = await pool.fetchval(
        "SELECT count(*) FROM guard_decisions"
        " WHERE conversation_id = ANY($1::uuid[]) AND decision = 'debounced'",
        conversations,
    )
    if waiting:
        return False
    for chat in chats:
        if await redis.exists(keys.debounce_pending(chat.conversation_id)):
            return False
        if await redis.zscore(keys.debounce_due, str(chat.conversation_id)) is not None:
            return False
    tenants = {chat.tenant_id for chat in chats}
    return all([await unpublished(pool, tenant) == 0 for tenant in tenants])


async def wait_settled(pool: Pool, redis: Redis, keys: GuardRedisKeys, chats: Sequence[Chat]) -> None:
    await wait_until(
        lambda: settled(pool, redis, keys, chats), timeout=30, interval=0.1, message="a settled guard"
    )


def message_ids(events: Sequence[MessageReceived]) -> tuple[uuid.UUID, ...]:
    return tuple(event.data.message_id for event in events)


async def test_a_burst_of_three_through_kafka_gets_exactly_one_reply(
    kafka_settings: KafkaSettings,
    postgres_settings: PostgresSettings,
    redis_settings: RedisSettings,
    db_pool: Pool,
    redis: Redis,
) -> None:
    settings = guard_settings(kafka_settings, postgres_settings, redis_settings, debounce_window_ms=1_000)
    chat = await new_chat(db_pool)
    burst = [await store_message(db_pool, chat, text) for text in ("oi", "tudo bem?", "vocês abrem sábado?")]
    async with running_guard(settings), event_publisher(kafka_settings) as publisher:
        await publish(kafka_settings, publisher, burst)
        await wait_for_replies(kafka_settings, chat.tenant_id, 1)
        await wait_settled(db_pool, redis, GuardRedisKeys(redis_settings), [chat])
    [reply] = await replies_on(kafka_settings, chat.tenant_id)
    assert reply.data.message_ids == message_ids(burst)
    assert reply.data.conversation_id == chat.conversation_id
    for event in burst:
        assert await decision_of(db_pool, event.data.message_id) == (
            "reply",
            "contact_message",
            reply.event_id,
        )


async def test_the_debounce_survives_a_guard_restart_mid_window(
    kafka_settings: KafkaSettings,
    postgres_settings: PostgresSettings,
    redis_settings: RedisSettings,
    db_pool: Pool,
    redis: Redis,
) -> None:
    keys = GuardRedisKeys(redis_settings)
    # The first guard's window is far longer than the test, so it certainly stops mid-window;
    # its successor uses a short one, so the test does not wait 30 s for the reply.
    first = guard_settings(kafka_settings, postgres_settings, redis_settings, debounce_window_ms=30_000)
    second = guard_settings(kafka_settings, postgres_settings, redis_settings, debounce_window_ms=800)
    chat = await new_chat(db_pool)
    burst = [
        await store_message(db_pool, chat, text) for text in ("oi", "queria um orçamento", "para amanhã")
    ]

    async with event_publisher(kafka_settings) as publisher:
        async with running_guard(first):
            await publish(kafka_settings, publisher, burst[:2])

            async def both_debounced() -> bool:
                decisions = [await decision_of(db_pool, event.data.message_id) for event in burst[:2]]
                return all(d is not None and d[0] == "debounced" for d in decisions)

            await wait_until(both_debounced, timeout=60, message="the first two messages debounced")
        # The first guard is gone; its half of the burst waits in Redis, unanswered.
        assert await replies_on(kafka_settings, chat.tenant_id) == []
        pending = await redis.smembers(keys.debounce_pending(chat.conversation_id))
        assert {
            uuid.UUID(str(item, "utf-8") if isinstance(item, bytes) else item) for item in pending
        } == set(message_ids(burst[:2]))

        async with running_guard(second):
            await publish(kafka_settings, publisher, burst[2:])
            await wait_for_replies(kafka_settings, chat.tenant_id, 1)
            await wait_settled(db_pool, redis, keys, [chat])
    [reply] = await replies_on(kafka_settings, chat.tenant_id)
    assert reply.data.message_ids == message_ids(burst)


async def test_two_replicas_running_concurrently_answer_each_burst_exactly_once(
    kafka_settings: KafkaSettings,
    postgres_settings: PostgresSettings,
    redis_settings: RedisSettings,
    db_pool: Pool,
    redis: Redis,
) -> None:
    settings = guard_settings(
        kafka_settings, postgres_settings, redis_settings, debounce_window_ms=700, flush_poll_interval_ms=20
    )
    first = await new_chat(db_pool)
    chats = [first, *[await new_chat(db_pool, tenant_id=first.tenant_id) for _ in range(7)]]
    bursts = {
        chat.conversation_id: [await store_message(db_pool, chat, f"msg {n}") for n in range(3)]
        for chat in chats
    }
    # Interleaved, as many people writing at once.
    interleaved = [bursts[chat.conversation_id][n] for n in range(3) for chat in chats]

    async with running_guard(settings), running_guard(settings), event_publisher(kafka_settings) as publisher:
        await publish(kafka_settings, publisher, interleaved)
        await wait_for_replies(kafka_settings, first.tenant_id, len(chats))
        await wait_settled(db_pool, redis, GuardRedisKeys(redis_settings), chats)

    replies = await replies_on(kafka_settings, first.tenant_id)
    by_conversation = {reply.data.conversation_id: reply for reply in replies}
    assert len(replies) == len(chats) == len(by_conversation)
    for conversation_id, burst in bursts.items():
        assert by_conversation[conversation_id].data.message_ids == message_ids(burst)


async def test_a_redelivered_message_received_is_decided_and_answered_once(
    kafka_settings: KafkaSettings,
    postgres_settings: PostgresSettings,
    redis_settings: RedisSettings,
    db_pool: Pool,
    redis: Redis,
) -> None:
    settings = guard_settings(kafka_settings, postgres_settings, redis_settings, debounce_window_ms=0)
    chat = await new_chat(db_pool)
    event = await store_message(db_pool, chat, "oi, quero comprar")
    # A later message of the same conversation: decided only after both copies before it.
    sentinel = await store_message(db_pool, chat, "PARE")
    async with running_guard(settings), event_publisher(kafka_settings) as publisher:
        await publish(kafka_settings, publisher, [event, event, sentinel])
        await wait_until(
            lambda: decision_of(db_pool, sentinel.data.message_id),
            timeout=60,
            message="the later message decided",
        )
        await wait_until(lambda: settled(db_pool, redis, GuardRedisKeys(redis_settings), [chat]), timeout=30)
    answers = [
        reply for reply in await replies_on(kafka_settings, chat.tenant_id) if reply.data.intent == "answer"
    ]
    assert [reply.data.message_ids for reply in answers] == [(event.data.message_id,)]
    assert (
        await db_pool.fetchval(
            "SELECT count(*) FROM guard_decisions WHERE message_id = $1", event.data.message_id
        )
        == 1
    )
    assert (
        await db_pool.fetchval(
            "SELECT count(*) FROM processed_events WHERE consumer = 'guard' AND event_id = $1", event.event_id
        )
        == 1
    )


async def test_a_bot_loop_blocks_the_conversation_and_raises_one_alert(
    kafka_settings: KafkaSettings,
    postgres_settings: PostgresSettings,
    redis_settings: RedisSettings,
    db_pool: Pool,
) -> None:
    settings = guard_settings(
        kafka_settings, postgres_settings, redis_settings, debounce_window_ms=0, loop_reply_delay_ms=5_000
    )
    chat = await new_chat(db_pool)
    loop = [
        await store_message(db_pool, chat, f"Olá, sou um bot ({n})", script_id="their-script")
        for n in range(7)
    ]
    async with running_guard(settings), event_publisher(kafka_settings) as publisher:
        await publish(kafka_settings, publisher, loop)

        async def all_decided() -> bool:
            return all([await decision_of(db_pool, event.data.message_id) for event in loop])

        await wait_until(all_decided, timeout=60, message="every message decided")
        await wait_until(
            lambda: _no_unpublished(db_pool, chat.tenant_id), timeout=30, message="the outbox published"
        )
    blocked = await events_on(kafka_settings, Topic.CONVERSATION_BLOCKED, chat.tenant_id)
    alerts = await events_on(kafka_settings, Topic.ADMIN_ALERT, chat.tenant_id)
    replies = await replies_on(kafka_settings, chat.tenant_id)
    assert [type(event) for event in blocked] == [ConversationBlocked]
    assert [(type(a), a.data.cause) for a in alerts if isinstance(a, AdminAlert)] == [
        (AdminAlert, AlertCause.CONVERSATION_BLOCKED)
    ]
    assert [reply.data.delay_ms for reply in replies] == [0, 5_000, 5_000, 5_000]
    assert [(await decision_of(db_pool, event.data.message_id) or ("", ""))[:2] for event in loop[3:]] == [
        ("reply", "suspected_bot_loop"),
        ("blocked", "bot_loop"),
        ("blocked", "conversation_blocked"),
        ("blocked", "conversation_blocked"),
    ]


async def test_an_opt_out_reaches_its_topics(
    kafka_settings: KafkaSettings,
    postgres_settings: PostgresSettings,
    redis_settings: RedisSettings,
    db_pool: Pool,
) -> None:
    settings = guard_settings(kafka_settings, postgres_settings, redis_settings)
    chat = await new_chat(db_pool)
    stop = await store_message(db_pool, chat, "PARE")
    async with running_guard(settings), event_publisher(kafka_settings) as publisher:
        await publish(kafka_settings, publisher, [stop])
        await wait_for_replies(kafka_settings, chat.tenant_id, 1)
        await wait_until(
            lambda: _no_unpublished(db_pool, chat.tenant_id), timeout=30, message="the outbox published"
        )
    [confirmation] = await replies_on(kafka_settings, chat.tenant_id)
    assert confirmation.data.intent is ReplyIntent.OPT_OUT_CONFIRMATION
    [opted_out] = await events_on(kafka_settings, Topic.CONTACT_OPTED_OUT, chat.tenant_id)
    assert isinstance(opted_out, ContactOptedOut)
    assert opted_out.data.contact_id == chat.contact_id
    [alert] = await events_on(kafka_settings, Topic.ADMIN_ALERT, chat.tenant_id)
    assert isinstance(alert, AdminAlert)
    assert alert.data.cause is AlertCause.CONTACT_OPTED_OUT


async def _no_unpublished(pool: Pool, tenant_id: uuid.UUID) -> bool:
    return await unpublished(pool, tenant_id) == 0


async def test_a_burst_wakes_the_flusher_when_its_window_ends_without_waiting_for_the_idle_look(
    kafka_settings: KafkaSettings,
    postgres_settings: PostgresSettings,
    redis_settings: RedisSettings,
    db_pool: Pool,
    redis: Redis,
) -> None:
    # The idle look is far beyond the test: only the scheduled burst can wake the flusher.
    settings = guard_settings(
        kafka_settings,
        postgres_settings,
        redis_settings,
        debounce_window_ms=500,
        flush_idle_poll_interval_ms=600_000,
    )
    chat = await new_chat(db_pool)
    burst = [await store_message(db_pool, chat, text) for text in ("oi", "tudo bem?")]
    async with running_guard(settings), event_publisher(kafka_settings) as publisher:
        await publish(kafka_settings, publisher, burst)

        async def answered() -> bool:
            return len(await replies_on(kafka_settings, chat.tenant_id)) == 1

        await wait_until(answered, timeout=20, interval=0.2, message="the burst answered when due")
        await wait_settled(db_pool, redis, GuardRedisKeys(redis_settings), [chat])
    [reply] = await replies_on(kafka_settings, chat.tenant_id)
    assert reply.data.message_ids == message_ids(burst)
