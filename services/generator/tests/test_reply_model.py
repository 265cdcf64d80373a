"""The real `openai` SDK against the local OpenAI-compatible stub, over a real socket."""

from __future__ import annotations

import pytest

from generator.fixed_texts import OFFLINE_MODEL
from generator.prompt import ChatMessage
from generator.reply_model import (
    KEYLESS_API_KEY,
    ModelFailure,
    ModelRequest,
    OfflineReplyModel,
    OpenAIReplyModel,
    build_reply_model,
)
from generator.settings import ModelEndpoint

from .openai_stub import OpenAIStub

CHAT = (
    ChatMessage(role="system", content="Você é a Bia."),
    ChatMessage(role="user", content="oi"),
    ChatMessage(role="assistant", content="Olá!"),
    ChatMessage(role="user", content="tem tênis 38?"),
)


def endpoint(
    stub: OpenAIStub,
    *,
    api_key: str | None = "test-key",
    timeout_s: float = 5.0,
    max_retries: int = 0,
    max_tokens: int | None = None,
) -> ModelEndpoint:
    return ModelEndpoint(
        api_key=api_key,
        base_url=stub.base_url,
        model="default-model",
        timeout_s=timeout_s,
        max_retries=max_retries,
        max_tokens=max_tokens,
        max_connections=16,
    )


async def test_a_completion_becomes_an_answer(stub: OpenAIStub) -> None:
    model = OpenAIReplyModel(endpoint(stub))
    try:
        answer = await model.answer(ModelRequest(chat=CHAT, temperature=0.3, model="persona-model"))
    finally:
        await model.close()
    assert answer.text == "Olá! Você disse: tem tênis 38?"
    assert answer.model == "persona-model"
    assert not answer.offline
    [call] = stub.calls
    assert call.body["model"] == "persona-model"
    assert call.body["temperature"] == 0.3
    assert call.body["messages"] == [{"role": m.role, "content": m.content} for m in CHAT]
    assert "max_tokens" not in call.body
    assert call.headers["authorization"] == "Bearer test-key"
    assert call.headers["content-type"] == "application/json"


async def test_the_default_model_and_max_tokens_are_used_when_set(stub: OpenAIStub) -> None:
    model = OpenAIReplyModel(endpoint(stub, max_tokens=120))
    try:
        answer = await model.answer(ModelRequest(chat=CHAT, temperature=0.7))
    finally:
        await model.close()
    assert answer.model == "default-model"
    assert stub.calls[0].body["max_tokens"] == 120


async def test_a_base_url_without_a_key_sends_a_placeholder_token(stub: OpenAIStub) -> None:
    model = OpenAIReplyModel(endpoint(stub, api_key=None))
    try:
        await model.answer(ModelRequest(chat=CHAT, temperature=0.7))
    finally:
        await model.close()
    assert stub.calls[0].headers["authorization"] == f"Bearer {KEYLESS_API_KEY}"


async def test_server_errors_are_retried_by_the_sdk_then_reported_as_retryable(stub: OpenAIStub) -> None:
    stub.fail_status = 500
    model = OpenAIReplyModel(endpoint(stub, max_retries=2))
    try:
        with pytest.raises(ModelFailure) as failure:
            await model.answer(ModelRequest(chat=CHAT, temperature=0.7))
    finally:
        await model.close()
    assert len(stub.calls) == 3
    assert failure.value.retryable
    assert "HTTP 500" in str(failure.value)
    assert str(failure.value).startswith("default-model: ")


async def test_a_transient_failure_is_absorbed_by_the_sdk_retries(stub: OpenAIStub) -> None:
    stub.fail_status, stub.fail_times = 503, 1
    model = OpenAIReplyModel(endpoint(stub, max_retries=1))
    try:
        answer = await model.answer(ModelRequest(chat=CHAT, temperature=0.7))
    finally:
        await model.close()
    assert answer.text.startswith("Olá!")
    assert len(stub.calls) == 2


@pytest.mark.parametrize("status", [400, 401, 404])
async def test_client_errors_are_not_retried_and_not_retryable(stub: OpenAIStub, status: int) -> None:
    stub.fail_status = status
    model = OpenAIReplyModel(endpoint(stub, max_retries=2))
    try:
        with pytest.raises(ModelFailure) as failure:
            await model.answer(ModelRequest(chat=CHAT, temperature=0.7))
    finally:
        await model.close()
    assert len(stub.calls) == 1
    assert not failure.value.retryable


async def test_a_timeout_is_a_retryable_failure(stub: OpenAIStub) -> None:
    stub.latency_s = 1.0
    model = OpenAIReplyModel(endpoint(stub, timeout_s=0.2))
    try:
        with pytest.raises(ModelFailure) as failure:
            await model.answer(ModelRequest(chat=CHAT, temperature=0.7))
    finally:
        await model.close()
    assert failure.value.retryable
    assert "Timeout" in str(failure.value)


async def test_an_empty_answer_is_a_failure(stub: OpenAIStub) -> None:
    stub.reply = lambda _: "   "
    model = OpenAIReplyModel(endpoint(stub))
    try:
        with pytest.raises(ModelFailure, match="empty answer"):
            await model.answer(ModelRequest(chat=CHAT, temperature=0.7))
    finally:
        await model.close()


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"choices": "none"}', b'{"choices": [{"message": {"content": 42}}]}', b"[]"],
    ids=["not-json", "choices-not-a-list", "content-not-text", "array"],
)
async def test_a_malformed_completion_is_a_failure_that_is_not_retried(stub: OpenAIStub, body: bytes) -> None:
    stub.raw_body = body
    model = OpenAIReplyModel(endpoint(stub, max_retries=2))
    try:
        with pytest.raises(ModelFailure, match="malformed completion") as failure:
            await model.answer(ModelRequest(chat=CHAT, temperature=0.7))
    finally:
        await model.close()
    assert not failure.value.retryable
    assert len(stub.calls) == 1


async def test_nothing_configured_builds_the_offline_generator() -> None:
    model = build_reply_model(None)
    assert isinstance(model, OfflineReplyModel)
    answer = await model.answer(
        ModelRequest(chat=CHAT, temperature=0.7, burst_texts=("tem tênis 38?",), contact_name="ana souza")
    )
    await model.close()
    assert answer.offline
    assert answer.model == OFFLINE_MODEL
    assert answer.latency_ms == 0
    assert answer.text.startswith("Olá, Ana! Esta é uma resposta automática em modo offline")
    assert "«tem tênis 38?»" in answer.text
