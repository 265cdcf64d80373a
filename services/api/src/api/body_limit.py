"""Refuses request bodies over the size limit with 413 before any route reads them.

PRODUCT §6 wants a body size limit on every route. A declared `Content-Length` over
the limit is answered at once; a body without one (chunked) is counted as it is read
and the read fails with 413 the moment it passes the limit, so no route ever buffers
more than the limit.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response


class BodySizeLimit:
    """ASGI middleware: at most `default_bytes` per request body, or the path's own limit."""

    def __init__(self, app: ASGIApp, *, default_bytes: int, by_path: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default_bytes = default_bytes
        self.by_path = dict(by_path or {})

    def limit_of(self, path: str) -> int:
        """The limit for a request path."""
        return self.by_path.get(path.rstrip("/") or "/", self.default_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_of(scope["path"])
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                declared = value.decode("latin-1").strip()
                if declared.isdigit() and int(declared) > limit:
                    await _too_large(limit)(scope, receive, send)
                    return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # A route reading the body sees 413 (FastAPI re-raises HTTP exceptions as they are).
                    raise HTTPException(413, f"the request body is over the limit of {limit} bytes")
            return message

        await self.app(scope, counting_receive, send)


def _too_large(limit: int) -> ASGIApp:
    response = error_response(
        413, "payload_too_large", f"the request body is over the limit of {limit} bytes"
    )
    response.headers["connection"] = "close"
    return response
