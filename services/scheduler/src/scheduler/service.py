"""The scheduler as one object: what `app.py` wires (the consumer's handler, the leader's work,
the control route's tick) over the parts that do the work (`starting`, `turns`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime

import structlog

from contracts import MessageReceived, utc_now
from database import Pool
from messaging import Outbox, OutboxRelay, is_infrastructure_error
from scheduler.budget import NumberBudget
from scheduler.dependencies import PRODUCER, Dependencies
from scheduler.leadership import Fence
from scheduler.metrics import SchedulerMetrics
from scheduler.settings import SchedulerSettings
from scheduler.starting import RoundStarter, TickResult, Trigger
from scheduler.turns import TurnFlow
from warmup_rules import CronSchedule

log = structlog.get_logger(__name__)


class Scheduler:
    """Warm-up rounds: built from settings in `create_app`, bound to what start-up opened."""

    def __init__(
        self,
        settings: SchedulerSettings,
        *,
        metrics: SchedulerMetrics | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.deps = Dependencies(
            settings=settings,
            metrics=metrics or SchedulerMetrics(),
            outbox=Outbox(PRODUCER, namespace=settings.kafka.topic_prefix),
            clock=clock,
        )
        self.turns = TurnFlow(self.deps)
        self.starter = RoundStarter(self.deps, self.turns)

    def bind(self, *, pool: Pool, relay: OutboxRelay, budget: NumberBudget) -> None:
        """Attach the dependencies opened at start-up."""
        self.deps.bind(pool=pool, relay=relay, budget=budget)

    async def on_message_received(self, event: MessageReceived) -> None:
        """Consumer of `message.received`: a warm-up turn arriving at its peer moves its round on."""
        await self.turns.on_message_received(event)

    async def tick(
        self, pair_id: uuid.UUID, *, tenant_id: uuid.UUID | None = None, trigger: Trigger = "manual"
    ) -> TickResult | None:
        """The decision for one pair, now (None: no such pair for the tenant)."""
        return await self.starter.tick(pair_id, tenant_id=tenant_id, trigger=trigger)

    async def lead(self, fence: Fence) -> None:
        """The leader's work until it is cancelled: the cron's scans and the turn timers."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._cron(fence), name="scheduler-cron")
            group.create_task(self._timers(), name="scheduler-timers")

    async def _cron(self, fence: Fence) -> None:
        if not self.settings.cron:
            return
        schedule = CronSchedule(self.settings.cron)
        while True:
            now = self.deps.clock()
            fire = schedule.next_after(now)
            await asyncio.sleep(max(0.0, (fire - now).total_seconds()))
            try:
                started = await self.starter.scan(fence)
            except Exception as error:
                if not is_infrastructure_error(error):
                    raise
                log.warning("warm-up scan skipped: a dependency is down", error=str(error))
                continue
            log.debug("warm-up scan done", started=started)

    async def _timers(self) -> None:
        while True:
            try:
                await self.turns.request_due()
                await self.turns.expire_overdue()
            except Exception as error:
                if is_infrastructure_error(error):
                    log.warning("warm-up timers skipped: a dependency is down", error=str(error))
                else:
                    # A bug on one row must not stop every other round: logged, tried again next time.
                    log.exception("warm-up timers failed")
            await asyncio.sleep(self.settings.timer_interval_s)
