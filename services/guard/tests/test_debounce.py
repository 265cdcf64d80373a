"""The Redis-held debounce against the real Redis and PostgreSQL: bursts, claims, leases,
re-checks at flush time and recovery from lost Redis state."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from contracts import GenerateReply, MessageCategory, MessageReceived, ReplyIntent
from database import Pool
from guard.burst_flusher import BurstFlusher
from guard.debounce import DebounceStore
from guard.output_events import reply_request_id
from guard.redis_keys import GuardRedisKeys
from guard.settings import GuardPolicy
from redis_client import RedisSettings
from testkit import wait_until

from .conftest import GuardUnderTest, build_guard, decision_of, new_chat, staged_events, store_message

WINDOW_MS = 2_000
LOOP_DELAY_MS = 9_000


def make_guard(
    db_pool: Pool, redis: Redis, redis_settings: RedisSettings, namespace: str, **policy: int
) -> GuardUnderTest:
    settings = {"debounce_window_ms": WINDOW_MS, "loop_reply_delay_ms": LOOP_DELAY_MS, **policy}
    return build_guard(db_pool, redis, redis_settings, GuardPolicy(**settings), f"guard-test-{namespace}")


@pytest.fixture
def under_test(db_pool: Pool, redis: Redis, redis_settings: RedisSettings, namespace: str) -> GuardUnderTest:
    return make_guard(db_pool, redis, redis_settings, namespace, debounce_window_ms=300)


def flusher_of(under_test: GuardUnderTest, owner: str = "replica-a") -> BurstFlusher:
    return BurstFlusher(store=under_test.debounce, answer=under_test.guard.answer_burst, owner=owner)


async def flush_when_due(flusher: BurstFlusher, timeout: float = 10) -> None:
    await wait_until(flusher.flush_once, timeout=timeout, message="a due burst")


async def replies_of(under_test: GuardUnderTest, pool: Pool, tenant_id: uuid.UUID) -> list[GenerateReply]:
    events = await staged_events(pool, under_test.producer, tenant_id)
    return [event for event in events if isinstance(event, GenerateReply)]


async def receive(under_test: GuardUnderTest, events: list[MessageReceived]) -> None:
    for event in events:
        await under_test.guard.on_message_received(event)


async def test_a_burst_of_three_gets_one_reply_with_every_message_oldest_first(
    db_pool: Pool, redis: Redis, redis_settings: RedisSettings, namespace: str
) -> None:
    under_test = make_guard(db_pool, redis, redis_settings, namespace)
    chat = await new_chat(db_pool)
    burst = [await store_message(db_pool, chat, text) for text in ("oi", "tudo bem?", "queria saber o preço")]
    await receive(under_test, burst)
    for event in burst:
        assert await decision_of(db_pool, event.data.message_id) == ("debounced", "contact_message", None)

    flusher = flusher_of(under_test)
    assert await flusher.flush_once() == 0, "the window is not over yet"
    await flush_when_due(flusher)

    [reply] = await replies_of(under_test, db_pool, chat.tenant_id)
    ids = tuple(event.data.message_id for event in burst)
    assert reply.data.message_ids == ids
    assert reply.event_id == reply_request_id(chat.conversation_id, ids[-1])
    assert reply.causation_id == burst[-1].event_id
    assert reply.correlation_id == burst[-1].correlation_id
    assert reply.data.without_text is False
    assert reply.data.delay_ms == 0
    assert reply.data.intent is ReplyIntent.ANSWER
    assert reply.data.instance_name == chat.instance_name
    for event in burst:
        assert await decision_of(db_pool, event.data.message_id) == (
            "reply",
            "contact_message",
            reply.event_id,
        )
    # Nothing is left behind in Redis.
    assert not await redis.exists(under_test.keys.debounce_pending(chat.conversation_id))
    assert await redis.zscore(under_test.keys.debounce_due, str(chat.conversation_id)) is None
    assert await redis.zscore(under_test.keys.debounce_leases, str(chat.conversation_id)) is None
    assert await flusher.flush_once() == 0


async def test_every_message_pushes_the_reply_back_up_to_the_max_wait(
    db_pool: Pool, redis: Redis, redis_settings: RedisSettings, namespace: str
) -> None:
    under_test = make_guard(
        db_pool, redis, redis_settings, namespace, debounce_window_ms=60_000, debounce_max_wait_ms=90_000
    )
    chat = await new_chat(db_pool)
    due_key, member = under_test.keys.debounce_due, str(chat.conversation_id)
    await receive(under_test, [await store_message(db_pool, chat, "um")])
    first_due = await redis.zscore(due_key, member)
    assert first_due is not None

    async def redis_clock_moved_on() -> bool:
        seconds, micros = await redis.time()
        return seconds * 1000 + micros // 1000 > first_due - 60_000 + 5

    await wait_until(redis_clock_moved_on, timeout=5, message="the Redis clock to move on")
    await receive(under_test, [await store_message(db_pool, chat, "dois")])
    second_due = await redis.zscore(due_key, member)
    assert second_due is not None
    assert second_due > first_due

    capped = make_guard(
        db_pool, redis, redis_settings, namespace, debounce_window_ms=60_000, debounce_max_wait_ms=500
    )
    other = await new_chat(db_pool)
    events = [await store_message(db_pool, other, f"msg {n}") for n in range(3)]
    await receive(capped, events)
    started = await redis.hget(capped.keys.debounce_burst_started, str(other.conversation_id))
    due = await redis.zscore(capped.keys.debounce_due, str(other.conversation_id))
    assert started is not None
    assert due == int(started) + 500
    flusher = flusher_of(capped)
    await flush_when_due(flusher, timeout=5)
    [reply] = await replies_of(capped, db_pool, other.tenant_id)
    assert len(reply.data.message_ids) == 3


async def test_a_burst_without_any_text_is_answered_as_without_text(
    under_test: GuardUnderTest, db_pool: Pool
) -> None:
    silent = await new_chat(db_pool)
    mixed = await new_chat(db_pool)
    await receive(
        under_test,
        [
            await store_message(db_pool, silent, None, category=MessageCategory.AUDIO),
            await store_message(db_pool, silent, None, category=MessageCategory.MEDIA),
            await store_message(db_pool, mixed, None, category=MessageCategory.AUDIO),
            await store_message(db_pool, mixed, "e aí?"),
        ],
    )
    flusher = flusher_of(under_test)

    async def both_answered() -> bool:
        await flusher.flush_once()
        return bool(
            await db_pool.fetchval(
                "SELECT count(*) = 0 FROM guard_decisions WHERE conversation_id = ANY($1::uuid[])"
                " AND decision = 'debounced'",
                [silent.conversation_id, mixed.conversation_id],
            )
        )

    await wait_until(both_answered, timeout=10, message="both bursts answered")
    [silent_reply] = await replies_of(under_test, db_pool, silent.tenant_id)
    [mixed_reply] = await replies_of(under_test, db_pool, mixed.tenant_id)
    assert silent_reply.data.without_text is True
    assert mixed_reply.data.without_text is False


async def test_a_suspected_bot_loop_in_the_burst_slows_its_reply(
    under_test: GuardUnderTest, db_pool: Pool
) -> None:
    chat = await new_chat(db_pool)
    await receive(
        under_test,
        [await store_message(db_pool, chat, f"Olá {n}", script_id="other-bot") for n in range(2)],
    )
    await flush_when_due(flusher_of(under_test))
    [reply] = await replies_of(under_test, db_pool, chat.tenant_id)
    assert reply.data.delay_ms == LOOP_DELAY_MS


async def test_the_operator_typing_during_the_window_cancels_the_reply(
    under_test: GuardUnderTest, db_pool: Pool
) -> None:
    chat = await new_chat(db_pool)
    waiting = [await store_message(db_pool, chat, "oi"), await store_message(db_pool, chat, "alguém?")]
    await receive(under_test, waiting)
    await receive(under_test, [await store_message(db_pool, chat, "Oi! Sou eu, o João", from_me=True)])
    await flush_when_due(flusher_of(under_test))
    assert await replies_of(under_test, db_pool, chat.tenant_id) == []
    for event in waiting:
        assert await decision_of(db_pool, event.data.message_id) == ("paused", "conversation_paused", None)


async def test_an_opt_out_during_the_window_leaves_only_its_confirmation(
    under_test: GuardUnderTest, db_pool: Pool
) -> None:
    chat = await new_chat(db_pool)
    hello = await store_message(db_pool, chat, "oi")
    stop = await store_message(db_pool, chat, "PARE")
    await receive(under_test, [hello, stop])
    await flush_when_due(flusher_of(under_test))
    [confirmation] = await replies_of(under_test, db_pool, chat.tenant_id)
    assert confirmation.data.intent is ReplyIntent.OPT_OUT_CONFIRMATION
    assert confirmation.data.message_ids == (stop.data.message_id,)
    assert await decision_of(db_pool, hello.data.message_id) == ("opted_out", "contact_opted_out", None)


async def test_a_claim_whose_holder_died_is_taken_over_after_the_lease_and_answered_once(
    db_pool: Pool, redis: Redis, redis_settings: RedisSettings, namespace: str
) -> None:
    under_test = make_guard(
        db_pool, redis, redis_settings, namespace, debounce_window_ms=0, claim_lease_ms=400
    )
    # Window 0 answers in the message's own transaction: push a burst the way a window would.
    chat = await new_chat(db_pool)
    events = [await store_message(db_pool, chat, text) for text in ("oi", "tudo bem?")]
    await db_pool.executemany(
        "INSERT INTO guard_decisions (message_id, tenant_id, conversation_id, decision, reason, event_id,"
        " correlation_id, instance_id, contact_id, reply_to)"
        " VALUES ($1, $2, $3, 'debounced', 'contact_message', $4, $5, $6, $7, $8)",
        [
            (
                event.data.message_id,
                chat.tenant_id,
                chat.conversation_id,
                event.event_id,
                event.correlation_id,
                chat.instance_id,
                chat.contact_id,
                chat.reply_to,
            )
            for event in events
        ],
    )
    for event in events:
        await under_test.debounce.add(chat.conversation_id, event.data.message_id)

    store = under_test.debounce
    [claimed] = await store.claim_due("replica-a", 10)
    assert set(claimed.message_ids) == {event.data.message_id for event in events}
    # Replica A answers, then dies before it releases its claim.
    assert await under_test.guard.answer_burst(claimed.conversation_id, claimed.message_ids) is not None
    assert await store.claim_due("replica-b", 10) == [], "the lease still holds"

    replica_b = flusher_of(under_test, owner="replica-b")
    await flush_when_due(replica_b, timeout=5)
    # A's successor found the burst answered already: still one reply, and Redis is clean.
    assert len(await replies_of(under_test, db_pool, chat.tenant_id)) == 1
    assert await redis.zscore(under_test.keys.debounce_leases, str(chat.conversation_id)) is None
    assert not await redis.exists(under_test.keys.debounce_pending(chat.conversation_id))
    # A late release by the dead replica's ghost changes nothing.
    await store.release(claimed, "replica-a")
    assert await replica_b.flush_once() == 0


async def test_two_claimers_never_claim_the_same_burst(redis: Redis, redis_settings: RedisSettings) -> None:
    keys = GuardRedisKeys(redis_settings)
    store = DebounceStore(redis, keys, window_ms=0, max_wait_ms=0, lease_ms=60_000)
    conversations = [uuid.uuid4() for _ in range(60)]
    for conversation in conversations:
        await store.add(conversation, uuid.uuid4())
    claimed: dict[str, list[uuid.UUID]] = {"a": [], "b": []}

    async def claimer(owner: str) -> None:
        while bursts := await store.claim_due(owner, 3):
            claimed[owner].extend(burst.conversation_id for burst in bursts)
            await asyncio.sleep(0)

    await asyncio.gather(claimer("a"), claimer("b"), claimer("a"), claimer("b"))
    everything = claimed["a"] + claimed["b"]
    assert sorted(everything) == sorted(conversations)
    assert claimed["a"]
    assert claimed["b"]


async def test_messages_arriving_during_a_flush_wait_for_the_claim_and_start_the_next_burst(
    redis: Redis, redis_settings: RedisSettings
) -> None:
    store = DebounceStore(redis, GuardRedisKeys(redis_settings), window_ms=0, max_wait_ms=0, lease_ms=60_000)
    conversation, first, late = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await store.add(conversation, first)
    [claimed] = await store.claim_due("replica-a", 10)
    assert claimed.message_ids == (first,)
    await store.add(conversation, late)
    assert await store.claim_due("replica-b", 10) == [], "claimed bursts are not claimed twice"
    await store.release(claimed, "replica-a")
    [next_burst] = await store.claim_due("replica-b", 10)
    assert next_burst == type(claimed)(conversation, (late,))
    await store.release(next_burst, "replica-b")
    assert await store.claim_due("replica-a", 10) == []


async def test_an_abandoned_burst_is_due_again_after_the_retry_delay(
    redis: Redis, redis_settings: RedisSettings
) -> None:
    keys = GuardRedisKeys(redis_settings)
    store = DebounceStore(redis, keys, window_ms=0, max_wait_ms=0, lease_ms=60_000)
    conversation, message = uuid.uuid4(), uuid.uuid4()
    await store.add(conversation, message)
    [claimed] = await store.claim_due("replica-a", 10)
    await store.abandon(claimed, "replica-b", 0)  # not its claim: ignored
    assert await store.claim_due("replica-b", 10) == []
    await store.abandon(claimed, "replica-a", 200)
    assert await store.claim_due("replica-b", 10) == []
    [again] = await wait_until(lambda: store.claim_due("replica-b", 10), timeout=5, message="the retry")
    assert again.message_ids == (message,)


async def test_bursts_redis_lost_are_rescheduled_from_the_database(
    under_test: GuardUnderTest, db_pool: Pool, redis: Redis, redis_settings: RedisSettings
) -> None:
    chat = await new_chat(db_pool)
    burst = [await store_message(db_pool, chat, text) for text in ("oi", "ainda aí?")]
    await receive(under_test, burst)
    # Redis restarts without persistence.
    for key in await redis.keys(f"{redis_settings.key_prefix}*"):
        await redis.delete(key)
    flusher = flusher_of(under_test)
    assert await under_test.guard.reschedule_unanswered() == 0, "too young to be lost"
    assert await flusher.flush_once() == 0
    await db_pool.execute(
        "UPDATE guard_decisions SET decided_at = decided_at - interval '1 hour' WHERE conversation_id = $1",
        chat.conversation_id,
    )
    assert await under_test.guard.reschedule_unanswered() == 2
    await flush_when_due(flusher)
    [reply] = await replies_of(under_test, db_pool, chat.tenant_id)
    assert set(reply.data.message_ids) == {event.data.message_id for event in burst}


class FailingOnceStore(DebounceStore):
    """Redis goes away right after the decision committed, once."""

    failed = False

    async def add(self, conversation_id: uuid.UUID, message_id: uuid.UUID) -> int:
        if not self.failed:
            self.failed = True
            raise ConnectionError("Redis went away")
        return await super().add(conversation_id, message_id)


async def test_a_redelivery_hands_redis_a_message_it_never_heard_of(
    db_pool: Pool, redis: Redis, redis_settings: RedisSettings, namespace: str
) -> None:
    policy = GuardPolicy(debounce_window_ms=300)
    under_test = build_guard(
        db_pool, redis, redis_settings, policy, f"guard-test-{namespace}", debounce_type=FailingOnceStore
    )
    chat = await new_chat(db_pool)
    event = await store_message(db_pool, chat, "oi")
    with pytest.raises(ConnectionError):
        await under_test.guard.on_message_received(event)
    assert await decision_of(db_pool, event.data.message_id) == ("debounced", "contact_message", None)
    # The consumer retries the event: already decided, but still waiting for its burst.
    await under_test.guard.on_message_received(event)
    await flush_when_due(flusher_of(under_test))
    [reply] = await replies_of(under_test, db_pool, chat.tenant_id)
    assert reply.data.message_ids == (event.data.message_id,)
    # Once answered, a further redelivery hands nothing over.
    await under_test.guard.on_message_received(event)
    assert not await redis.exists(under_test.keys.debounce_pending(chat.conversation_id))


async def test_a_claim_says_when_the_next_burst_is_due(redis: Redis, redis_settings: RedisSettings) -> None:
    store = DebounceStore(
        redis, GuardRedisKeys(redis_settings), window_ms=500, max_wait_ms=0, lease_ms=60_000
    )
    heard: list[int] = []
    store.on_scheduled(heard.append)
    nothing = await store.claim("replica-a", 10)
    assert (nothing.bursts, nothing.next_due_in_ms) == ([], None)
    conversation = uuid.uuid4()
    assert 490 <= await store.add(conversation, uuid.uuid4()) <= 500
    assert len(heard) == 1
    assert 490 <= heard[0] <= 500, "the listener hears in how many ms the burst is due"
    early = await store.claim("replica-a", 10)
    assert early.bursts == []
    assert early.next_due_in_ms is not None
    assert 0 < early.next_due_in_ms <= 500
    [claimed] = await wait_until(lambda: store.claim_due("replica-a", 10), timeout=5, message="due")
    # Claimed: the next thing scheduled is its lease's expiry.
    await store.add(conversation, uuid.uuid4())  # arrives during the flush
    held = await store.claim("replica-b", 10)
    assert held.bursts == []
    assert held.next_due_in_ms is not None
    assert held.next_due_in_ms <= 500, "due soon, but held by replica-a until its release"
    await store.release(claimed, "replica-a")
