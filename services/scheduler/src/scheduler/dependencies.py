"""What the scheduler's parts share: settings, the clock, randomness, and what start-up opened."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from contracts import Envelope, utc_now
from database import Connection, Pool
from messaging import Outbox, OutboxRelay, StagedEvent
from scheduler.budget import NumberBudget
from scheduler.metrics import SchedulerMetrics
from scheduler.settings import SchedulerSettings

# The producer name of the scheduler's outbox rows.
PRODUCER = "scheduler"
# The consumer group that watches messages arrive at the peer numbers.
CONSUMER = "scheduler"


@dataclass
class Dependencies:
    """Built in `create_app` from settings; the pool, relay and budget are bound at start-up."""

    settings: SchedulerSettings
    metrics: SchedulerMetrics
    outbox: Outbox
    clock: Callable[[], datetime] = utc_now
    # Jitter, plans and pauses: not secrets (tests may seed it).
    rng: random.Random = field(default_factory=random.Random)
    _pool: Pool | None = None
    _relay: OutboxRelay | None = None
    _budget: NumberBudget | None = None

    def bind(self, *, pool: Pool, relay: OutboxRelay, budget: NumberBudget) -> None:
        """Attach what start-up opened."""
        self._pool, self._relay, self._budget = pool, relay, budget

    @property
    def pool(self) -> Pool:
        """The database pool."""
        if self._pool is None:
            raise RuntimeError("the scheduler ran before start-up bound its pool")
        return self._pool

    @property
    def relay(self) -> OutboxRelay:
        """The outbox relay."""
        if self._relay is None:
            raise RuntimeError("the scheduler ran before start-up bound its relay")
        return self._relay

    @property
    def budget(self) -> NumberBudget:
        """The per-number daily counters."""
        if self._budget is None:
            raise RuntimeError("the scheduler ran before start-up bound its Redis")
        return self._budget

    async def stage(self, conn: Connection, events: Sequence[Envelope]) -> list[StagedEvent]:
        """Stage events in the caller's transaction (publish them with `relay.notify` after COMMIT)."""
        return await self.outbox.stage(conn, events)
