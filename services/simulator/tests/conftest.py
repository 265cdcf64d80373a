"""Fixtures: the simulator in-process, and a real HTTP receiver for its webhooks."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.app import create_app
from simulator.settings import SimulatorRuntime, SimulatorSettings, WebhookDeliverySettings
from simulator.webhooks import WebhookDispatcher
from testkit import wait_until
from testkit.asgi import served

GLOBAL_KEY = "test-global-key"
GLOBAL = {"apikey": GLOBAL_KEY}


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return orjson.loads(self.body)


class Receiver:
    """A real HTTP endpoint that records what it gets and answers scripted statuses."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.url = ""
        self._scripts: dict[str, deque[int]] = {}
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST", "GET"])])

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        self.requests.append(Received(path=path, headers=dict(request.headers), body=body))
        queue = self._scripts.get(path)
        status = queue.popleft() if queue else 200
        return JSONResponse({"received": True, "path": path}, status_code=status)

    def respond(self, path: str, *statuses: int) -> None:
        """The next requests to `path` get these statuses (then 200)."""
        self._scripts[path] = deque(statuses)

    def at(self, path: str) -> list[Received]:
        """Requests received at `path`."""
        return [item for item in self.requests if item.path == path]

    def events(self, event: str) -> list[dict[str, Any]]:
        """Parsed envelopes of `event`, in arrival order."""
        found = []
        for item in self.requests:
            try:
                body = item.json()
            except orjson.JSONDecodeError:
                continue
            if isinstance(body, dict) and body.get("event") == event:
                found.append(body)
        return found

    async def wait_for(self, event: str, count: int = 1, timeout: float = 10) -> list[dict[str, Any]]:
        """Wait until `count` envelopes of `event` arrived."""
        await wait_until(
            lambda: len(self.events(event)) >= count, timeout=timeout, message=f"{count} × {event}"
        )
        return self.events(event)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver served on a real localhost port."""
    found = Receiver()
    async with served(found.app) as url:
        found.url = url
        yield found


def sim_settings(**overrides: Any) -> SimulatorSettings:
    """Settings for tests: fast retries and acks, a known global key."""
    values: dict[str, Any] = {
        "api_key": GLOBAL_KEY,
        "runtime": SimulatorRuntime(log_level="WARNING", log_json=False),
        "webhook": WebhookDeliverySettings(retry_initial_delay_ms=20, retry_max_delay_ms=100, timeout_s=5.0),
        "delivery_ack_delay_ms": 20,
    }
    values.update(overrides)
    return SimulatorSettings(**values)


class Sim:
    """The simulator app running in-process, with an ASGI client."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient, settings: SimulatorSettings) -> None:
        self.app = app
        self.client = client
        self.settings = settings

    @property
    def webhooks(self) -> WebhookDispatcher:
        """The live webhook dispatcher."""
        dispatcher: WebhookDispatcher = self.app.state.webhooks
        return dispatcher

    async def settled(self) -> None:
        """Wait until no webhook delivery (echo, ack, retry) is still running."""
        await wait_until(lambda: self.webhooks.pending == 0, timeout=10, message="deliveries settled")

    async def create(
        self,
        name: str,
        *,
        webhook: dict[str, Any] | None = None,
        scan: bool = True,
        **extra: Any,
    ) -> dict[str, Any]:
        """Create a Baileys instance (optionally with a webhook) and, by default, connect it."""
        body: dict[str, Any] = {"instanceName": name, "integration": "WHATSAPP-BAILEYS", **extra}
        if webhook is not None:
            body["webhook"] = webhook
        response = await self.client.post("/instance/create", json=body, headers=GLOBAL)
        assert response.status_code == 201, response.text
        if scan:
            scanned = await self.client.post(f"/_sim/instances/{name}/scan", json={})
            assert scanned.status_code == 200, scanned.text
        created: dict[str, Any] = response.json()
        return created

    async def send_text(self, instance: str, **body: Any) -> httpx.Response:
        """`POST /message/sendText/{instance}` with the global key."""
        return await self.client.post(f"/message/sendText/{instance}", json=body, headers=GLOBAL)


SimFactory = Callable[..., Awaitable[Sim]]


@pytest.fixture
async def make_sim() -> AsyncIterator[SimFactory]:
    """Build simulators with settings overrides; each runs inside its lifespan."""
    async with AsyncExitStack() as stack:

        async def build(**overrides: Any) -> Sim:
            settings = sim_settings(**overrides)
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sim")
            )
            return Sim(app, client, settings)

        yield build


@pytest.fixture
async def sim(make_sim: SimFactory) -> Sim:
    """A simulator with default test settings."""
    return await make_sim()
