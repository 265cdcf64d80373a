"""Every Redis key the guard uses, in one place, behind `RedisSettings.key` (tests get their own).

The debounce keys share the hash tag `{guard-debounce}`: the claim script reaches
per-conversation keys it cannot declare up front, which a Redis Cluster allows
only within one slot.
"""

from __future__ import annotations

import uuid

from redis_client import RedisSettings

_DEBOUNCE = "guard:{guard-debounce}"


class GuardRedisKeys:
    """The physical names of the guard's keys."""

    def __init__(self, settings: RedisSettings) -> None:
        self._settings = settings

    @property
    def debounce_due(self) -> str:
        """Sorted set: conversation id → when its burst is due (epoch ms, Redis clock)."""
        return self._settings.key(f"{_DEBOUNCE}:due")

    @property
    def debounce_leases(self) -> str:
        """Sorted set: conversation id → when the claim on its burst expires (epoch ms)."""
        return self._settings.key(f"{_DEBOUNCE}:leases")

    @property
    def debounce_lease_owners(self) -> str:
        """Hash: conversation id → the replica holding its claim."""
        return self._settings.key(f"{_DEBOUNCE}:lease-owners")

    @property
    def debounce_burst_started(self) -> str:
        """Hash: conversation id → when its current burst began (epoch ms), for the max-wait cap."""
        return self._settings.key(f"{_DEBOUNCE}:burst-started")

    @property
    def debounce_pending_prefix(self) -> str:
        """Prefix of the per-conversation sets of message ids waiting for a reply."""
        return self._settings.key(f"{_DEBOUNCE}:pending:")

    def debounce_pending(self, conversation_id: uuid.UUID | str) -> str:
        """Set: the message ids of one conversation's burst waiting for its reply."""
        return f"{self.debounce_pending_prefix}{conversation_id}"

    def loop_counter(self, conversation_id: uuid.UUID | str) -> str:
        """Hash: one conversation's bot-loop counter (`script`, `count`, `message` last counted)."""
        return self._settings.key(f"guard:loop:{conversation_id}")
