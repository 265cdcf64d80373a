"""The debounce of bursts, held in Redis so it survives restarts and is shared by replicas.

- `pending:<conversation>`: the message ids waiting for one reply (a set);
- `due`: conversation → when its burst is due; every new message pushes it to
  now + window (capped at burst start + max wait);
- `leases` and `lease-owners`: conversations a replica has claimed, until when and by whom.

A replica claims due conversations atomically (one Lua script), answers each burst in
one database transaction, then releases the claim, removing exactly the message ids it
handled. A replica that dies holding a claim is replaced when the lease expires; the
database (`guard_decisions`) tells the successor which messages were already answered,
and the reply's event id derives from the burst's last message, so a repeat is
recognised downstream too. All times are Redis's own clock, shared by every replica.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from guard.redis_keys import GuardRedisKeys

_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# KEYS: pending set, due zset, burst-started hash.
# ARGV: conversation, message id, window ms, max wait ms (0: none), pending ttl s.
_ADD = (
    _NOW_MS
    + """
if redis.call('SCARD', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[3], ARGV[1], now)
end
local started = tonumber(redis.call('HGET', KEYS[3], ARGV[1])) or now
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
local due = now + tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
if max_wait > 0 and started + max_wait < due then
  due = started + max_wait
end
redis.call('ZADD', KEYS[2], due, ARGV[1])
return due - now
"""
)

# KEYS: due zset, leases zset, lease-owners hash.
# ARGV: owner, lease ms, limit, pending key prefix.
# Returns {next, {conversation, message id, ...}, ...}: `next` is how many ms until the next
# burst is due or the next lease expires after this claim (0: one is due but held by another
# replica; -1: nothing is scheduled).
_CLAIM = (
    _NOW_MS
    + """
local limit = tonumber(ARGV[3])
local lease_until = now + tonumber(ARGV[2])
local claimed = {}
local function take(conversation)
  redis.call('ZADD', KEYS[2], lease_until, conversation)
  redis.call('HSET', KEYS[3], conversation, ARGV[1])
  redis.call('ZREM', KEYS[1], conversation)
  local burst = redis.call('SMEMBERS', ARGV[4] .. conversation)
  table.insert(burst, 1, conversation)
  claimed[#claimed + 1] = burst
end
-- Expired leases first: their holder died (or stalled) before it released them.
for _, conversation in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)) do
  take(conversation)
end
local skipped = 0
while #claimed < limit do
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', skipped, limit)
  if #due == 0 then
    break
  end
  for _, conversation in ipairs(due) do
    if #claimed >= limit then
      break
    end
    -- Claimed by another replica and new messages arrived meanwhile: wait for its release.
    if redis.call('ZSCORE', KEYS[2], conversation) then
      skipped = skipped + 1
    else
      take(conversation)
    end
  end
end
local next_in = -1
for _, key in ipairs({KEYS[1], KEYS[2]}) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then
    local wait = math.max(0, tonumber(first[2]) - now)
    if next_in < 0 or wait < next_in then
      next_in = wait
    end
  end
end
table.insert(claimed, 1, next_in)
return claimed
"""
)

# KEYS: pending set, due zset, leases zset, lease-owners hash, burst-started hash.
# ARGV: conversation, owner, handled message ids...
_RELEASE = (
    _NOW_MS
    + """
for index = 3, #ARGV do
  redis.call('SREM', KEYS[1], ARGV[index])
end
if redis.call('SCARD', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[5], ARGV[1])
else
  -- Messages that arrived during the flush start the next burst.
  redis.call('HSET', KEYS[5], ARGV[1], now)
end
if redis.call('HGET', KEYS[4], ARGV[1]) == ARGV[2] then
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
end
return 1
"""
)

# KEYS: due zset, leases zset, lease-owners hash.
# ARGV: conversation, owner, retry delay ms.
_ABANDON = (
    _NOW_MS
    + """
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
local retry_at = now + tonumber(ARGV[3])
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not current or tonumber(current) > retry_at then
  redis.call('ZADD', KEYS[1], retry_at, ARGV[1])
end
return 1
"""
)


@dataclass(frozen=True)
class Claim:
    """What one claim took, and when the next burst is due (by Redis's clock)."""

    bursts: list[ClaimedBurst]
    # Milliseconds until the next burst is due or the next lease expires: 0 when one is due
    # but held by another replica, None when nothing is scheduled.
    next_due_in_ms: int | None


@dataclass(frozen=True)
class ClaimedBurst:
    """A conversation a replica claimed, with the message ids pending when it did."""

    conversation_id: uuid.UUID
    message_ids: tuple[uuid.UUID, ...]


class DebounceStore:
    """The Redis side of the debounce: add messages, claim due bursts, release them."""

    def __init__(
        self,
        redis: Redis,
        keys: GuardRedisKeys,
        *,
        window_ms: int,
        max_wait_ms: int,
        lease_ms: int,
        pending_ttl_s: int = 7 * 24 * 3600,
    ) -> None:
        self._keys = keys
        self.window_ms = window_ms
        self.max_wait_ms = max_wait_ms
        self.lease_ms = lease_ms
        self._pending_ttl_s = pending_ttl_s
        self._add = redis.register_script(_ADD)
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)
        self._abandon = redis.register_script(_ABANDON)
        self._listeners: list[Callable[[int], None]] = []

    def on_scheduled(self, listener: Callable[[int], None]) -> None:
        """Have `listener` told, after each `add`, in how many ms that burst is due."""
        self._listeners.append(listener)

    async def add(self, conversation_id: uuid.UUID, message_id: uuid.UUID) -> int:
        """Add a message to its conversation's burst; returns in how many ms the burst is due."""
        due_in_ms = int(
            await self._add(
                keys=[
                    self._keys.debounce_pending(conversation_id),
                    self._keys.debounce_due,
                    self._keys.debounce_burst_started,
                ],
                args=[
                    str(conversation_id),
                    str(message_id),
                    self.window_ms,
                    self.max_wait_ms,
                    self._pending_ttl_s,
                ],
            )
        )
        for listener in self._listeners:
            listener(due_in_ms)
        return due_in_ms

    async def claim_due(self, owner: str, limit: int) -> list[ClaimedBurst]:
        """Atomically claim up to `limit` due bursts (and bursts whose lease expired) for `owner`."""
        return (await self.claim(owner, limit)).bursts

    async def claim(self, owner: str, limit: int) -> Claim:
        """`claim_due`, and when the next burst is due after it."""
        reply = await self._claim(
            keys=[self._keys.debounce_due, self._keys.debounce_leases, self._keys.debounce_lease_owners],
            args=[owner, self.lease_ms, limit, self._keys.debounce_pending_prefix],
        )
        next_in = int(reply[0])
        bursts = [
            ClaimedBurst(
                conversation_id=uuid.UUID(_text(burst[0])),
                message_ids=tuple(uuid.UUID(_text(item)) for item in burst[1:]),
            )
            for burst in reply[1:]
        ]
        return Claim(bursts=bursts, next_due_in_ms=next_in if next_in >= 0 else None)

    async def release(self, burst: ClaimedBurst, owner: str) -> None:
        """Forget the handled message ids and give the claim up (if `owner` still holds it)."""
        await self._release(
            keys=[
                self._keys.debounce_pending(burst.conversation_id),
                self._keys.debounce_due,
                self._keys.debounce_leases,
                self._keys.debounce_lease_owners,
                self._keys.debounce_burst_started,
            ],
            args=[str(burst.conversation_id), owner, *(str(item) for item in burst.message_ids)],
        )

    async def abandon(self, burst: ClaimedBurst, owner: str, retry_delay_ms: int) -> None:
        """Give a claim up without handling it: the burst is due again after `retry_delay_ms`."""
        await self._abandon(
            keys=[self._keys.debounce_due, self._keys.debounce_leases, self._keys.debounce_lease_owners],
            args=[str(burst.conversation_id), owner, retry_delay_ms],
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
