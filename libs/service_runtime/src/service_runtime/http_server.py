"""Serve a service app with uvicorn and a graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from types import FrameType

import uvicorn
from fastapi import FastAPI

from service_runtime.host import ServiceHost
from service_runtime.settings import RuntimeSettings


class QuietServer(uvicorn.Server):
    """uvicorn's server with a one-second housekeeping tick instead of its 100 ms one.

    uvicorn wakes its process ten times a second to refresh the `Date` header (once a second)
    and to look for an exit request. Those wake-ups are most of what an idle service costs
    (docs/benchmarks.md), so this server ticks once a second, and a signal wakes it at once:
    shutdown starts as promptly as before.
    """

    def __init__(self, config: uvicorn.Config, *, tick_s: float = 1.0) -> None:
        super().__init__(config)
        self.tick_s = tick_s
        self._exit_requested: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        """Tick every `tick_s` until an exit is requested (`on_tick` says so)."""
        self._loop = asyncio.get_running_loop()
        self._exit_requested = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            # `on_tick` refreshes the Date header on every tenth of its 100 ms ticks: stepping by
            # ten makes every one-second tick refresh it.
            counter = (counter + 10) % 864_000
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.tick_s):
                    await self._exit_requested.wait()
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """uvicorn's exit request, which also wakes the main loop (from a signal handler or
        another thread, hence `call_soon_threadsafe`)."""
        super().handle_exit(sig, frame)
        loop, requested = self._loop, self._exit_requested
        if loop is not None and requested is not None and not loop.is_closed():
            loop.call_soon_threadsafe(requested.set)


async def serve(app: FastAPI, runtime: RuntimeSettings) -> None:
    """Start the app's dependencies, then serve until SIGTERM/SIGINT.

    Dependencies are opened *before* uvicorn starts, so a bad setting ends the
    process with the one-line `StartupError` instead of a lifespan traceback. On
    a signal uvicorn stops accepting, finishes in-flight requests, and the
    lifespan shutdown closes the dependencies (consumers finish and commit their
    batches, the outbox is flushed, pools close).
    """
    host: ServiceHost = app.state.host
    await host.start()
    # What start-up built (modules, classes, settings, pools, clients) lives as long as the
    # process: frozen out of the collector's reach, so a full collection walks only what the
    # work itself keeps alive (docs/benchmarks.md: full collections over start-up's objects
    # were 60-80 ms pauses in ingest, its webhooks' p99 at high rates).
    gc.collect()
    gc.freeze()
    config = uvicorn.Config(
        app,
        host=runtime.host,
        port=runtime.port,
        log_config=None,  # structured logging is configured by the service
        access_log=False,
        timeout_graceful_shutdown=int(runtime.graceful_timeout_s),
        lifespan="on",
        loop="none",
        proxy_headers=False,
    )
    try:
        await QuietServer(config).serve()
    finally:
        await host.stop()
