"""The OpenAI-compatible endpoint, driven by the real `openai` SDK over a real port."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import openai
import pytest

from simulator.app import create_app
from testkit.asgi import served

from .conftest import sim_settings


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    """The simulator served by uvicorn (lifespan on) on a free port."""
    app = create_app(sim_settings())
    async with served(app, lifespan="on") as url:
        yield url


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    """An SDK client without retries, so injected failures surface."""
    sdk = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="x", max_retries=0, timeout=10)
    yield sdk
    await sdk.close()


async def test_sdk_parses_a_completion(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Você é a Ana."},
            {"role": "user", "content": "primeira"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "  Quero saber o preço\ndo plano  "},
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    [choice] = completion.choices
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "Olá! Você disse: «Quero saber o preço\ndo plano». Como posso ajudar?"
    assert completion.usage is not None
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


async def test_reply_is_deterministic_and_trimmed(client: openai.AsyncOpenAI) -> None:
    text = "x" * 500
    first = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
    second = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
    assert first.choices[0].message.content == second.choices[0].message.content
    assert f"«{'x' * 200}»" in (first.choices[0].message.content or "")


async def test_max_tokens_truncates(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "conte uma história longa"}], max_tokens=3
    )
    assert completion.choices[0].finish_reason == "length"
    assert len(completion.choices[0].message.content or "") <= 12


async def test_streaming(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "oi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    finish: list[str] = []
    usage = None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            if choice.finish_reason:
                finish.append(choice.finish_reason)
    assert "".join(pieces) == "Olá! Você disse: «oi». Como posso ajudar?"
    assert finish == ["stop"]
    assert usage is not None


async def test_models(client: openai.AsyncOpenAI) -> None:
    models = await client.models.list()
    assert [model.id for model in models.data] == ["mirage-sim"]


async def test_completion_faults_and_log(base_url: str, client: openai.AsyncOpenAI) -> None:
    async with httpx.AsyncClient(base_url=base_url) as control:
        await control.post("/_sim/faults", json={"completions": {"fail_next": 1, "status": 500}})
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "a"}])
        await control.post("/_sim/faults", json={"completions": {"latency_ms": 300}})
        started = time.monotonic()
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "b"}])
        assert time.monotonic() - started >= 0.3
        logged = (await control.get("/_sim/completions")).json()
    assert [row["messages"][-1]["content"] for row in logged] == ["b"]
    assert logged[0]["reply"] == "Olá! Você disse: «b». Como posso ajudar?"


async def test_bad_request_is_openai_shaped(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="m", messages=[])
    assert "messages" in str(caught.value)
