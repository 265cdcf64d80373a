"""The loop, in every replica, that answers bursts whose debounce window is over."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import structlog

from guard.debounce import ClaimedBurst

log = structlog.get_logger(__name__)


class BurstClaims(Protocol):
    """The claim side of the debounce store (`DebounceStore`)."""

    async def claim_due(self, owner: str, limit: int) -> list[ClaimedBurst]:
        """Claim due bursts for `owner`."""

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
        batch_size: int = 64,
        retry_delay_ms: int = 1_000,
        repair_interval_s: float = 30.0,
        stop_timeout_s: float = 10.0,
        owner: str | None = None,
    ) -> None:
        self._store = store
        self._answer = answer
        self._repair = repair
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._retry_delay_ms = retry_delay_ms
        self._repair_interval_s = repair_interval_s
        self._stop_timeout_s = stop_timeout_s
        # Names this replica's claims, so it releases only what it still holds.
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.flushed = 0

    async def start(self) -> None:
        """Start polling."""
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="guard-burst-flusher")

    async def stop(self) -> None:
        """Finish the bursts in hand, then stop; an unfinished claim is re-claimed after its lease."""
        self._stopping.set()
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
        while not self._stopping.is_set():
            handled = 0
            try:
                handled = await self.flush_once()
                if self._repair is not None and loop.time() >= next_repair:
                    next_repair = loop.time() + self._repair_interval_s
                    await self._repair()
            except Exception as error:  # noqa: BLE001 - the loop must outlive Redis and database outages
                log.warning("burst flush poll failed", error=f"{type(error).__name__}: {error}")
            if handled >= self._batch_size:
                continue  # more may be due right now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._poll_interval_s)

    async def flush_once(self) -> int:
        """Claim and answer the bursts due now; returns how many were claimed."""
        bursts = await self._store.claim_due(self.owner, self._batch_size)
        if bursts:
            await asyncio.gather(*(self._flush(burst) for burst in bursts))
        return len(bursts)

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
