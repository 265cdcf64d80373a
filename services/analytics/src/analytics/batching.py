"""Group commit: the changes of many concurrently handled events are written in one transaction.

Each handler submits its event's change and waits until the transaction that holds it has
committed (so the consumer commits the offset only after the stats are durable). One batch
is written at a time; events that arrive meanwhile form the next batch, so under load the
batches grow by themselves and a quiet stream still sees each event written within
`linger_s`. A failed transaction fails every handler of its batch; the consumer retries
them (an unreachable database is waited out in each record's lane).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog

from analytics.projection import Change
from analytics.repository import Applied

log = structlog.get_logger(__name__)

Writer = Callable[[Sequence[Change]], Awaitable[Applied]]


@dataclass
class _Waiting:
    change: Change
    done: asyncio.Future[None]


class GroupCommit:
    """Collects changes and writes them in batches through `write` (one transaction each)."""

    def __init__(
        self,
        write: Writer,
        *,
        max_batch: int,
        linger_s: float,
        observe: Callable[[Applied, float], None] | None = None,
    ) -> None:
        self._write = write
        self.max_batch = max_batch
        self.linger_s = linger_s
        self._observe = observe
        self._waiting: list[_Waiting] = []
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, change: Change) -> None:
        """Wait until `change` is committed; raises what its batch's transaction raised."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="analytics-group-commit")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(change, done))
        self._arrived.set()
        await done

    async def _run(self) -> None:
        while True:
            await self._arrived.wait()
            if len(self._waiting) < self.max_batch and self.linger_s > 0:
                # Let the other lanes' events of this moment join the batch.
                await asyncio.sleep(self.linger_s)
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
            if not self._waiting:
                self._arrived.clear()
            if batch:
                await self._flush(batch)

    async def _flush(self, batch: list[_Waiting]) -> None:
        started = time.perf_counter()
        try:
            applied = await self._write([waiting.change for waiting in batch])
        except asyncio.CancelledError:
            for waiting in batch:
                waiting.done.cancel()
            raise
        except Exception as error:  # noqa: BLE001 - handed to every handler of the batch
            for waiting in batch:
                if not waiting.done.done():
                    waiting.done.set_exception(error)
            return
        if self._observe is not None:
            self._observe(applied, time.perf_counter() - started)
        for waiting in batch:
            if not waiting.done.done():
                waiting.done.set_result(None)

    async def close(self) -> None:
        """Stop the writer task (after the consumers finished their records)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for waiting in self._waiting:
            if not waiting.done.done():
                waiting.done.cancel()
        self._waiting.clear()
