"""The bot-loop counter of each conversation, held in Redis (seed §6.1).

The database mirrors it (`conversation_guard_state.loop_count/last_script_id`) in the
same transaction as the decision, and seeds it again when Redis has lost it.
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from guard.redis_keys import GuardRedisKeys

# KEYS[1] the conversation's counter hash.
# ARGV: message id, script id ('' for none), seed script id, seed count, reset ('1'/'0'), ttl seconds.
# Counting one message twice (a redelivery after its transaction rolled back) returns the
# count it got the first time, so a retry never inflates the counter.
_OBSERVE = """
local key = KEYS[1]
if redis.call('HGET', key, 'message') == ARGV[1] then
  return tonumber(redis.call('HGET', key, 'count')) or 0
end
local previous, count
if ARGV[5] == '1' or redis.call('EXISTS', key) == 0 then
  previous = ARGV[3]
  count = tonumber(ARGV[4])
else
  previous = redis.call('HGET', key, 'script') or ''
  count = tonumber(redis.call('HGET', key, 'count')) or 0
end
if ARGV[2] ~= '' and ARGV[2] == previous then
  count = count + 1
else
  count = 0
end
redis.call('HSET', key, 'script', ARGV[2], 'count', count, 'message', ARGV[1])
redis.call('EXPIRE', key, tonumber(ARGV[6]))
return count
"""


class LoopCounter:
    """Counts consecutive messages carrying the same `script_id` in one conversation."""

    def __init__(self, redis: Redis, keys: GuardRedisKeys, *, ttl_s: int) -> None:
        self._keys = keys
        self._ttl_s = ttl_s
        self._observe = redis.register_script(_OBSERVE)

    async def observe(
        self,
        conversation_id: uuid.UUID,
        message_id: uuid.UUID,
        script_id: str | None,
        *,
        seed_script_id: str | None,
        seed_count: int,
        reset: bool = False,
    ) -> int:
        """Count `message_id` and return the conversation's counter after it.

        `seed_*` (the database mirror) is used when Redis has no counter; `reset`
        starts over from zero (the operator unblocked the conversation).
        """
        count = await self._observe(
            keys=[self._keys.loop_counter(conversation_id)],
            args=[
                str(message_id),
                script_id or "",
                "" if reset else (seed_script_id or ""),
                0 if reset else seed_count,
                "1" if reset else "0",
                self._ttl_s,
            ],
        )
        return int(count)
