"""`QuietServer`: uvicorn with a one-second tick that still refreshes `Date` and exits at once."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from email.utils import parsedate_to_datetime
from types import FrameType

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from service_runtime.http_server import QuietServer
from testkit import free_port


async def _hello(_: object) -> PlainTextResponse:
    return PlainTextResponse("hello")


def _config(port: int) -> uvicorn.Config:
    app = Starlette(routes=[Route("/", _hello)])
    return uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off", loop="none")


class _ServerThread:
    """The server on its own thread and loop: uvicorn captures no signals off the main thread,
    so the test can request an exit without a real signal reaching pytest."""

    def __init__(self, server: QuietServer) -> None:
        self.server = server
        self.thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)

    def __enter__(self) -> _ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.server.force_exit = True
        self.thread.join(timeout=30)


def _uvicorn_exit_request(server: uvicorn.Server, sig: int, frame: FrameType | None) -> None:
    server.should_exit = True


def test_an_exit_request_wakes_the_loop_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # sse-starlette (imported by the api's tests in the same process) wraps uvicorn's
    # `handle_exit` to drain every event stream of the process: the test keeps uvicorn's own
    # meaning so that process-wide flag is not flipped for the tests that run after it.
    monkeypatch.setattr(uvicorn.Server, "handle_exit", _uvicorn_exit_request)
    # A tick of an hour: only the wake-up in `handle_exit` can end the loop in time.
    server = QuietServer(_config(free_port()), tick_s=3600)
    with _ServerThread(server) as running:
        server.handle_exit(signal.SIGTERM, None)
        running.thread.join(timeout=30)
        assert not running.thread.is_alive(), "the exit request did not wake the main loop"


def test_the_date_header_is_refreshed_on_every_tick() -> None:
    port = free_port()
    server = QuietServer(_config(port), tick_s=0.3)
    with _ServerThread(server):
        first = httpx.get(f"http://127.0.0.1:{port}/", timeout=5).headers["date"]
        time.sleep(1.2)
        second = httpx.get(f"http://127.0.0.1:{port}/", timeout=5).headers["date"]
    assert parsedate_to_datetime(second) > parsedate_to_datetime(first)


@pytest.mark.parametrize("counter", [0, 10, 20])
async def test_uvicorn_refreshes_the_date_header_on_every_tenth_tick(counter: int) -> None:
    """What the one-second tick relies on: `on_tick` with a counter divisible by ten writes the
    Date header. If uvicorn changes that, this fails before the header goes stale."""
    server = uvicorn.Server(_config(free_port()))
    server.config.load()
    server.server_state.default_headers = []
    await server.on_tick(counter)
    assert any(name == b"date" for name, _ in server.server_state.default_headers)
