"""The typed async client of the Evolution API endpoints Mirage uses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
import orjson
from pydantic import BaseModel, SecretStr, ValidationError

from evolution_client.errors import (
    EvolutionError,
    EvolutionForbiddenError,
    EvolutionNotFoundError,
    EvolutionOutcomeUnknownError,
    EvolutionRateLimitedError,
    EvolutionRejectedError,
    EvolutionReplyError,
    EvolutionServerError,
    EvolutionUnauthorizedError,
    EvolutionUnavailableError,
    EvolutionUnreachableError,
    NumberNotOnWhatsAppError,
    describe_message,
    find_unknown_number,
)
from evolution_client.models import (
    ConnectionState,
    CreatedInstance,
    InstanceOptions,
    InstanceRecord,
    Integration,
    OperationResult,
    Presence,
    PresenceResult,
    QrCode,
    SentMessage,
    ServerInfo,
    WebhookConfig,
    WebhookRecord,
    _ConnectionStateEnvelope,
)
from evolution_client.settings import EvolutionSettings
from evolution_client.transport import PreciseAiohttpTransport

ModelT = TypeVar("ModelT", bound=BaseModel)

# Transport failures that happen before a single byte of the request left: repeating is safe.
_NEVER_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)

# Answers that mean "not now, nothing was done": 408 from a proxy, 429, and 5xx except 504.
_RETRYABLE_STATUSES = frozenset({408, 429})
# A gateway timeout means a proxy forwarded the request and gave up waiting: Evolution may
# still have carried it out, so for a send it is an unknown outcome, not a retryable error.
_GATEWAY_TIMEOUT = 504

Token = str | SecretStr | None

# Marks "validate the whole answer" (as opposed to one element of it).
_WHOLE: Any = object()


@dataclass(frozen=True)
class _Answer:
    """A decoded success answer and the call it came from."""

    status: int
    body: Any
    method: str
    path: str


def _segment(name: str) -> str:
    """An instance name as one URL path segment."""
    return quote(name, safe="")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare enough to fall back to the caller's backoff


# Sent with every call, in place of the `python-httpx/…` an `httpx.AsyncClient` would send.
_USER_AGENT = "mirage-evolution-client"

# Paths are per instance and endpoint: a few per instance.
_MAX_CACHED_URLS = 10_000


class EvolutionClient:
    """Calls Evolution API through one shared, pooled httpx transport (aiohttp's pool).

    Each call is an `httpx.Request` handed straight to the transport, not sent through an
    `httpx.AsyncClient`: the client's layers (a cookie jar updated from every response, auth
    and redirect handling, a second merge of URL and headers) are features Evolution's API
    does not use, and they cost as much CPU as the transport itself (about 0.15 ms of the
    0.34 ms a `sendText` took: docs/benchmarks.md). Redirects are not followed, as before.

    Every method raises an `EvolutionError` subclass on failure (see
    `evolution_client.errors`); nothing else escapes except cancellation.
    The `apikey` header carries the global key, or `token` when a call gives
    an instance token. Neither is ever logged or put in an error.
    """

    def __init__(
        self,
        settings: EvolutionSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._transport = transport or PreciseAiohttpTransport(limits=settings.limits())
        self._base_url = settings.base_url.rstrip("/")
        # Absolute URL of each path called, parsed once (parsing it on every request cost
        # about 3 % of the sender's CPU per send).
        self._urls: dict[str, httpx.URL] = {}

    def _url(self, path: str) -> httpx.URL:
        url = self._urls.get(path)
        if url is None:
            if len(self._urls) >= _MAX_CACHED_URLS:
                self._urls.clear()
            url = self._urls[path] = httpx.URL(self._base_url + path)
        return url

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- server ------------------------------------------------------------------

    async def server_info(self) -> ServerInfo:
        """`GET /` (no auth): version and client name; a poor liveness probe (evolution-api.md §0)."""
        answer = await self._call("GET", "/", authenticate=False)
        return self._parse(ServerInfo, answer)

    # --- instances ---------------------------------------------------------------

    async def create_instance(
        self,
        instance: str,
        *,
        integration: Integration = "WHATSAPP-BAILEYS",
        token: str | SecretStr | None = None,
        qrcode: bool = True,
        number: str | None = None,
        webhook: WebhookConfig | None = None,
        options: InstanceOptions | None = None,
    ) -> CreatedInstance:
        """`POST /instance/create` with the global key; `token` chooses the instance token."""
        body: dict[str, Any] = {"instanceName": instance, "integration": integration, "qrcode": qrcode}
        if token is not None:
            body["token"] = token.get_secret_value() if isinstance(token, SecretStr) else token
        if number is not None:
            body["number"] = number
        if webhook is not None:
            # The flat `webhookUrl`/`webhookByEvents` fields are ignored by 2.x: nested only.
            body["webhook"] = webhook.create_body()
        if options is not None:
            body.update(options.model_dump(by_alias=True, exclude_none=True))
        path = "/instance/create"
        answer = await self._call("POST", path, json_body=body)
        return self._parse(CreatedInstance, answer)

    async def connect(
        self, instance: str, *, number: str | None = None, token: Token = None
    ) -> QrCode | ConnectionState:
        """`GET /instance/connect/{instance}`: a QR (a pairing code with `number`), or the state if open."""
        path = f"/instance/connect/{_segment(instance)}"
        params = {"number": number} if number else None
        answer = await self._call("GET", path, params=params, token=token)
        if isinstance(answer.body, dict) and isinstance(answer.body.get("instance"), dict):
            return self._parse(_ConnectionStateEnvelope, answer).instance
        return self._parse(QrCode, answer)

    async def connection_state(self, instance: str, *, token: Token = None) -> ConnectionState:
        """`GET /instance/connectionState/{instance}`: `open`, `connecting` or `close`."""
        path = f"/instance/connectionState/{_segment(instance)}"
        answer = await self._call("GET", path, token=token)
        return self._parse(_ConnectionStateEnvelope, answer).instance

    async def logout(self, instance: str, *, token: Token = None) -> OperationResult:
        """`DELETE /instance/logout/{instance}` (400 when it is already closed)."""
        path = f"/instance/logout/{_segment(instance)}"
        answer = await self._call("DELETE", path, token=token)
        return self._parse(OperationResult, answer)

    async def delete_instance(self, instance: str, *, token: Token = None) -> OperationResult:
        """`DELETE /instance/delete/{instance}` (Evolution logs it out first when connected)."""
        path = f"/instance/delete/{_segment(instance)}"
        answer = await self._call("DELETE", path, token=token)
        return self._parse(OperationResult, answer)

    async def fetch_instances(
        self,
        *,
        instance_name: str | None = None,
        instance_id: str | None = None,
        number: str | None = None,
        token: Token = None,
    ) -> list[InstanceRecord]:
        """`GET /instance/fetchInstances` (an instance token sees only its own instances)."""
        path = "/instance/fetchInstances"
        params = {
            key: value
            for key, value in (
                ("instanceName", instance_name),
                ("instanceId", instance_id),
                ("number", number),
            )
            if value
        }
        answer = await self._call("GET", path, params=params or None, token=token)
        if not isinstance(answer.body, list):
            raise EvolutionOutcomeUnknownError(
                answer.status, "fetchInstances did not answer a list", answer.body, method="GET", path=path
            )
        return [self._parse(InstanceRecord, answer, row) for row in answer.body]

    async def set_webhook(
        self, instance: str, webhook: WebhookConfig, *, token: Token = None
    ) -> WebhookRecord:
        """`POST /webhook/set/{instance}` with the 2.x `{"webhook": {...}}` body."""
        path = f"/webhook/set/{_segment(instance)}"
        answer = await self._call("POST", path, json_body=webhook.set_body(), token=token)
        return self._parse(WebhookRecord, answer)

    # --- messages ----------------------------------------------------------------

    async def send_text(
        self,
        instance: str,
        *,
        number: str,
        text: str,
        delay_ms: int = 0,
        link_preview: bool | None = None,
        quoted_message_id: str | None = None,
        token: Token = None,
    ) -> SentMessage:
        """`POST /message/sendText/{instance}`; Evolution shows "composing" for `delay_ms` first.

        Not idempotent: an `EvolutionOutcomeUnknownError` means the text may have been sent.
        """
        path = f"/message/sendText/{_segment(instance)}"
        body: dict[str, Any] = {"number": number, "text": text}
        if delay_ms > 0:
            body["delay"] = int(delay_ms)
        if link_preview is not None:
            body["linkPreview"] = link_preview
        if quoted_message_id is not None:
            body["quoted"] = {"key": {"id": quoted_message_id}}
        answer = await self._call(
            "POST", path, json_body=body, token=token, extra_read_s=max(0, delay_ms) / 1000
        )
        return self._parse(SentMessage, answer)

    async def send_presence(
        self,
        instance: str,
        *,
        number: str,
        presence: Presence = "composing",
        delay_ms: int = 0,
        token: Token = None,
    ) -> PresenceResult:
        """`POST /chat/sendPresence/{instance}`; Evolution holds the presence for `delay_ms` first."""
        path = f"/chat/sendPresence/{_segment(instance)}"
        body = {"number": number, "presence": presence, "delay": max(0, int(delay_ms))}
        answer = await self._call(
            "POST", path, json_body=body, token=token, extra_read_s=max(0, delay_ms) / 1000
        )
        return self._parse(PresenceResult, answer)

    # --- plumbing ----------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        token: Token = None,
        authenticate: bool = True,
        extra_read_s: float = 0.0,
    ) -> _Answer:
        headers = {"accept": "application/json", "user-agent": _USER_AGENT}
        if authenticate:
            key = token if token is not None else self.settings.api_key
            headers["apikey"] = key.get_secret_value() if isinstance(key, SecretStr) else key
        content: bytes | None = None
        if json_body is not None:
            headers["content-type"] = "application/json"
            content = orjson.dumps(json_body)
        request = httpx.Request(
            method,
            self._url(path),
            params=params,
            headers=headers,
            content=content,
            extensions={"timeout": self.settings.timeout(extra_read_s=extra_read_s).as_dict()},
        )
        try:
            response = await self._transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        except _NEVER_SENT as error:
            raise EvolutionUnreachableError(
                None, f"{type(error).__name__}: {error}".rstrip(": "), method=method, path=path
            ) from error
        except httpx.TransportError as error:
            # Read/write timeouts, resets and protocol errors after the request went out.
            raise EvolutionOutcomeUnknownError(
                None, f"{type(error).__name__}: {error}".rstrip(": "), method=method, path=path
            ) from error
        return _Answer(response.status_code, self._decode(response, method, path), method, path)

    def _decode(self, response: httpx.Response, method: str, path: str) -> Any:
        status = response.status_code
        try:
            body: Any = orjson.loads(response.content) if response.content else None
            decoded = True
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = response.text[:2000]
            decoded = False
        if status >= 400:
            raise self._error_for(status, body, response, method, path)
        if not decoded:
            raise EvolutionOutcomeUnknownError(
                status, "the success answer is not JSON", body, method=method, path=path
            )
        if 200 <= status < 300 and isinstance(body, dict) and body.get("error") is True:
            raise EvolutionReplyError(
                status,
                describe_message(body, "Evolution answered error: true"),
                body,
                method=method,
                path=path,
            )
        if not 200 <= status < 300:
            raise EvolutionOutcomeUnknownError(
                status, "unexpected HTTP status", body, method=method, path=path
            )
        return body

    @staticmethod
    def _error_for(
        status: int, body: Any, response: httpx.Response, method: str, path: str
    ) -> EvolutionError:
        message = describe_message(body, response.reason_phrase or f"HTTP {status}")
        if status == 400:
            unknown = find_unknown_number(body)
            if unknown is not None:
                return NumberNotOnWhatsAppError(
                    status,
                    f"not on WhatsApp: {unknown.get('number') or unknown.get('jid') or '?'}",
                    body,
                    method=method,
                    path=path,
                    number=unknown.get("number"),
                    jid=unknown.get("jid"),
                )
        if status == 401:
            return EvolutionUnauthorizedError(status, message, body, method=method, path=path)
        if status == 403:
            return EvolutionForbiddenError(status, message, body, method=method, path=path)
        if status == 404:
            return EvolutionNotFoundError(status, message, body, method=method, path=path)
        if status == 429:
            return EvolutionRateLimitedError(
                status, message, body, method=method, path=path, retry_after_s=_retry_after(response)
            )
        if status == _GATEWAY_TIMEOUT:
            return EvolutionOutcomeUnknownError(status, message, body, method=method, path=path)
        if status >= 500:
            return EvolutionServerError(
                status, message, body, method=method, path=path, retry_after_s=_retry_after(response)
            )
        if status in _RETRYABLE_STATUSES:
            return EvolutionUnavailableError(
                status, message, body, method=method, path=path, retry_after_s=_retry_after(response)
            )
        return EvolutionRejectedError(status, message, body, method=method, path=path)

    @staticmethod
    def _parse(model: type[ModelT], answer: _Answer, part: Any = _WHOLE) -> ModelT:
        body = answer.body if part is _WHOLE else part
        try:
            return model.model_validate(body)
        except ValidationError as error:
            # The call succeeded but its answer is not what Evolution documents: whatever
            # it did, it did; the caller cannot know the details.
            raise EvolutionOutcomeUnknownError(
                answer.status,
                f"unexpected answer shape ({error.error_count()} problem(s)): {error.errors()[0]['msg']}",
                body,
                method=answer.method,
                path=answer.path,
            ) from error
