"""Serve a service app with uvicorn and a graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import gc

import uvicorn
from fastapi import FastAPI

from service_runtime.host import ServiceHost
from service_runtime.settings import RuntimeSettings


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
        await uvicorn.Server(config).serve()
    finally:
        await host.stop()
