"""Voice notes and images end to end (issue 14; docs/media.md).

The simulator delivers Evolution's real `audioMessage`/`imageMessage` webhooks, serves the
media through `getBase64FromMediaMessage` and transcribes through `/v1/audio/transcriptions`;
ingest, the guard (with its media step), the generator and the sender run as processes on
the real Kafka, PostgreSQL and Redis.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from database import Pool
from testkit import Infra, wait_until
from testkit.stack import Instance, MirageStack, SimulatorClient

from .conftest import running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def media_stack(infra: Infra, database_dsn: str) -> AsyncIterator[MirageStack]:
    """The pipeline with no vision model: images without a caption get the fallback."""
    async with running_stack(infra, database_dsn, debounce_ms=300) as mirage:
        yield mirage


@pytest.fixture
async def sim(media_stack: MirageStack) -> AsyncIterator[SimulatorClient]:
    """The simulator's control API, with no transcription faults left over."""
    client = SimulatorClient(media_stack.simulator_url)
    await client.faults({"transcriptions": None, "getBase64FromMediaMessage": None})
    yield client
    await client.faults({"transcriptions": None, "getBase64FromMediaMessage": None})
    await client.close()


@pytest.fixture
async def instance(media_stack: MirageStack) -> Instance:
    """A connected instance of a tenant of its own."""
    return await media_stack.create_instance()


@pytest.fixture
def phone() -> str:
    """A Brazilian mobile number no other test writes from."""
    return f"55119{uuid.uuid4().int % 10**8:08d}"


async def _inbound(stack: MirageStack, instance: Instance, body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.simulator_url, timeout=30) as client:
        response = await client.post(f"/_sim/instances/{instance.name}/inbound", json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
    assert result["status"] == 200, result
    assert result["body"]["status"] == "accepted", result
    return result


async def _transcriptions(stack: MirageStack) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=stack.simulator_url, timeout=10) as client:
        response = await client.get("/_sim/transcriptions")
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()
    return rows


async def _replies(
    sim: SimulatorClient, instance: Instance, phone: str, count: int = 1
) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        rows = await sim.sent(instance=instance.name, number=phone)
        return rows if len(rows) >= count else None

    rows: list[dict[str, Any]] = await wait_until(enough, timeout=45, message=f"{count} replies to {phone}")
    return rows


async def _decision(pool: Pool, instance: Instance, provider_id: str) -> tuple[str, str]:
    async def decided() -> tuple[str, str] | None:
        row = await pool.fetchrow(
            "SELECT d.decision, d.reason FROM guard_decisions d JOIN messages m ON m.id = d.message_id"
            " WHERE m.instance_id = $1 AND m.provider_id = $2",
            instance.id,
            provider_id,
        )
        return (row["decision"], row["reason"]) if row else None

    result: tuple[str, str] = await wait_until(decided, timeout=45, message=f"decision on {provider_id}")
    return result


async def _media_row(pool: Pool, instance: Instance, provider_id: str) -> Any:
    return await pool.fetchrow(
        "SELECT mm.* FROM message_media mm JOIN messages m ON m.id = mm.message_id"
        " WHERE m.instance_id = $1 AND m.provider_id = $2",
        instance.id,
        provider_id,
    )


async def _reply_rows(pool: Pool, instance: Instance) -> list[Any]:
    return list(
        await pool.fetch(
            "SELECT kind, text, error FROM replies WHERE instance_id = $1 ORDER BY created_at", instance.id
        )
    )


async def _sends_settled(pool: Pool, instance: Instance, phone: str) -> list[Any]:
    async def done() -> list[Any] | None:
        rows = await pool.fetch(
            "SELECT status FROM sends WHERE instance_id = $1 AND recipient_digits = $2", instance.id, phone
        )
        return list(rows) if rows and all(r["status"] != "sending" for r in rows) else None

    rows: list[Any] = await wait_until(done, timeout=45, message=f"sends to {phone} settled")
    return rows


async def test_a_voice_note_gets_a_reply_that_used_its_transcript(
    media_stack: MirageStack, sim: SimulatorClient, instance: Instance, phone: str, db_pool: Pool
) -> None:
    before = len(await _transcriptions(media_stack))
    sent = await _inbound(
        media_stack,
        instance,
        {"from": phone, "push_name": "Ana", "audio": {"seconds": 3, "transcript": "vocês abrem sábado?"}},
    )
    [reply] = await _replies(sim, instance, phone)
    # The simulator's model quotes the person's last turn: the transcript, marked as such.
    assert "vocês abrem sábado?" in reply["text"], reply
    assert "[áudio transcrito]" in reply["text"]
    assert await _decision(db_pool, instance, sent["id"]) == ("reply", "contact_message")
    media = await _media_row(db_pool, instance, sent["id"])
    assert (media["status"], media["transcript"], media["transcript_source"]) == (
        "transcribed",
        "vocês abrem sábado?",
        "transcription",
    )
    assert media["kind"] == "audio"
    assert media["source"] == "evolution"
    assert media["content"] is not None
    assert media["size_bytes"] == len(media["content"])
    calls = (await _transcriptions(media_stack))[before:]
    assert [(call["status"], call["language"]) for call in calls] == [(200, "pt")]
    [row] = await _reply_rows(db_pool, instance)
    assert row["kind"] == "reply"
    await _sends_settled(db_pool, instance, phone)
    assert len(await sim.sent(instance=instance.name, number=phone)) == 1


async def test_pare_spoken_in_a_voice_note_opts_the_contact_out(
    media_stack: MirageStack, sim: SimulatorClient, instance: Instance, phone: str, db_pool: Pool
) -> None:
    sent = await _inbound(
        media_stack, instance, {"from": phone, "audio": {"seconds": 1, "transcript": "Pare."}}
    )
    assert await _decision(db_pool, instance, sent["id"]) == ("opted_out", "opt_out_keyword")
    assert await db_pool.fetchval(
        "SELECT count(*) FROM opt_outs WHERE tenant_id = $1 AND phone = $2", instance.tenant_id, phone
    )
    [confirmation] = await _replies(sim, instance, phone)
    assert confirmation["text"].startswith("Pronto! Você não vai mais receber mensagens nossas")
    # A later message gets nothing: the opt-out holds.
    later = await _inbound(media_stack, instance, {"from": phone, "text": "oi?"})
    assert await _decision(db_pool, instance, later["id"]) == ("opted_out", "contact_opted_out")
    await _sends_settled(db_pool, instance, phone)
    assert len(await sim.sent(instance=instance.name, number=phone)) == 1


async def test_a_voice_note_with_evolutions_speech_to_text_needs_no_transcription(
    media_stack: MirageStack, sim: SimulatorClient, instance: Instance, phone: str, db_pool: Pool
) -> None:
    before = len(await _transcriptions(media_stack))
    sent = await _inbound(
        media_stack,
        instance,
        {"from": phone, "audio": {"seconds": 2, "transcript": "qual o horário?", "speech_to_text": True}},
    )
    [reply] = await _replies(sim, instance, phone)
    # Evolution's transcript without its "[audio]" marker, marked as a transcript like Mirage's own.
    assert "[áudio transcrito] qual o horário?" in reply["text"], reply
    media = await _media_row(db_pool, instance, sent["id"])
    assert (media["status"], media["transcript_source"], media["content"]) == (
        "transcribed",
        "evolution",
        None,
    )
    assert len(await _transcriptions(media_stack)) == before


async def test_an_image_without_caption_gets_the_fallback_when_no_vision_model_is_configured(
    media_stack: MirageStack, sim: SimulatorClient, instance: Instance, phone: str, db_pool: Pool
) -> None:
    sent = await _inbound(media_stack, instance, {"from": phone, "image": {"description": "um tênis azul"}})
    [reply] = await _replies(sim, instance, phone)
    assert reply["text"].startswith("Recebi sua imagem, mas por aqui eu não consigo ver imagens.")
    [row] = await _reply_rows(db_pool, instance)
    assert (row["kind"], row["error"]) == ("fallback", "no_vision_model")
    media = await _media_row(db_pool, instance, sent["id"])
    assert (media["kind"], media["status"], media["mimetype"]) == ("image", "stored", "image/png")
    await _sends_settled(db_pool, instance, phone)
    assert len(await sim.sent(instance=instance.name, number=phone)) == 1


async def test_an_image_with_a_caption_is_answered_as_text(
    media_stack: MirageStack, sim: SimulatorClient, instance: Instance, phone: str, db_pool: Pool
) -> None:
    sent = await _inbound(
        media_stack,
        instance,
        {"from": phone, "image": {"caption": "tem esse no 42?", "description": "um tênis"}},
    )
    [reply] = await _replies(sim, instance, phone)
    assert "tem esse no 42?" in reply["text"]
    assert await _media_row(db_pool, instance, sent["id"]) is None  # a caption is text: nothing fetched


async def test_a_transcription_failing_three_times_gets_the_fallback_exactly_once(
    media_stack: MirageStack, sim: SimulatorClient, instance: Instance, phone: str, db_pool: Pool
) -> None:
    await sim.faults({"transcriptions": {"fail_next": 3, "status": 500}})
    before = len(await _transcriptions(media_stack))
    sent = await _inbound(
        media_stack, instance, {"from": phone, "audio": {"seconds": 2, "transcript": "pare"}}
    )
    [reply] = await _replies(sim, instance, phone)
    assert reply["text"].startswith("Recebi seu áudio, mas não consegui ouvir direito por aqui.")
    # The transcript never existed, so "pare" was not heard: no opt-out, one fallback.
    assert await _decision(db_pool, instance, sent["id"]) == ("reply", "contact_message")
    calls = (await _transcriptions(media_stack))[before:]
    assert [call["status"] for call in calls] == [500, 500, 500]
    media = await _media_row(db_pool, instance, sent["id"])
    assert media["status"] == "failed"
    assert media["failure_reason"].startswith("transcription_failed: HTTP 500")
    [row] = await _reply_rows(db_pool, instance)
    assert row["kind"] == "fallback"
    assert row["error"].startswith("transcription_failed")
    await _sends_settled(db_pool, instance, phone)
    # Redelivering the webhook changes nothing: one message, one decision, one reply.
    again = await sim.webhook(
        {"event": "messages.upsert", "instance": instance.name, "data": sent["data"]}, instance=instance.name
    )
    assert again["body"]["status"] == "duplicate"
    assert len(await sim.sent(instance=instance.name, number=phone)) == 1
    assert len(await _reply_rows(db_pool, instance)) == 1


@pytest.fixture(scope="module")
async def vision_stack(infra: Infra, database_dsn: str) -> AsyncIterator[MirageStack]:
    """The pipeline with a vision model configured (the simulator's, which reads its own images)."""
    async with running_stack(
        infra,
        database_dsn,
        debounce_ms=300,
        overrides={"generator": {"MIRAGE_GENERATOR_VISION__MODEL": "gpt-4o-mini"}},
    ) as mirage:
        yield mirage


async def test_an_image_without_caption_is_described_by_the_vision_model_and_answered(
    vision_stack: MirageStack, db_pool: Pool, phone: str
) -> None:
    instance = await vision_stack.create_instance()
    sim = SimulatorClient(vision_stack.simulator_url)
    try:
        await _inbound(
            vision_stack, instance, {"from": phone, "image": {"description": "um tênis azul tamanho 42"}}
        )
        [reply] = await _replies(sim, instance, phone)
        # The reply model saw the description in the person's turn (the simulator quotes that turn).
        assert "[imagem: um tênis azul tamanho 42]" in reply["text"], reply
        [row] = await _reply_rows(db_pool, instance)
        assert (row["kind"], row["error"]) == ("reply", None)
        vision_calls = [
            call
            for call in await sim.completions()
            if any(isinstance(m.get("content"), list) for m in call["messages"])
        ]
        assert len(vision_calls) == 1
        assert vision_calls[0]["reply"] == "um tênis azul tamanho 42"
    finally:
        await sim.close()
