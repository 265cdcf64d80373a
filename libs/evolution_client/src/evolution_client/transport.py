"""The HTTP transport under the Evolution client (and the simulator's webhook delivery):
httpx's API on aiohttp's connection pool.

httpx's own pool scans every connection on every request, which costs a
sender with a hundred sends in flight (each blocked for its typing delay) about
ten times the CPU of aiohttp's pool for the same requests (docs/benchmarks.md).

The exception mapping of `httpx_aiohttp` is too coarse for a sender that must
never send twice: it reports a server that dropped the connection *after* the
request went out as `ConnectTimeout`, which reads as "never sent, safe to
retry". This transport maps by the aiohttp cause instead: only a failure to
connect (or to get a connection in time) is "never sent"; a timeout while
waiting for the answer, or a dropped connection, is "outcome unknown".
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport


def _precise(error: httpx.TransportError) -> httpx.TransportError:
    cause = error.__cause__
    request = error.request if _has_request(error) else None
    message = str(error)
    if isinstance(cause, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message, request=request)
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(cause, aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(cause, aiohttp.ClientConnectionError):
        # Dropped or reset after connecting: the request may have been processed.
        return httpx.ReadError(message, request=request)
    return error


def _has_request(error: httpx.TransportError) -> bool:
    try:
        error.request  # noqa: B018 - the property raises when no request is attached
    except RuntimeError:
        return False
    return True


class PreciseAiohttpTransport(AiohttpTransport):
    """`AiohttpTransport` whose errors say whether the request may have reached Evolution."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request; transport errors are re-raised with a precise httpx type."""
        try:
            return await super().handle_async_request(request)
        except httpx.TransportError as error:
            precise = _precise(error)
            if precise is error:
                raise
            raise precise from error.__cause__
