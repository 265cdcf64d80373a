"""A tiny OpenAI-compatible chat-completions server for the generator's tests.

Served by `testkit.asgi.served` on a free port inside the test's event loop, so the real `openai` SDK
talks to it over a real socket. It records every request, its timing and how many were in
flight at once, and can be told to be slow or to fail.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response


@dataclass
class StubCall:
    """One chat-completion request the stub received."""

    body: dict[str, Any]
    headers: dict[str, str]
    started: float
    ended: float | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The request's chat messages."""
        messages: list[dict[str, Any]] = self.body["messages"]
        return messages

    @property
    def last_user_text(self) -> str:
        """The content of the last user message."""
        return str(next(m["content"] for m in reversed(self.messages) if m["role"] == "user"))


def echo_reply(body: dict[str, Any]) -> str:
    """A deterministic answer quoting the last user message."""
    last = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
    return f"Olá! Você disse: {last}"


@dataclass
class OpenAIStub:
    """The stub's behaviour (change it between requests) and what it observed."""

    latency_s: float = 0.0
    # When set, requests are answered with this HTTP status instead of a completion.
    fail_status: int | None = None
    # How many requests fail before it answers normally again (None: all of them).
    fail_times: int | None = None
    reply: Callable[[dict[str, Any]], str] = echo_reply
    # When set, every request is answered 200 with exactly these bytes (a broken model server).
    raw_body: bytes | None = None
    calls: list[StubCall] = field(default_factory=list)
    active: int = 0
    peak: int = 0
    # Where it is served (set by the fixture that serves it).
    url: str = ""
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def base_url(self) -> str:
        """What the SDK's `base_url` should be."""
        return f"{self.url}/v1"

    def _failing(self) -> bool:
        if self.fail_status is None:
            return False
        if self.fail_times is None:
            return True
        if self.fail_times <= 0:
            return False
        self.fail_times -= 1
        return True

    def app(self) -> FastAPI:
        """The ASGI app answering `POST /v1/chat/completions`."""
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> Response:
            body = await request.json()
            call = StubCall(body=body, headers=dict(request.headers), started=time.monotonic())
            self.calls.append(call)
            self.active += 1
            self.peak = max(self.peak, self.active)
            try:
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                if self._failing():
                    status = self.fail_status or 500
                    return JSONResponse(
                        {
                            "error": {
                                "message": f"stub failure {status}",
                                "type": "server_error",
                                "code": None,
                            }
                        },
                        status_code=status,
                    )
                if self.raw_body is not None:
                    return Response(self.raw_body, media_type="application/json")
                content = self.reply(body)
                return JSONResponse(
                    {
                        "id": f"chatcmpl-stub{next(self._ids)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "stub-model"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content, "refusal": None},
                                "finish_reason": "stop",
                                "logprobs": None,
                            }
                        ],
                        "usage": {
                            "prompt_tokens": 10,
                            "completion_tokens": max(1, len(content) // 4),
                            "total_tokens": 10 + max(1, len(content) // 4),
                        },
                    }
                )
            finally:
                self.active -= 1
                call.ended = time.monotonic()

        return app
