"""A background job run every few seconds for the life of a service (sweeps, scans, refreshes)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from messaging import is_infrastructure_error

log = structlog.get_logger(__name__)


class PeriodicTask:
    """Runs `work` every `interval_s` until stopped.

    A failed run never ends the loop: a dependency that is down (PostgreSQL, Redis, Kafka, a
    timeout) is a warning, anything else is logged with its traceback; the next run comes at
    the next interval either way. Stopping cancels a run in progress.
    """

    def __init__(
        self,
        name: str,
        work: Callable[[], Awaitable[object]],
        *,
        interval_s: float,
        first_delay_s: float = 0.0,
    ) -> None:
        self.name = name
        self._work = work
        self._interval_s = interval_s
        self._first_delay_s = first_delay_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start running in the background."""
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stop running (a run in progress is cancelled)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        if self._first_delay_s > 0:
            await asyncio.sleep(self._first_delay_s)
        while True:
            try:
                await self._work()
            except Exception as error:
                if is_infrastructure_error(error):
                    log.warning(
                        "periodic task failed: a dependency is down",
                        task=self.name,
                        error=f"{type(error).__name__}: {error}",
                    )
                else:
                    log.exception("periodic task failed", task=self.name)
            await asyncio.sleep(self._interval_s)
