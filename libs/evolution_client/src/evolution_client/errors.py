"""What can go wrong when calling Evolution API, sorted by what the caller may do next.

Two flags on every error drive the caller's decision:

- `retryable`: repeating the same request may succeed, and the failed request
  certainly had no effect (a 5xx or 429 answer, or a connection that was never
  established);
- `outcome_unknown`: the request may have been carried out although no usable
  answer came back (a timeout or a dropped connection after the request was
  written, a gateway timeout, an undecodable success). Repeating a send then
  risks sending twice.

A refused request (4xx, or Evolution's HTTP 200 `{"error": true}`) is neither:
repeating it cannot help.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar


class EvolutionError(Exception):
    """A call to Evolution API that did not produce the expected result."""

    retryable: ClassVar[bool] = False
    outcome_unknown: ClassVar[bool] = False

    def __init__(
        self,
        status: int | None,
        message: str,
        body: Any = None,
        *,
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body
        self.method = method
        self.path = path

    def __str__(self) -> str:
        where = f"{self.method} {self.path}".strip()
        status = f"HTTP {self.status}" if self.status is not None else "no HTTP answer"
        return f"{status}{' from ' + where if where else ''}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"


class EvolutionRejectedError(EvolutionError):
    """Evolution refused the request (4xx, or HTTP 200 with `error: true`); do not repeat it."""


class EvolutionUnauthorizedError(EvolutionRejectedError):
    """401: the global key or the instance token is wrong or missing."""


class EvolutionForbiddenError(EvolutionRejectedError):
    """403: for example an instance name that is already in use."""


class EvolutionNotFoundError(EvolutionRejectedError):
    """404: the instance (or the route) does not exist."""


class NumberNotOnWhatsAppError(EvolutionRejectedError):
    """400 with `[{jid, exists: false, number}]`: the recipient has no WhatsApp account."""

    def __init__(
        self,
        status: int | None,
        message: str,
        body: Any = None,
        *,
        method: str = "",
        path: str = "",
        number: str | None = None,
        jid: str | None = None,
    ) -> None:
        super().__init__(status, message, body, method=method, path=path)
        self.number = number
        self.jid = jid


class EvolutionReplyError(EvolutionRejectedError):
    """HTTP 200 carrying `{"error": true, "message": …}` (how `connect`/`restart` report failures)."""


class EvolutionUnavailableError(EvolutionError):
    """Evolution answered but could not serve now (5xx, 429, 408); the request had no effect."""

    retryable = True

    def __init__(
        self,
        status: int | None,
        message: str,
        body: Any = None,
        *,
        method: str = "",
        path: str = "",
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(status, message, body, method=method, path=path)
        # Seconds the server asked us to wait (`Retry-After`), when it said.
        self.retry_after_s = retry_after_s


class EvolutionServerError(EvolutionUnavailableError):
    """5xx (other than a gateway timeout)."""


class EvolutionRateLimitedError(EvolutionUnavailableError):
    """429 Too Many Requests (from Evolution or a proxy in front of it)."""


class EvolutionUnreachableError(EvolutionError):
    """The request never reached Evolution (no connection could be made): safe to repeat."""

    retryable = True


class EvolutionOutcomeUnknownError(EvolutionError):
    """The request may have been carried out, but no usable answer came back."""

    outcome_unknown = True


def describe_message(body: Any, fallback: str) -> str:
    """One readable line from Evolution's error body `{status, error, response:{message}}`."""
    if isinstance(body, dict):
        response = body.get("response")
        if isinstance(response, dict) and "message" in response:
            return _flatten(response["message"]) or fallback
        if "message" in body:
            return _flatten(body["message"]) or fallback
        if isinstance(body.get("error"), str):
            return str(body["error"])
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return fallback


def _flatten(message: Any) -> str:
    # Evolution nests JSON-schema problems in arrays of arrays and reports unknown
    # numbers as objects; one line of text is what logs and events need.
    if isinstance(message, str):
        return message
    if isinstance(message, list):
        return "; ".join(part for part in (_flatten(item) for item in message) if part)
    if isinstance(message, dict):
        return json.dumps(message, ensure_ascii=False, sort_keys=True)
    return "" if message is None else str(message)


def find_unknown_number(body: Any) -> dict[str, Any] | None:
    """The `{jid, exists: false, number}` entry of a 400 body, if there is one."""
    if isinstance(body, dict):
        response = body.get("response")
        candidates: Any = response.get("message") if isinstance(response, dict) else body.get("message")
    else:
        candidates = body
    stack = [candidates]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict) and item.get("exists") is False:
            return item
    return None
