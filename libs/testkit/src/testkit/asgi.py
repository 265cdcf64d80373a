"""Serve an ASGI app on a real localhost socket inside a test (stubs, receivers, services)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from testkit.waiting import wait_until


@asynccontextmanager
async def served(app: Any, *, lifespan: str = "on", port: int = 0, **options: Any) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on `port` (a free one by default); yields its base URL.

    Extra `options` go to `uvicorn.Config` (for example `http="h11"` or `backlog`).
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan=lifespan,  # type: ignore[arg-type]
        ws="none",
        timeout_graceful_shutdown=3,
        **options,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    def listening() -> bool:
        if task.done():
            task.result()  # a failed start-up raises here instead of timing out
        return bool(server.started)

    await wait_until(listening, timeout=60, message="uvicorn to listen")
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)
