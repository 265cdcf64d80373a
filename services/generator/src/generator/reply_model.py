"""The models that write replies: an OpenAI-compatible server through the `openai` SDK,
or the offline generator when none is configured."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx2
import orjson
from openai import (
    APIConnectionError,
    APIStatusError,
    AsyncOpenAI,
    DefaultAioHttpClient,
    OpenAIError,
)
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import BaseModel, ConfigDict, ValidationError

from generator.fixed_texts import OFFLINE_MODEL, first_name, offline_reply
from generator.prompt import ChatMessage
from generator.settings import ModelEndpoint

# Sent as the bearer token to a base URL configured without a key (local servers ignore it;
# the SDK refuses to run without one).
KEYLESS_API_KEY = "no-key-configured"
# Status codes a later attempt may not see again (the SDK already retried them).
_TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})


@dataclass(frozen=True)
class ModelRequest:
    """What a model needs to write one reply."""

    chat: Sequence[ChatMessage]
    temperature: float
    # The persona's model; None means the configured default.
    model: str | None = None
    # The texts of the burst being answered and the person's display name (offline replies).
    burst_texts: tuple[str, ...] = ()
    contact_name: str | None = None


@dataclass(frozen=True)
class ModelAnswer:
    """A model's raw reply, before the persona's style is applied."""

    text: str
    model: str
    offline: bool
    latency_ms: int
    # The response's `usage`, when the server reported it.
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class ModelMetrics:
    """Latency and token use of the model calls (Prometheus, on the service's `/metrics`)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.seconds = Histogram(
            "mirage_generator_model_seconds",
            "Duration of one model call (the SDK's retries included), by model and outcome (ok, failed).",
            ["model", "outcome"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0),
            registry=self.registry,
        )
        self.tokens = Counter(
            "mirage_generator_model_tokens",
            "Tokens the model reported, by model and kind (prompt, completion).",
            ["model", "kind"],
            registry=self.registry,
        )

    def observe(self, model: str, seconds: float, answer: ModelAnswer | None) -> None:
        """Record one call: its duration, and the tokens of a successful one."""
        self.seconds.labels(model, "ok" if answer is not None else "failed").observe(seconds)
        if answer is None:
            return
        if answer.prompt_tokens:
            self.tokens.labels(model, "prompt").inc(answer.prompt_tokens)
        if answer.completion_tokens:
            self.tokens.labels(model, "completion").inc(answer.completion_tokens)


class ModelFailure(Exception):  # noqa: N818 - reads as what the model call reports
    """The model gave no usable answer, even after the SDK's own retries."""

    def __init__(self, message: str, *, model: str, retryable: bool) -> None:
        super().__init__(message)
        self.model = model
        # False for answers a retry cannot change (bad key, unknown model, refused request).
        self.retryable = retryable

    def __str__(self) -> str:
        return f"{self.model}: {super().__str__()}"


class ReplyModel(Protocol):
    """Writes the text of a reply."""

    async def answer(self, request: ModelRequest) -> ModelAnswer:
        """The model's reply to `request`; raises `ModelFailure` when there is none."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def completion_body(request: ModelRequest, model: str, max_tokens: int | None) -> dict[str, object]:
    """The JSON body of one chat-completion request."""
    body: dict[str, object] = {
        "model": model,
        "messages": [{"role": message.role, "content": message.content} for message in request.chat],
        "temperature": request.temperature,
        "n": 1,
    }
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return body


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    detail = text[0][:300] if text else ""
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


class _CompletionMessage(BaseModel):
    model_config = ConfigDict(frozen=True)
    content: str | None = None


class _CompletionChoice(BaseModel):
    model_config = ConfigDict(frozen=True)
    message: _CompletionMessage
    finish_reason: str | None = None


class _CompletionUsage(BaseModel):
    model_config = ConfigDict(frozen=True)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class _Completion(BaseModel):
    """The parts of an OpenAI chat completion a reply uses (other fields are ignored)."""

    model_config = ConfigDict(frozen=True)
    choices: list[_CompletionChoice]
    model: str | None = None
    usage: _CompletionUsage | None = None


class OpenAIReplyModel:
    """Chat completions from any OpenAI-compatible server, through one shared `AsyncOpenAI`.

    One client serves every concurrent request. Its pool keeps `max_connections` connections
    alive (HTTP/1.1 carries one request at a time per connection), so hundreds of
    conversations can wait on a slow model without opening and closing a connection each.
    """

    def __init__(
        self,
        endpoint: ModelEndpoint,
        client: AsyncOpenAI | None = None,
        metrics: ModelMetrics | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.metrics = metrics or ModelMetrics()
        self.client = client or AsyncOpenAI(
            api_key=endpoint.api_key or KEYLESS_API_KEY,
            base_url=endpoint.base_url,
            timeout=endpoint.timeout_s,
            max_retries=endpoint.max_retries,
            # The aiohttp transport: about twice the requests per CPU second of the default
            # httpx transport under hundreds of concurrent calls (docs/benchmarks.md).
            http_client=DefaultAioHttpClient(
                timeout=endpoint.timeout_s,
                limits=httpx2.Limits(
                    max_connections=endpoint.max_connections,
                    max_keepalive_connections=endpoint.max_connections,
                ),
            ),
        )

    async def answer(self, request: ModelRequest) -> ModelAnswer:
        """Ask the model; timeouts, connection errors and 5xx were already retried by the SDK."""
        model = request.model or self.endpoint.model
        started = time.monotonic()
        try:
            answer = await self._ask(request, model, started)
        except ModelFailure:
            self.metrics.observe(model, time.monotonic() - started, None)
            raise
        self.metrics.observe(model, time.monotonic() - started, answer)
        return answer

    async def _ask(self, request: ModelRequest, model: str, started: float) -> ModelAnswer:
        try:
            # `chat.completions.create` would first walk every message through the SDK's
            # params transform (checking each against all TypedDicts of the message union):
            # about 4 ms of CPU per request for a 13-message prompt, half of the SDK's cost,
            # and it changes nothing in plain text messages. `post` is the same request path
            # (auth, retries, timeouts, typed errors, a parsed `ChatCompletion`) without it.
            # The body comes back as bytes and is read by pydantic's Rust core into the few
            # fields a reply needs: the SDK's own `ChatCompletion` parsing walks every field in
            # Python (`construct_type`), about 5 % of the generator's CPU per message.
            # The body goes as bytes from orjson: given a dict, the SDK encodes it with the
            # standard library's `json` (about 6 % of the CPU of a call; docs/benchmarks.md).
            body = await self.client.post(
                "/chat/completions",
                cast_to=bytes,
                content=orjson.dumps(completion_body(request, model, self.endpoint.max_tokens)),
            )
        except APIConnectionError as error:  # includes timeouts
            raise ModelFailure(_describe(error), model=model, retryable=True) from error
        except APIStatusError as error:
            retryable = error.status_code >= 500 or error.status_code in _TRANSIENT_STATUSES
            raise ModelFailure(
                f"HTTP {error.status_code} {_describe(error)}", model=model, retryable=retryable
            ) from error
        except OpenAIError as error:  # a malformed response, among others
            raise ModelFailure(_describe(error), model=model, retryable=False) from error
        try:
            completion = _Completion.model_validate_json(body)
        except ValidationError as error:
            summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:3])
            raise ModelFailure(f"malformed completion: {summary}", model=model, retryable=False) from error
        latency_ms = round((time.monotonic() - started) * 1000)
        choice = completion.choices[0] if completion.choices else None
        content = choice.message.content if choice is not None else None
        if not content or not content.strip():
            reason = choice.finish_reason if choice is not None else "no choices"
            raise ModelFailure(f"empty answer (finish_reason={reason})", model=model, retryable=True)
        usage = completion.usage
        return ModelAnswer(
            text=content,
            model=completion.model or model,
            offline=False,
            latency_ms=latency_ms,
            prompt_tokens=usage.prompt_tokens if usage is not None else None,
            completion_tokens=usage.completion_tokens if usage is not None else None,
        )

    async def close(self) -> None:
        """Close the shared HTTP connection pool."""
        await self.client.close()


class OfflineReplyModel:
    """The clearly labelled stand-in used when no model is configured: deterministic pt-BR."""

    async def answer(self, request: ModelRequest) -> ModelAnswer:
        """A reply that says it is automatic and offline, quoting what the person wrote."""
        text = offline_reply(request.burst_texts, first_name(request.contact_name))
        return ModelAnswer(text=text, model=OFFLINE_MODEL, offline=True, latency_ms=0)

    async def close(self) -> None:
        """Nothing to release."""


def build_reply_model(endpoint: ModelEndpoint | None, metrics: ModelMetrics | None = None) -> ReplyModel:
    """The OpenAI-compatible model for `endpoint`, or the offline generator for None."""
    if endpoint is None:
        return OfflineReplyModel()
    return OpenAIReplyModel(endpoint, metrics=metrics)
