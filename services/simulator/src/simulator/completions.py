"""An OpenAI-compatible chat completions endpoint with deterministic Portuguese replies."""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from simulator.media import description_in_data_url
from simulator.messages import iso_utc, now_utc
from simulator.settings import SimulatorSettings
from simulator.state import SimulatorState
from simulator.wire import JsonResponse

QUOTE_LIMIT = 200
_CHARS_PER_TOKEN = 4
_FINGERPRINT = "fp_mirage_sim"


def _openai_error(status: int, message: str, kind: str, param: str | None = None) -> JsonResponse:
    return JsonResponse(
        {"error": {"message": message, "type": kind, "param": param, "code": None}},
        status_code=status,
    )


def estimate_tokens(text: str) -> int:
    """A rough token count (4 characters a token), never zero for non-empty text."""
    return math.ceil(len(text) / _CHARS_PER_TOKEN) if text else 0


def content_text(content: Any) -> str:
    """The text of a message `content`: a string or a list of `{type:"text", text}` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def image_descriptions(content: Any) -> list[str]:
    """What the simulated images among a message's `image_url` parts show."""
    if not isinstance(content, list):
        return []
    found = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "image_url":
            continue
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if isinstance(url, str) and (description := description_in_data_url(url)) is not None:
            found.append(description)
    return found


def deterministic_reply(messages: list[dict[str, Any]]) -> str:
    """`Olá! Você disse: «…». Como posso ajudar?` quoting the last user message.

    A last user message with a simulated image (vision) is answered with what the image
    shows, word for word, so a caller asking for a description gets the one it injected.
    """
    last_content = next(
        (item.get("content") for item in reversed(messages) if item.get("role") == "user"), None
    )
    described = image_descriptions(last_content)
    if described:
        return " ".join(described)
    last_user = next(
        (content_text(item.get("content")) for item in reversed(messages) if item.get("role") == "user"),
        "",
    ).strip()
    if not last_user:
        return "Olá! Como posso ajudar?"
    quoted = last_user[:QUOTE_LIMIT].rstrip()
    return f"Olá! Você disse: «{quoted}». Como posso ajudar?"


def _validate(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array."
    for index, item in enumerate(messages):
        if not isinstance(item, dict) or not isinstance(item.get("role"), str):
            return f"messages[{index}] must be an object with a string 'role'."
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            return f"'{name}' must be a positive integer."
    if "model" in body and not isinstance(body["model"], str):
        return "'model' must be a string."
    return None


def completions_router(settings: SimulatorSettings, state: SimulatorState) -> APIRouter:
    """`POST /v1/chat/completions` and `GET /v1/models` (any Bearer token, or none)."""
    router = APIRouter(prefix="/v1", tags=["openai"])
    created = int(time.time())

    def model_object(model_id: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": created, "owned_by": "mirage-simulator"}

    @router.get("/models")
    async def models() -> JsonResponse:
        """The one model the simulator serves (any name is accepted in requests)."""
        return JsonResponse({"object": "list", "data": [model_object(settings.completion_model)]})

    @router.get("/models/{model}")
    async def model(model: str) -> JsonResponse:
        """Any model name resolves: the simulator answers for all of them."""
        return JsonResponse(model_object(model))

    @router.post("/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> JsonResponse | StreamingResponse:
        """A ChatCompletion (or SSE chunks with `stream: true`) with a deterministic reply."""
        raw = await request.body()
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _openai_error(400, "We could not parse the JSON body.", "invalid_request_error")
        problem = _validate(body)
        if problem is not None:
            return _openai_error(400, problem, "invalid_request_error")

        faults = state.faults
        failure = faults.take_failure("completions")
        latency = settings.completion_latency_ms / 1000 + faults.latency_s("completions")
        if latency > 0:
            await asyncio.sleep(latency)
        if failure is not None:
            kind = "server_error" if failure.status >= 500 else "invalid_request_error"
            return _openai_error(failure.status, failure.message, kind)

        messages: list[dict[str, Any]] = body["messages"]
        model_name: str = body.get("model") or settings.completion_model
        reply = deterministic_reply(messages)
        finish_reason = "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if limit is not None and estimate_tokens(reply) > limit:
            reply = reply[: limit * _CHARS_PER_TOKEN]
            finish_reason = "length"
        completion_id = "chatcmpl-" + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")
        created_at = int(time.time())
        prompt_tokens = sum(estimate_tokens(content_text(item.get("content"))) for item in messages)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": estimate_tokens(reply),
            "total_tokens": prompt_tokens + estimate_tokens(reply),
        }
        stream = body.get("stream") is True
        state.completions.append(
            {
                "id": completion_id,
                "model": model_name,
                "messages": messages,
                "max_tokens": limit,
                "stream": stream,
                "reply": reply,
                "at": iso_utc(now_utc()),
            }
        )
        choices = body.get("n") or 1
        if stream:
            include_usage = isinstance(body.get("stream_options"), dict) and bool(
                body["stream_options"].get("include_usage")
            )
            chunks = _stream_chunks(
                completion_id,
                created_at,
                model_name,
                reply,
                finish_reason,
                choices,
                usage if include_usage else None,
            )
            return StreamingResponse(chunks, media_type="text/event-stream")
        return JsonResponse(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created_at,
                "model": model_name,
                "choices": [
                    {
                        "index": index,
                        "message": {"role": "assistant", "content": reply, "refusal": None},
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                    for index in range(choices)
                ],
                "usage": usage,
                "system_fingerprint": _FINGERPRINT,
            }
        )

    return router


async def _stream_chunks(
    completion_id: str,
    created_at: int,
    model_name: str,
    reply: str,
    finish_reason: str,
    choices: int,
    usage: dict[str, int] | None,
) -> AsyncIterator[bytes]:
    """Server-sent `chat.completion.chunk` events: role, words, finish, `[DONE]`."""

    def event(choice_list: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> bytes:
        chunk: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created_at,
            "model": model_name,
            "system_fingerprint": _FINGERPRINT,
            "choices": choice_list,
        }
        if extra:
            chunk.update(extra)
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def delta(index: int, content: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": index, "delta": content, "logprobs": None, "finish_reason": finish}

    words = reply.split(" ")
    for index in range(choices):
        yield event([delta(index, {"role": "assistant", "content": ""})])
        for position, word in enumerate(words):
            piece = word if position == 0 else " " + word
            yield event([delta(index, {"content": piece})])
        yield event([delta(index, {}, finish_reason)])
    if usage is not None:
        yield event([], {"usage": usage})
    yield b"data: [DONE]\n\n"
