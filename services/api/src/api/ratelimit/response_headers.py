"""Adds the rate-limit headers decided for a request to whatever response it gets.

The decision is made in a route dependency (it needs the tenant and the route
template); this ASGI middleware puts its headers on the response, including
streams and error responses that a dependency cannot reach.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.ratelimit.limiter import Decision

SCOPE_KEY = "mirage.rate_limit"


class RateLimitHeaders:
    """ASGI middleware: a holder in the scope, filled by the dependency, read at response start."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        holder: list[Decision] = []
        scope[SCOPE_KEY] = holder

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and holder:
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    (name.lower().encode(), value.encode())
                    for name, value in holder[-1].headers().items()
                    if name.lower().encode() not in present
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def remember(scope: Scope, decision: Decision) -> None:
    """Record the request's decision for the middleware."""
    holder = scope.get(SCOPE_KEY)
    if isinstance(holder, list):
        holder.append(decision)
