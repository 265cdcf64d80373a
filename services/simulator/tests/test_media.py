"""Voice notes and images: inbound shapes, `getBase64FromMediaMessage`, transcriptions, vision."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import openai
import pytest

from simulator.app import create_app
from simulator.media import description_in, image_png, transcript_in, voice_note_bytes
from testkit.asgi import served

from .conftest import GLOBAL, Receiver, Sim, sim_settings


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    """The simulator served by uvicorn on a free port (the SDK needs a real socket)."""
    async with served(create_app(sim_settings()), lifespan="on") as url:
        yield url


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    """An SDK client without retries, so injected failures surface."""
    sdk = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="x", max_retries=0, timeout=10)
    yield sdk
    await sdk.close()


async def _hooked(sim: Sim, receiver: Receiver, *, base64_in_webhook: bool = False) -> None:
    await sim.create(
        "loja", webhook={"url": f"{receiver.url}/hook", "events": [], "base64": base64_in_webhook}
    )


async def test_a_voice_note_arrives_as_evolution_sends_it_and_its_media_can_be_fetched(
    sim: Sim, receiver: Receiver
) -> None:
    await _hooked(sim, receiver)
    sent = await sim.client.post(
        "/_sim/instances/loja/inbound",
        json={"from": "5511999990001", "audio": {"seconds": 4, "transcript": "vocês abrem sábado?"}},
    )
    assert sent.status_code == 200, sent.text
    data = sent.json()["data"]
    assert data["messageType"] == "audioMessage"
    audio = data["message"]["audioMessage"]
    assert audio["mimetype"] == "audio/ogg; codecs=opus"
    assert audio["ptt"] is True
    assert audio["seconds"] == 4
    assert "speechToText" not in data["message"]
    assert "base64" not in data["message"]
    [upsert] = await receiver.wait_for("messages.upsert")
    assert upsert["data"]["key"]["id"] == sent.json()["id"]

    fetched = await sim.client.post(
        "/chat/getBase64FromMediaMessage/loja",
        json={"message": {"key": {"id": sent.json()["id"]}}, "convertToMp4": False},
        headers=GLOBAL,
    )
    assert fetched.status_code == 201, fetched.text
    media = fetched.json()
    assert media["mediaType"] == "audioMessage"
    assert media["mimetype"] == "audio/ogg; codecs=opus"
    raw = base64.b64decode(media["base64"])
    assert int(media["size"]["fileLength"]) == len(raw) == int(audio["fileLength"])
    assert transcript_in(raw) == "vocês abrem sábado?"


async def test_speech_to_text_and_inline_base64_are_added_as_evolution_does(
    sim: Sim, receiver: Receiver
) -> None:
    await _hooked(sim, receiver, base64_in_webhook=True)
    sent = await sim.client.post(
        "/_sim/instances/loja/inbound",
        json={"from": "5511999990001", "audio": {"seconds": 1, "transcript": "pare", "speech_to_text": True}},
    )
    message = sent.json()["data"]["message"]
    assert message["speechToText"] == "[audio] pare"
    assert transcript_in(base64.b64decode(message["base64"])) == "pare"


async def test_an_image_with_and_without_caption(sim: Sim, receiver: Receiver) -> None:
    await _hooked(sim, receiver)
    captioned = await sim.client.post(
        "/_sim/instances/loja/inbound",
        json={"from": "5511999990001", "image": {"caption": "quanto custa?", "description": "um tênis azul"}},
    )
    assert captioned.json()["data"]["message"]["imageMessage"]["caption"] == "quanto custa?"
    bare = await sim.client.post(
        "/_sim/instances/loja/inbound",
        json={"from": "5511999990001", "image": {"description": "um tênis azul"}},
    )
    image = bare.json()["data"]["message"]["imageMessage"]
    assert "caption" not in image
    assert image["mimetype"] == "image/png"
    fetched = await sim.client.post(
        "/chat/getBase64FromMediaMessage/loja",
        json={"message": {"key": {"id": bare.json()["id"]}}},
        headers=GLOBAL,
    )
    assert description_in(base64.b64decode(fetched.json()["base64"])) == "um tênis azul"


async def test_get_base64_errors_and_faults(sim: Sim, receiver: Receiver) -> None:
    await _hooked(sim, receiver)
    unknown = await sim.client.post(
        "/chat/getBase64FromMediaMessage/loja", json={"message": {"key": {"id": "NOPE"}}}, headers=GLOBAL
    )
    assert unknown.status_code == 400
    assert unknown.json()["response"]["message"] == ["Message not found"]
    no_key = await sim.client.post("/chat/getBase64FromMediaMessage/loja", json={}, headers=GLOBAL)
    assert no_key.status_code == 400
    unauthorized = await sim.client.post(
        "/chat/getBase64FromMediaMessage/loja", json={"message": {"key": {"id": "X"}}}
    )
    assert unauthorized.status_code == 401
    sent = await sim.client.post(
        "/_sim/instances/loja/inbound",
        json={"from": "5511999990001", "audio": {"seconds": 1, "transcript": "oi"}},
    )
    view = await sim.client.post(
        "/_sim/faults", json={"getBase64FromMediaMessage": {"fail_next": 1, "status": 500}}
    )
    assert view.json()["getBase64FromMediaMessage"]["fail_next"] == 1
    body = {"message": {"key": {"id": sent.json()["id"]}}}
    failed = await sim.client.post("/chat/getBase64FromMediaMessage/loja", json=body, headers=GLOBAL)
    assert failed.status_code == 500
    again = await sim.client.post("/chat/getBase64FromMediaMessage/loja", json=body, headers=GLOBAL)
    assert again.status_code == 201
    # Back to defaults, the media targets leave the view: its original shape is kept.
    assert set((await sim.client.get("/_sim/faults")).json()) == {
        "sendText",
        "sendPresence",
        "completions",
        "webhook",
    }


async def test_inbound_media_validation(sim: Sim, receiver: Receiver) -> None:
    await _hooked(sim, receiver)
    for body in (
        {"from": "5511999990001", "audio": {"seconds": 3}},
        {"from": "5511999990001", "audio": {"seconds": 0, "transcript": "x"}},
        {"from": "5511999990001", "image": {"caption": "x"}},
        {"from": "5511999990001", "text": "oi", "image": {"description": "x"}},
    ):
        response = await sim.client.post("/_sim/instances/loja/inbound", json=body)
        assert response.status_code == 400, body


async def test_transcriptions_through_the_sdk_with_faults(base_url: str, client: openai.AsyncOpenAI) -> None:
    audio = voice_note_bytes(3, "vocês abrem sábado?")
    result = await client.audio.transcriptions.create(
        model="whisper-1", file=("voz.ogg", audio, "audio/ogg"), language="pt"
    )
    assert result.text == "vocês abrem sábado?"
    text = await client.audio.transcriptions.create(
        model="whisper-1", file=("voz.ogg", audio, "audio/ogg"), response_format="text"
    )
    assert str(text).strip() == "vocês abrem sábado?"
    async with httpx.AsyncClient(base_url=base_url) as control:
        await control.post("/_sim/faults", json={"transcriptions": {"fail_next": 2, "status": 500}})
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                await client.audio.transcriptions.create(
                    model="whisper-1", file=("v.ogg", audio, "audio/ogg")
                )
        again = await client.audio.transcriptions.create(
            model="whisper-1", file=("v.ogg", audio, "audio/ogg")
        )
        assert again.text == "vocês abrem sábado?"
        log = (await control.get("/_sim/transcriptions")).json()
        assert [row["status"] for row in log] == [200, 200, 500, 500, 200]
        assert log[0]["language"] == "pt"


async def test_a_vision_request_is_answered_with_what_the_image_shows(client: openai.AsyncOpenAI) -> None:
    url = "data:image/png;base64," + base64.b64encode(image_png("um cachorro na praia")).decode()
    completion = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Descreva a imagem."},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content == "um cachorro na praia"
