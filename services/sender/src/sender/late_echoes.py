"""The periodic check that settles ambiguous sends whose echo arrived late (`SendService`)."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from messaging import is_infrastructure_error
from sender.sending import SendService

log = structlog.get_logger(__name__)


class LateEchoSweep:
    """Every `interval_s`, lets the send service settle ambiguous sends that turned out sent."""

    def __init__(self, service: SendService, *, interval_s: float, window_h: float) -> None:
        self._service = service
        self._interval_s = interval_s
        self._window_h = window_h
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start checking in the background."""
        self._task = asyncio.create_task(self._run(), name="late-echoes")

    async def stop(self) -> None:
        """Stop checking (a check in progress is cancelled between statements)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self._service.settle_late_echoes(within_hours=self._window_h)
            except Exception as error:
                if not is_infrastructure_error(error):
                    raise
                log.warning("late echo check skipped: a dependency is down", error=str(error))
