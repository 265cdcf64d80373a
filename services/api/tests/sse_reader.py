"""A server-sent-events client for tests: reads a stream in the background and keeps what it got."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class SseEvent:
    """One dispatched event."""

    event: str
    data: str
    id: str | None
    received_at: float

    def json(self) -> Any:
        """The data parsed as JSON."""
        return json.loads(self.data)


@dataclass
class SseReader:
    """Reads `url` until stopped; `events` and `comments` grow as they arrive."""

    client: httpx.AsyncClient
    url: str
    headers: dict[str, str]
    events: list[SseEvent] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    status: int | None = None
    response_headers: httpx.Headers | None = None
    ended: bool = False
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start reading."""
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async with self.client.stream("GET", self.url, headers=self.headers) as response:
            self.status = response.status_code
            self.response_headers = response.headers
            if response.status_code != 200:
                await response.aread()
                self.ended = True
                return
            name, event_id = "message", None
            data: list[str] = []
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    self.comments.append(line)
                elif line == "":
                    if data:
                        self.events.append(SseEvent(name, "\n".join(data), event_id, time.monotonic()))
                    name, event_id, data = "message", None, []
                else:
                    key, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if key == "event":
                        name = value
                    elif key == "data":
                        data.append(value)
                    elif key == "id":
                        event_id = value
        self.ended = True

    def named(self, name: str) -> list[SseEvent]:
        """Events of one name, in arrival order."""
        return [event for event in self.events if event.event == name]

    async def stop(self) -> None:
        """Stop reading (closes the connection)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
