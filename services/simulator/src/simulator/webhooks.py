"""Webhook delivery as Evolution 2.3 does it: envelope, by-events URL, headers/JWT, retries."""

from __future__ import annotations

import asyncio
import math
import random
import time
import warnings
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import jwt
import orjson
import structlog
from jwt.warnings import InsecureKeyLengthWarning

from simulator.messages import evolution_date_time
from simulator.settings import SimulatorSettings
from simulator.state import DeliveryRecord, Instance, SimulatorState, WebhookConfig, kebab

_log = structlog.get_logger("simulator.webhooks")

JWT_HEADER_KEY = "jwt_key"
JWT_LIFETIME_S = 600


def webhook_jwt(key: str, issued_at: int | None = None) -> str:
    """The Bearer token Evolution derives from a `jwt_key` header (HS256, 10 minutes)."""
    iat = issued_at if issued_at is not None else int(time.time())
    payload = {"iat": iat, "exp": iat + JWT_LIFETIME_S, "app": "evolution", "action": "webhook"}
    # Evolution signs with whatever key it is given; PyJWT would warn about short ones.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(payload, key, algorithm="HS256")


class _TokensPerSecond:
    """The token of each key for the current second: within one second Evolution sends the same
    token (its `iat` has second resolution), and signing once saves the simulator's CPU."""

    def __init__(self) -> None:
        self._second = 0
        self._tokens: dict[str, str] = {}

    def token(self, key: str) -> str:
        second = int(time.time())
        if second != self._second:
            self._second, self._tokens = second, {}
        token = self._tokens.get(key)
        if token is None:
            token = self._tokens[key] = webhook_jwt(key, second)
        return token


def _header_value(value: Any) -> str:
    # axios stringifies header values: numbers and booleans as JavaScript prints them.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def _parse_body(content: bytes) -> Any:
    if not content:
        return ""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return content.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Outgoing:
    """One delivery, frozen when the event happens (retries re-POST these exact bytes)."""

    instance: str
    event: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class DeliveryResult:
    """What the first (or only) attempt of a delivery produced.

    `outcome`: delivered (2xx), rejected (a non-retryable status), retrying (a
    retryable failure; retries continue in the background), failed, dropped (fault
    injection), filtered (the instance's events filter), no_webhook.
    """

    status: int | None
    body: Any
    outcome: str
    attempts: int = 0
    error: str | None = None

    def control_view(self) -> dict[str, Any]:
        """The `/_sim/` answer: `{"status", "body"}` plus the outcome (and error)."""
        view: dict[str, Any] = {"status": self.status, "body": self.body, "outcome": self.outcome}
        if self.error is not None:
            view["error"] = self.error
        return view


class WebhookDispatcher:
    """POSTs events to instance webhooks through one pooled aiohttp session.

    aiohttp directly, not httpx: the simulator shares the machine with the Mirage services it
    drives, and every reply costs it two webhook deliveries (the echo and the delivery ack).
    """

    def __init__(self, settings: SimulatorSettings, state: SimulatorState) -> None:
        self._settings = settings
        self._delivery = settings.webhook
        self._state = state
        self._server_url = settings.resolved_server_url()
        self._client: aiohttp.ClientSession | None = None
        self._tokens = _TokensPerSecond()
        self._slots = asyncio.Semaphore(self._delivery.max_concurrent)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._random = random.Random()  # noqa: S311 - retry jitter, not cryptography

    async def open(self) -> None:
        """Open the shared HTTP client."""
        self._client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._delivery.max_concurrent),
            timeout=aiohttp.ClientTimeout(total=self._delivery.timeout_s),
            # Cookies are not part of Evolution's deliveries.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        """Cancel pending deliveries and close the client."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
            self._client = None

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` in the background, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("simulator_background_task_failed", error=repr(task.exception()))

    @property
    def pending(self) -> int:
        """Background deliveries still running (retries included)."""
        return len(self._tasks)

    def envelope(self, instance: Instance, event: str, data: Any) -> dict[str, Any]:
        """The body Evolution POSTs; `sender` is left out until the first login."""
        body: dict[str, Any] = {
            "event": event,
            "instance": instance.name,
            "data": data,
            "destination": instance.webhook.url if instance.webhook else None,
            "date_time": evolution_date_time(),
        }
        if instance.owner_jid:
            body["sender"] = instance.owner_jid
        body["server_url"] = self._server_url
        body["apikey"] = instance.token if self._settings.expose_instance_token else None
        return body

    def target(self, hook: WebhookConfig, event: str | None) -> tuple[str, dict[str, str]]:
        """The URL (with the by-events suffix) and the headers of one delivery."""
        url = f"{hook.url}/{kebab(event)}" if hook.by_events and event else hook.url
        headers = {"Content-Type": "application/json", "User-Agent": self._delivery.user_agent}
        for name, value in hook.headers.items():
            if name == JWT_HEADER_KEY:
                headers["Authorization"] = f"Bearer {self._tokens.token(_header_value(value))}"
            else:
                headers[name] = _header_value(value)
        return url, headers

    def prepare(self, instance: Instance, event: str, data: Any) -> Outgoing | DeliveryResult:
        """Freeze a delivery now (envelope, `date_time`, URL, headers), or say why there is none."""
        hook = instance.webhook
        if hook is None or not hook.deliverable():
            return DeliveryResult(status=None, body=None, outcome="no_webhook")
        if not hook.wants(event):
            return DeliveryResult(status=None, body=None, outcome="filtered")
        url, headers = self.target(hook, event)
        body = orjson.dumps(self.envelope(instance, event, data))
        return Outgoing(instance=instance.name, event=event, url=url, headers=headers, body=body)

    def emit(self, instance: Instance, event: str, data: Any) -> None:
        """Deliver one event in the background (with retries)."""
        self.emit_many(instance, [(event, data)])

    def emit_many(self, instance: Instance, events: Sequence[tuple[str, Any]]) -> None:
        """Deliver events in the background, in order (each first attempt before the next).

        The envelopes are built now, so they describe the instance as it is now.
        """
        ready = [
            prepared
            for event, data in events
            if isinstance(prepared := self.prepare(instance, event, data), Outgoing)
        ]
        if ready:
            self.spawn(self._send_in_order(ready))

    async def _send_in_order(self, outgoing: list[Outgoing]) -> None:
        for item in outgoing:
            await self.send(item)

    async def deliver_event(self, instance: Instance, event: str, data: Any) -> DeliveryResult:
        """Deliver now: the first attempt is awaited, retries continue in the background."""
        return await self.send(self.prepare(instance, event, data))

    async def forward_raw(self, instance: Instance, event: str | None, body: bytes) -> DeliveryResult:
        """POST `body` as given to the instance's webhook, once (no retries)."""
        hook = instance.webhook
        if hook is None or not hook.deliverable():
            return DeliveryResult(status=None, body=None, outcome="no_webhook")
        url, headers = self.target(hook, event)
        outgoing = Outgoing(instance=instance.name, event=event or "", url=url, headers=headers, body=body)
        return await self.send(outgoing, retry=False)

    async def send(self, outgoing: Outgoing | DeliveryResult, *, retry: bool = True) -> DeliveryResult:
        """Make the first attempt of a prepared delivery; retries continue in the background."""
        if isinstance(outgoing, DeliveryResult):
            return outgoing
        record = DeliveryRecord(instance=outgoing.instance, event=outgoing.event, url=outgoing.url)
        self._state.deliveries.append(record)
        if self._state.faults.take_drop():
            record.outcome = "dropped"
            return DeliveryResult(status=None, body=None, outcome="dropped")
        result = await self._attempt(record, outgoing)
        if result.outcome != "retrying":
            return result
        if retry and record.attempts < self._delivery.retry_max_attempts:
            self.spawn(self._retry(record, outgoing))
            return result
        record.outcome = "failed"
        return replace(result, outcome="failed")

    async def _retry(self, record: DeliveryRecord, outgoing: Outgoing) -> None:
        # The identical body (same `date_time`) is re-POSTed, as Evolution does.
        while record.attempts < self._delivery.retry_max_attempts:
            await asyncio.sleep(self.backoff_s(record.attempts))
            result = await self._attempt(record, outgoing)
            if result.outcome != "retrying":
                return
        record.outcome = "failed"
        _log.warning(
            "simulator_webhook_gave_up",
            instance=record.instance,
            webhook_event=record.event,
            url=record.url,
            attempts=record.attempts,
            status=record.status,
            error=record.error,
        )

    def backoff_s(self, failed_attempts: int) -> float:
        """Seconds before the next attempt: `initial·2^(n-1)`, capped, ±jitter, ≥ initial."""
        initial = self._delivery.retry_initial_delay_ms / 1000
        cap = self._delivery.retry_max_delay_ms / 1000
        base = min(math.ldexp(initial, failed_attempts - 1), cap)
        jitter = base * self._delivery.retry_jitter * self._random.uniform(-1.0, 1.0)
        return max(initial, base + jitter)

    async def _attempt(self, record: DeliveryRecord, outgoing: Outgoing) -> DeliveryResult:
        latency_ms = self._state.faults.webhook.latency_ms
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        if self._client is None:
            raise RuntimeError("the webhook client opens at start-up")
        try:
            async with self._slots:
                record.attempts += 1
                # axios follows redirects; so does Evolution's delivery (aiohttp's default too).
                async with self._client.post(
                    outgoing.url, data=outgoing.body, headers=outgoing.headers
                ) as response:
                    content = await response.read()
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as error:
            # Timeouts and connection errors are retried, like any non-listed failure.
            record.status = None
            record.error = f"{type(error).__name__}: {error}"
            record.outcome = "retrying"
            return DeliveryResult(None, None, "retrying", record.attempts, record.error)
        except (aiohttp.ClientError, aiohttp.InvalidURL, ValueError) as error:
            record.status = None
            record.error = f"{type(error).__name__}: {error}"
            record.outcome = "failed"
            return DeliveryResult(None, None, "failed", record.attempts, record.error)
        status = response.status
        record.status = status
        record.error = None
        if 200 <= status < 300:
            record.outcome = "delivered"
        elif status in self._delivery.non_retryable_statuses:
            record.outcome = "rejected"
        else:
            record.outcome = "retrying"
        return DeliveryResult(status, _parse_body(content), record.outcome, record.attempts)
