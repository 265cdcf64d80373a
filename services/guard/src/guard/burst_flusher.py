"""The loop, in every replica, that answers bursts whose debounce window is over.

It sleeps until the next burst is due, not on a fixed tick: each claim tells it when the next
burst is due (or a lease expires), and a burst this replica schedules wakes it early when it is
due sooner. Bursts it hears of from nowhere else (another replica's, after that one died) are
found by a look at least every `idle_poll_interval_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import structlog

from guard.debounce import Claim, ClaimedBurst

log = structlog.get_logger(__name__)


class BurstClaims(Protocol):
    """The claim side of the debounce store (`DebounceStore`)."""

    async def claim(self, owner: str, limit: int) -> Claim:
        """Claim due bursts for `owner`; say when the next one is due."""

    async def release(self, burst: ClaimedBurst, owner: str) -> None:
        """Forget the handled messages and give the claim up."""

    async def abandon(self, burst: ClaimedBurst, owner: str, retry_delay_ms: int) -> None:
        """Give the claim up unhandled: due again after `retry_delay_ms`."""


AnswerBurst = Callable[[uuid.UUID, Sequence[uuid.UUID]], Awaitable[object]]
RepairBursts = Callable[[], Awaitable[int]]


class BurstFlusher:
    """Claims due bursts in Redis, has each answered, then releases its claim."""

    def __init__(
        self,
        *,
        store: BurstClaims,
        answer: AnswerBurst,
        repair: RepairBursts | None = None,
        poll_interval_s: float = 0.1,
        idle_poll_interval_s: float = 1.0,
        batch_size: int = 64,
        retry_delay_ms: int = 1_000,
        repair_interval_s: float = 30.0,
        stop_timeout_s: float = 10.0,
        owner: str | None = None,
    ) -> None:
        self._store = store
        self._answer = answer
        self._repair = repair
        # A burst is due but another replica holds it: look again after this.
        self._poll_interval_s = poll_interval_s
        # The longest the loop sleeps without looking (bursts nobody told this replica of).
        self._idle_poll_interval_s = max(idle_poll_interval_s, poll_interval_s)
        self._batch_size = batch_size
        self._retry_delay_ms = retry_delay_ms
        self._repair_interval_s = repair_interval_s
        self._stop_timeout_s = stop_timeout_s
        # Names this replica's claims, so it releases only what it still holds.
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stopping = False
        # Set to end a sleep early: a sooner burst was scheduled, or the flusher stops.
        self._nudge = asyncio.Event()
        # Loop time the current sleep ends at (None while awake).
        self._wake_at: float | None = None
        # The soonest burst this replica scheduled since its last claim began (loop time).
        self._scheduled_at: float | None = None
        # When the last claim said the next burst is due (loop time; None: nothing scheduled).
        self._next_due_at: float | None = None
        self._claimed_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self.flushed = 0

    def due_in(self, delay_ms: int) -> None:
        """A burst this replica scheduled is due in `delay_ms`: wake then if that is sooner."""
        at = asyncio.get_running_loop().time() + max(0, delay_ms) / 1000
        if self._scheduled_at is None or at < self._scheduled_at:
            self._scheduled_at = at
        if self._wake_at is not None and at < self._wake_at:
            self._wake_at = at
            self._nudge.set()

    async def start(self) -> None:
        """Start the loop."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="guard-burst-flusher")

    async def stop(self) -> None:
        """Finish the bursts in hand, then stop; an unfinished claim is re-claimed after its lease."""
        self._stopping = True
        self._nudge.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._task, timeout=self._stop_timeout_s)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        # Repair first: a restart after Redis lost its data should not wait an interval.
        next_repair = loop.time()
        while not self._stopping:
            handled = 0
            looked = False
            try:
                handled = await self.flush_once()
                looked = True
                if self._repair is not None and loop.time() >= next_repair:
                    next_repair = loop.time() + self._repair_interval_s
                    await self._repair()
            except Exception as error:  # noqa: BLE001 - the loop must outlive Redis and database outages
                log.warning("burst flush poll failed", error=f"{type(error).__name__}: {error}")
            if handled >= self._batch_size:
                continue  # more may be due right now
            # A claim that failed (Redis away) is tried again soon, as one held by another replica.
            await self._sleep(self._sleep_s() if looked else self._poll_interval_s)

    def _sleep_s(self) -> float:
        """How long to sleep after a claim: until the next burst is due, within bounds."""
        if self._next_due_at is None:
            return self._idle_poll_interval_s
        if self._next_due_at <= self._claimed_at:
            return self._poll_interval_s  # due, but another replica holds it
        due_in = self._next_due_at - asyncio.get_running_loop().time()
        return min(max(0.0, due_in), self._idle_poll_interval_s)

    async def _sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self._wake_at = loop.time() + seconds
        if self._scheduled_at is not None:
            self._wake_at = min(self._wake_at, self._scheduled_at)
        try:
            while not self._stopping:
                remaining = self._wake_at - loop.time()
                if remaining <= 0:
                    return
                self._nudge.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._nudge.wait(), timeout=remaining)
        finally:
            self._wake_at = None

    async def flush_once(self) -> int:
        """Claim and answer the bursts due now; returns how many were claimed."""
        # What is scheduled from here on is not in this claim's answer: it wakes the next sleep.
        self._scheduled_at = None
        claim = await self._store.claim(self.owner, self._batch_size)
        # Measured from the claim, not from the end of the flush that follows it.
        self._claimed_at = asyncio.get_running_loop().time()
        self._next_due_at = (
            None if claim.next_due_in_ms is None else self._claimed_at + claim.next_due_in_ms / 1000
        )
        if claim.bursts:
            await asyncio.gather(*(self._flush(burst) for burst in claim.bursts))
        return len(claim.bursts)

    async def _flush(self, burst: ClaimedBurst) -> None:
        try:
            await self._answer(burst.conversation_id, burst.message_ids)
        except Exception as error:  # noqa: BLE001 - one burst's failure must not stop the others
            log.warning(
                "answering a burst failed; it will be tried again",
                conversation_id=str(burst.conversation_id),
                error=f"{type(error).__name__}: {error}",
            )
            with contextlib.suppress(Exception):  # if Redis is gone too, the lease expires instead
                await self._store.abandon(burst, self.owner, self._retry_delay_ms)
                self.due_in(self._retry_delay_ms)
            return
        self.flushed += 1
        try:
            await self._store.release(burst, self.owner)
        except Exception as error:  # noqa: BLE001 - answered already; the lease expiry cleans up
            log.warning(
                "releasing a burst failed; its lease will expire",
                conversation_id=str(burst.conversation_id),
                error=f"{type(error).__name__}: {error}",
            )
