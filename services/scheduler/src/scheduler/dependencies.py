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
from service_runtime import BoundAtStartup

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
    pool = BoundAtStartup[Pool]()
    relay = BoundAtStartup[OutboxRelay]()
    # The per-number daily counters (Redis).
    budget = BoundAtStartup[NumberBudget]()

    def bind(self, *, pool: Pool, relay: OutboxRelay, budget: NumberBudget) -> None:
        """Attach what start-up opened."""
        self.pool, self.relay, self.budget = pool, relay, budget

    async def stage(self, conn: Connection, events: Sequence[Envelope]) -> list[StagedEvent]:
        """Stage events in the caller's transaction (publish them with `relay.notify` after COMMIT)."""
        return await self.outbox.stage(conn, events)
