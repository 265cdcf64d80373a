"""Unit tests: intents, fallbacks and the events of a reply, with an in-memory database fake."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from contracts import (
    GenerateReply,
    GenerateReplyData,
    ReplyGenerated,
    ReplyIntent,
    SendPurpose,
    SendText,
    partition_key,
    stable_id,
)
from generator.fixed_texts import FIXED_MODEL, MODEL_FAILURE_TEXT
from generator.persona import DEFAULT_PERSONA
from generator.replies import ReplyDraft, ReplyGenerator, fixed_draft, reply_events
from generator.reply_model import ModelAnswer, ModelFailure, ModelRequest
from generator.settings import GeneratorSettings
from messaging import PermanentFailure

CONVERSATION = uuid.uuid4()


class FakeConnection:
    """Answers the reads the fixed texts need: consent keywords, the reply's setup, the burst."""

    def __init__(self, keywords: dict[str, str | None], categories: list[str]) -> None:
        self.keywords = keywords
        self.categories = categories
        self.queries: list[str] = []

    async def fetchrow(self, query: str, *args: Any) -> dict[str, Any]:
        self.queries.append(query)
        if "FROM replies" in query:  # the reply's setup: not answered yet, no persona
            return {"answered": False, "persona_id": None}
        assert "FROM tenants" in query
        return self.keywords

    async def fetch(self, query: str, *args: Any) -> list[dict[str, str]]:
        self.queries.append(query)
        assert "FROM messages" in query
        return [{"category": category} for category in self.categories]


class FakePool:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConnection]:
        yield self.conn


class UnusedModel:
    """Fails the test if anything asks it for an answer."""

    async def answer(self, request: ModelRequest) -> ModelAnswer:
        raise AssertionError("fixed texts never call the model")

    async def close(self) -> None:
        return None


def request(**data: Any) -> GenerateReply:
    return GenerateReply(
        tenant_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        causation_id=uuid.uuid4(),
        data=GenerateReplyData(
            conversation_id=CONVERSATION,
            instance_id=uuid.uuid4(),
            instance_name="loja-centro",
            contact_id=uuid.uuid4(),
            reply_to="5511999990001@s.whatsapp.net",
            message_ids=(uuid.uuid4(),),
            **data,
        ),
    )


def generator(
    keywords: dict[str, str | None] | None = None,
    categories: list[str] | None = None,
    on_failure: str = "fallback",
) -> ReplyGenerator:
    settings = GeneratorSettings.model_validate({"model": {"on_failure": on_failure}})
    service = ReplyGenerator(settings, UnusedModel())
    conn = FakeConnection(keywords or {"opt_in": "VOLTAR", "opt_out": "PARE"}, categories or [])
    service.bind(FakePool(conn), relay=None)  # type: ignore[arg-type]
    return service


async def test_an_opt_out_confirmation_is_a_fixed_text_the_sender_lets_through() -> None:
    draft = await generator({"opt_in": "INICIAR", "opt_out": "SAIR"}).draft_reply(
        request(intent=ReplyIntent.OPT_OUT_CONFIRMATION)
    )
    assert draft is not None
    assert draft.kind == "confirmation"
    assert draft.purpose == SendPurpose.OPT_OUT_CONFIRMATION
    assert draft.model == FIXED_MODEL
    assert draft.parts == (draft.text,)
    assert "não vai mais receber mensagens" in draft.text
    assert "é só enviar INICIAR" in draft.text


async def test_an_opt_in_confirmation_is_an_ordinary_reply_naming_the_opt_out_keyword() -> None:
    draft = await generator({"opt_in": "VOLTAR", "opt_out": None}).draft_reply(
        request(intent=ReplyIntent.OPT_IN_CONFIRMATION)
    )
    assert draft is not None
    assert draft.kind == "confirmation"
    assert draft.purpose == SendPurpose.REPLY
    assert "voltou a receber" in draft.text
    assert "é só enviar PARE" in draft.text


async def test_a_burst_without_text_gets_the_fallback_asking_for_text() -> None:
    draft = await generator(categories=["audio"]).draft_reply(request(without_text=True))
    assert draft is not None
    assert draft.kind == "fallback"
    assert draft.purpose == SendPurpose.REPLY
    assert draft.text.startswith("Recebi seu áudio")


def test_a_model_failure_becomes_the_fallback_by_default() -> None:
    failure = ModelFailure("HTTP 500 InternalServerError", model="gpt-4o-mini", retryable=True)
    persona = dataclasses.replace(DEFAULT_PERSONA, id=uuid.uuid4())
    draft = generator()._on_model_failure(persona, failure)
    assert draft.kind == "fallback"
    assert draft.parts == (MODEL_FAILURE_TEXT,)
    assert draft.error == "gpt-4o-mini: HTTP 500 InternalServerError"
    assert draft.persona_id == persona.id


def test_in_dead_letter_mode_a_transient_failure_is_retried_by_the_consumer() -> None:
    failure = ModelFailure("timeout", model="m", retryable=True)
    with pytest.raises(ModelFailure):
        generator(on_failure="dead_letter")._on_model_failure(DEFAULT_PERSONA, failure)


def test_in_dead_letter_mode_a_permanent_failure_is_dead_lettered_at_once() -> None:
    failure = ModelFailure("HTTP 401 AuthenticationError", model="m", retryable=False)
    with pytest.raises(PermanentFailure, match="401"):
        generator(on_failure="dead_letter")._on_model_failure(DEFAULT_PERSONA, failure)


def test_reply_events_derive_every_id_from_the_request() -> None:
    event = request(delay_ms=0)
    draft = ReplyDraft(
        kind="reply",
        text="Oi!\n\nTemos sim.",
        parts=("Oi!", "Temos sim."),
        model="gpt-4o-mini",
        persona_id=uuid.uuid4(),
        latency_ms=420,
    )
    generated, *sends = reply_events(event, draft, [900, 1_200])
    assert isinstance(generated, ReplyGenerated)
    assert generated.event_id == stable_id("reply.generated", event.event_id)
    assert generated.data.reply_id == stable_id("reply", event.event_id)
    assert generated.data.parts == draft.parts
    assert (generated.data.model, generated.data.latency_ms) == ("gpt-4o-mini", 420)
    assert generated.data.persona_id == draft.persona_id
    for index, send in enumerate(sends):
        assert isinstance(send, SendText)
        assert send.event_id == stable_id("send.requested", event.event_id, index)
        assert send.data.send_id == stable_id("send", event.event_id, index)
        assert send.data.reply_id == generated.data.reply_id
        assert send.data.part_index == index
        assert send.data.to == event.data.reply_to
        assert send.data.instance_name == "loja-centro"
        assert send.data.contact_id == event.data.contact_id
        assert send.data.app_origin == "bot"
        assert send.data.purpose == SendPurpose.REPLY
        assert partition_key(send) == CONVERSATION.bytes
    assert [s.data.text for s in sends] == ["Oi!", "Temos sim."]  # type: ignore[attr-defined]
    assert [s.data.typing_delay_ms for s in sends] == [900, 1_200]  # type: ignore[attr-defined]
    for output in [generated, *sends]:
        assert output.correlation_id == event.correlation_id
        assert output.causation_id == event.event_id
        assert output.tenant_id == event.tenant_id
    # A redelivery computes the very same events.
    assert [e.event_id for e in reply_events(event, draft, [900, 1_200])] == [
        e.event_id for e in [generated, *sends]
    ]


def test_a_fixed_draft_is_one_message() -> None:
    draft = fixed_draft("fallback", "Pode me escrever?")
    assert draft.parts == ("Pode me escrever?",)
    assert draft.model == FIXED_MODEL
