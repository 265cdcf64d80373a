"""The Redis loop counter: atomic, idempotent per message, seeded by its database mirror."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from guard.loop_counter import LoopCounter
from guard.redis_keys import GuardRedisKeys
from redis_client import RedisSettings


async def test_repeats_count_and_a_recount_of_the_same_message_changes_nothing(
    redis: Redis, redis_settings: RedisSettings
) -> None:
    keys = GuardRedisKeys(redis_settings)
    counter = LoopCounter(redis, keys, ttl_s=60)
    conversation = uuid.uuid4()
    messages = [uuid.uuid4() for _ in range(4)]

    async def observe(message: uuid.UUID, script: str | None) -> int:
        return await counter.observe(conversation, message, script, seed_script_id=None, seed_count=0)

    assert await observe(messages[0], "s") == 0
    assert await observe(messages[1], "s") == 1
    # A redelivery after a rolled-back transaction counts the same message again.
    assert await observe(messages[1], "s") == 1
    assert await observe(messages[2], "s") == 2
    assert await observe(messages[3], None) == 0
    assert 0 < await redis.ttl(keys.loop_counter(conversation)) <= 60


async def test_a_lost_counter_is_seeded_from_the_mirror_and_a_reset_starts_over(
    redis: Redis, redis_settings: RedisSettings
) -> None:
    counter = LoopCounter(redis, GuardRedisKeys(redis_settings), ttl_s=60)
    conversation = uuid.uuid4()
    seeded = await counter.observe(conversation, uuid.uuid4(), "s", seed_script_id="s", seed_count=2)
    assert seeded == 3
    # The Redis value wins over a stale seed once it exists.
    assert await counter.observe(conversation, uuid.uuid4(), "s", seed_script_id=None, seed_count=0) == 4
    reset = await counter.observe(
        conversation, uuid.uuid4(), "s", seed_script_id="s", seed_count=4, reset=True
    )
    assert reset == 0
    assert await counter.observe(conversation, uuid.uuid4(), "s", seed_script_id=None, seed_count=0) == 1
