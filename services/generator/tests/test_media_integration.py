"""Transcripts, images and other media in replies, on the real database (docs/media.md)."""

from __future__ import annotations

import uuid

from database import Pool
from generator.replies import ReplyGenerator
from generator.reply_model import ModelAnswer, ModelRequest
from generator.settings import GeneratorSettings
from generator.vision import VisionFailure

from .conftest import PersonaRow, Seeded, add_message, minutes_ago, reply_request, seed_conversation

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


class RecordingModel:
    """Answers "ok" and keeps every request."""

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    async def answer(self, request: ModelRequest) -> ModelAnswer:
        self.requests.append(request)
        return ModelAnswer(
            text="Abrimos sim, das 9h às 13h!", model="test-model", offline=False, latency_ms=5
        )

    async def close(self) -> None:
        return None


class FakeVision:
    """Describes every image the same way, or fails."""

    model = "vision-test"

    def __init__(self, description: str | None) -> None:
        self.description = description
        self.calls: list[tuple[bytes, str, str]] = []

    async def describe(self, image: bytes, mimetype: str, language: str) -> tuple[str, int]:
        self.calls.append((image, mimetype, language))
        if self.description is None:
            raise VisionFailure("HTTP 500: simulated")
        return self.description, 7

    async def close(self) -> None:
        return None


def _generator(pool: Pool, model: RecordingModel, vision: FakeVision | None = None) -> ReplyGenerator:
    generator = ReplyGenerator(GeneratorSettings(), model, vision)  # type: ignore[arg-type]
    generator.bind(pool, relay=None)  # type: ignore[arg-type]
    return generator


async def _media(
    pool: Pool,
    seeded: Seeded,
    message_id: uuid.UUID,
    kind: str,
    status: str,
    *,
    transcript: str | None = None,
    failure_reason: str | None = None,
    content: bytes | None = None,
    mimetype: str | None = None,
) -> None:
    """The row the guard's media step writes."""
    await pool.execute(
        "INSERT INTO message_media (message_id, tenant_id, instance_id, conversation_id, kind, status,"
        " transcript, failure_reason, content, mimetype) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        message_id,
        seeded.tenant_id,
        seeded.instance_id,
        seeded.conversation_id,
        kind,
        status,
        transcript,
        failure_reason,
        content,
        mimetype,
    )


async def _typed(pool: Pool, message_id: uuid.UUID, message_type: str) -> None:
    # ingest stores the Evolution `messageType`; the conftest helper leaves it out.
    await pool.execute("UPDATE messages SET message_type = $2 WHERE id = $1", message_id, message_type)


async def test_a_transcript_is_the_persons_text_marked_as_transcribed(db_pool: Pool) -> None:
    seeded = await seed_conversation(db_pool)
    await add_message(db_pool, seeded, "bom dia", at=minutes_ago(3))
    voice = await add_message(db_pool, seeded, None, at=minutes_ago(1), category="audio")
    await _typed(db_pool, voice, "audioMessage")
    await _media(db_pool, seeded, voice, "audio", "transcribed", transcript="vocês abrem sábado?")
    model = RecordingModel()
    draft = await _generator(db_pool, model).draft_reply(reply_request(seeded, [voice]))
    assert draft is not None
    assert draft.kind == "reply"
    [request] = model.requests
    assert request.chat[-1].content == "bom dia\n[áudio transcrito] vocês abrem sábado?"
    assert "transcribed automatically" in request.chat[0].content


async def test_an_uncaptioned_image_is_described_then_answered_or_falls_back_when_vision_fails(
    db_pool: Pool,
) -> None:
    seeded = await seed_conversation(db_pool, persona=PersonaRow(language="pt-BR"))
    image = await add_message(db_pool, seeded, None, at=minutes_ago(1), category="media")
    await _typed(db_pool, image, "imageMessage")
    await _media(db_pool, seeded, image, "image", "stored", content=PNG, mimetype="image/png")

    model, vision = RecordingModel(), FakeVision("um tênis azul, tamanho 42, etiqueta R$ 199")
    draft = await _generator(db_pool, model, vision).draft_reply(
        reply_request(seeded, [image], without_text=True)
    )
    assert draft is not None
    assert draft.kind == "reply"
    assert vision.calls == [(PNG, "image/png", "pt-BR")]
    assert model.requests[0].chat[-1].content == "[imagem: um tênis azul, tamanho 42, etiqueta R$ 199]"

    model, broken = RecordingModel(), FakeVision(None)
    fallback = await _generator(db_pool, model, broken).draft_reply(
        reply_request(seeded, [image], without_text=True)
    )
    assert fallback is not None
    assert fallback.kind == "fallback"
    assert fallback.text.startswith("Recebi sua imagem")
    assert fallback.error == "vision_failed: HTTP 500: simulated"
    assert model.requests == []


async def test_a_failed_transcription_gets_the_personas_own_text_and_a_sticker_silence(db_pool: Pool) -> None:
    seeded = await seed_conversation(db_pool, persona=PersonaRow())
    await db_pool.execute(
        "UPDATE personas SET media_replies = $2 WHERE id = $1",
        seeded.persona_id,
        {"audio_fallback": "Oi! Aqui não deu pra ouvir o áudio, me escreve?", "document": "silence"},
    )
    voice = await add_message(db_pool, seeded, None, at=minutes_ago(2), category="audio")
    await _typed(db_pool, voice, "audioMessage")
    await _media(db_pool, seeded, voice, "audio", "failed", failure_reason="transcription_failed: HTTP 500")
    model = RecordingModel()
    generator = _generator(db_pool, model)
    draft = await generator.draft_reply(reply_request(seeded, [voice], without_text=True))
    assert draft is not None
    assert (draft.kind, draft.text, draft.error) == (
        "fallback",
        "Oi! Aqui não deu pra ouvir o áudio, me escreve?",
        "transcription_failed: HTTP 500",
    )
    sticker = await add_message(db_pool, seeded, None, at=minutes_ago(1), category="media")
    await _typed(db_pool, sticker, "stickerMessage")
    assert await generator.draft_reply(reply_request(seeded, [sticker], without_text=True)) is None
    document = await add_message(db_pool, seeded, None, at=minutes_ago(1), category="media")
    await _typed(db_pool, document, "documentMessage")
    assert await generator.draft_reply(reply_request(seeded, [document], without_text=True)) is None
    assert model.requests == []
