"""A small Evolution API stand-in for the sender's integration tests.

It serves `sendText` and `sendPresence` over real HTTP (served by `testkit.asgi.served` on a free port),
records every call with its timing, and can fail the next calls with a status,
hang past the client's timeout, or answer `exists: false`.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

GLOBAL_KEY = "stub-global-key"


@dataclass
class RecordedCall:
    """One request the stub received."""

    endpoint: str
    instance: str
    apikey: str | None
    body: dict[str, Any]
    started: float
    ended: float | None = None
    status: int | None = None
    message_id: str | None = None

    @property
    def text(self) -> str:
        """The text of a sendText call."""
        return str(self.body.get("text", ""))


@dataclass
class EvolutionStub:
    """The stub's behaviour and what it has seen."""

    # Instance name → token; a call to a listed instance must carry its token or the global key.
    tokens: dict[str, str] = field(default_factory=dict)
    calls: list[RecordedCall] = field(default_factory=list)
    # Statuses the next calls of an endpoint answer with, in order.
    failures: dict[str, deque[int]] = field(
        default_factory=lambda: {"sendText": deque(), "sendPresence": deque()}
    )
    # How many of the next sendText calls take the request and answer only when released.
    hang_next: int = 0
    not_on_whatsapp: set[str] = field(default_factory=set)
    # Where it is served (set by the fixture that serves it).
    url: str = ""
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def fail_next(self, endpoint: str, times: int, status: int = 500) -> None:
        """Answer the next `times` calls of `endpoint` with `status`."""
        self.failures[endpoint].extend([status] * times)

    def release_hung(self) -> None:
        """Let hanging calls finish (Evolution sends after all, too late for the client)."""
        self._released.set()

    def sent_texts(self, instance: str | None = None) -> list[RecordedCall]:
        """sendText calls that were answered 201 (the messages that went out), in arrival order."""
        return [
            call
            for call in self.calls
            if call.endpoint == "sendText"
            and call.status == 201
            and (instance is None or call.instance == instance)
        ]

    def calls_to(self, endpoint: str, text: str | None = None) -> list[RecordedCall]:
        """Every call of `endpoint` (with `text`, for sendText), answered or not."""
        return [c for c in self.calls if c.endpoint == endpoint and (text is None or c.text == text)]

    def _authorized(self, instance: str, apikey: str | None) -> bool:
        if apikey == GLOBAL_KEY:
            return True
        return instance in self.tokens and apikey == self.tokens[instance]

    def build_app(self) -> FastAPI:
        """The FastAPI app serving Evolution's send routes."""
        app = FastAPI()

        def error(status: int, message: Any) -> JSONResponse:
            return JSONResponse(
                {"status": status, "error": "Error", "response": {"message": message}}, status_code=status
            )

        async def handle(endpoint: str, instance: str, request: Request) -> JSONResponse:
            loop = asyncio.get_running_loop()
            call = RecordedCall(
                endpoint, instance, request.headers.get("apikey"), await request.json(), loop.time()
            )
            self.calls.append(call)
            try:
                response = await respond(endpoint, call)
            finally:
                call.ended = loop.time()
            call.status = response.status_code
            return response

        async def respond(endpoint: str, call: RecordedCall) -> JSONResponse:
            if not self._authorized(call.instance, call.apikey):
                return error(401, "Unauthorized")
            if self.failures[endpoint]:
                status = self.failures[endpoint].popleft()
                return error(status, ["Error: Connection Closed" if status >= 500 else "Bad Request"])
            if endpoint == "sendText" and self.hang_next > 0:
                self.hang_next -= 1
                await self._released.wait()
            number = str(call.body.get("number", ""))
            digits = re.sub(r"\D", "", number.split("@", 1)[0])
            if digits in self.not_on_whatsapp:
                return error(400, [{"jid": f"{digits}@s.whatsapp.net", "exists": False, "number": number}])
            # Evolution blocks for `delay` ms ("composing…") before it answers.
            await asyncio.sleep(int(call.body.get("delay", 0)) / 1000)
            if endpoint == "sendPresence":
                return JSONResponse({"presence": call.body.get("presence")}, status_code=201)
            call.message_id = "3EB0" + uuid.uuid4().hex[:18].upper()
            return JSONResponse(
                {
                    "key": {"remoteJid": f"{digits}@s.whatsapp.net", "fromMe": True, "id": call.message_id},
                    "pushName": "Você",
                    "status": "PENDING",
                    "message": {"conversation": call.body.get("text")},
                    "messageType": "conversation",
                    "messageTimestamp": int(time.time()),
                    "instanceId": str(uuid.uuid4()),
                    "source": "web",
                },
                status_code=201,
            )

        @app.post("/message/sendText/{instance}")
        async def send_text(instance: str, request: Request) -> JSONResponse:
            return await handle("sendText", instance, request)

        @app.post("/chat/sendPresence/{instance}")
        async def send_presence(instance: str, request: Request) -> JSONResponse:
            return await handle("sendPresence", instance, request)

        return app
