"""Unit tests: what the persona says to media it cannot read, and how transcripts enter the prompt."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from contracts import MessageCategory
from generator.media_replies import BurstMedia, FixedReply, MediaPlan, Silence, UseModel, plan
from generator.persona import DEFAULT_PERSONA
from generator.prompt import ContextMessage, build_chat

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _plan(
    *burst: BurstMedia, replies: dict[str, str] | None = None, vision: bool = False, language: str = "pt-BR"
) -> MediaPlan:
    return plan(burst, language=language, emoji=True, persona_replies=replies or {}, vision=vision)


def _fixed(decided: MediaPlan) -> FixedReply:
    assert isinstance(decided, FixedReply), decided
    return decided


def test_a_voice_note_that_was_not_transcribed_asks_to_type_and_records_why() -> None:
    decided = _plan(
        BurstMedia("audio", "audioMessage", status="failed", failure_reason="transcription_failed: HTTP 500")
    )
    assert isinstance(decided, FixedReply)
    assert decided.text.startswith("Recebi seu áudio")
    assert "escrever" in decided.text
    assert decided.reason == "transcription_failed: HTTP 500"
    # Without any record (no media step ran) it is still the same request to type.
    assert _fixed(_plan(BurstMedia("audio"))).reason == "not_transcribed"


def test_an_image_without_caption_uses_vision_when_configured_and_stored_else_a_fallback() -> None:
    stored = BurstMedia("media", "imageMessage", status="stored", has_content=True)
    assert isinstance(_plan(stored, vision=True), UseModel)
    fallback = _plan(stored)
    assert isinstance(fallback, FixedReply)
    assert fallback.text.startswith("Recebi sua imagem")
    assert fallback.reason == "no_vision_model"
    not_fetched = _plan(
        BurstMedia("media", "imageMessage", status="failed", failure_reason="fetch_failed"), vision=True
    )
    assert isinstance(not_fetched, FixedReply)
    assert not_fetched.reason == "fetch_failed"


def test_other_media_follow_the_defaults_and_the_personas_choices() -> None:
    document = BurstMedia("media", "documentMessage")
    sticker = BurstMedia("media", "stickerMessage")
    assert _fixed(_plan(document)).text.startswith("Recebi seu documento")
    assert isinstance(_plan(sticker), Silence)
    assert isinstance(_plan(document, replies={"document": "silence"}), Silence)
    custom = _plan(document, replies={"document": "Obrigada! Vou passar para o financeiro."})
    assert custom == FixedReply("Obrigada! Vou passar para o financeiro.", "document_acknowledged")
    assert isinstance(_plan(sticker, replies={"sticker": "acknowledge"}), FixedReply)
    # A voice note in the burst is answered before the rest.
    mixed = _plan(sticker, BurstMedia("audio", "audioMessage"))
    assert isinstance(mixed, FixedReply)
    assert mixed.text.startswith("Recebi seu áudio")


def test_fallbacks_follow_the_personas_language_and_own_texts() -> None:
    assert _fixed(_plan(BurstMedia("audio"), language="en")).text.startswith("I got your voice message")
    own = _plan(BurstMedia("audio"), replies={"audio_fallback": "Oi! Não deu pra ouvir, me escreve?"})
    assert _fixed(own).text == "Oi! Não deu pra ouvir, me escreve?"
    no_emoji = plan(
        [BurstMedia("media", "stickerMessage")],
        language="pt-BR",
        emoji=False,
        persona_replies={"sticker": "acknowledge"},
        vision=False,
    )
    assert no_emoji == FixedReply("Ok!", "sticker_acknowledged")


def test_a_transcript_joins_the_persons_turn_marked_as_transcribed() -> None:
    context = [
        ContextMessage(speaker="contact", text="oi", at=NOW),
        ContextMessage(
            speaker="contact",
            text="vocês abrem sábado?",
            at=NOW,
            category=MessageCategory.AUDIO,
            in_burst=True,
            transcribed=True,
        ),
    ]
    chat = build_chat(DEFAULT_PERSONA, context, max_parts=2)
    assert chat[-1].role == "user"
    assert chat[-1].content == "oi\n[áudio transcrito] vocês abrem sábado?"
    assert "voice notes, transcribed automatically" in chat[0].content
    plain = build_chat(DEFAULT_PERSONA, [dataclasses.replace(context[0])], max_parts=2)
    assert "transcribed" not in plain[0].content


def test_an_image_description_is_marked_as_such() -> None:
    message = ContextMessage(speaker="contact", text="um tênis azul", at=NOW, described=True, in_burst=True)
    assert message.content == "[imagem: um tênis azul]"
