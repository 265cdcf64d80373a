"""`personas.media_replies` through the api: how a persona answers media it cannot read (docs/media.md)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from database import Pool

from .conftest import Api, TenantKey

pytestmark = pytest.mark.integration


async def test_media_replies_are_created_read_changed_and_stored_as_the_generator_reads_them(
    shared_api: Api, tenant: TenantKey, db_pool: Pool
) -> None:
    client, headers = shared_api.client, tenant.headers
    plain = await client.post("/personas", json={"name": "Sem mídia"}, headers=headers)
    assert plain.status_code == 201, plain.text
    assert plain.json()["media_replies"] == {}

    created = await client.post(
        "/personas",
        json={
            "name": "Bia",
            "media_replies": {
                "document": "silence",
                "sticker": "acknowledge",
                "video": "Vídeo recebido! Me conta por escrito?",
                "audio_fallback": "Não deu para ouvir, pode escrever?",
                "location": None,
            },
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    persona = created.json()
    expected = {
        "document": "silence",
        "sticker": "acknowledge",
        "video": "Vídeo recebido! Me conta por escrito?",
        "audio_fallback": "Não deu para ouvir, pode escrever?",
    }
    assert persona["media_replies"] == expected
    # Stored in the column the generator reads, kinds left out absent (they keep the defaults).
    stored = await db_pool.fetchval(
        "SELECT media_replies FROM personas WHERE id = $1", uuid.UUID(persona["id"])
    )
    assert stored == expected
    assert (await client.get(f"/personas/{persona['id']}", headers=headers)).json()[
        "media_replies"
    ] == expected
    listed = (await client.get("/personas", headers=headers)).json()["items"]
    assert {item["name"]: item["media_replies"] for item in listed} == {"Bia": expected, "Sem mídia": {}}

    # Other changes leave them alone; a null means unchanged.
    renamed = await client.patch(
        f"/personas/{persona['id']}", json={"emoji": False, "media_replies": None}, headers=headers
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["media_replies"] == expected
    # Given, they replace the whole setting; `{}` goes back to the defaults.
    replaced = await client.patch(
        f"/personas/{persona['id']}", json={"media_replies": {"contact": "silence"}}, headers=headers
    )
    assert replaced.json()["media_replies"] == {"contact": "silence"}
    reset = await client.patch(f"/personas/{persona['id']}", json={"media_replies": {}}, headers=headers)
    assert reset.json()["media_replies"] == {}
    assert (
        await db_pool.fetchval("SELECT media_replies FROM personas WHERE id = $1", uuid.UUID(persona["id"]))
        == {}
    )


@pytest.mark.parametrize(
    ("media_replies", "location"),
    [
        ({"gif": "silence"}, ["body", "media_replies", "gif"]),  # unknown kind
        ({"audio": "silence"}, ["body", "media_replies", "audio"]),  # audio is asked to be typed
        ({"sticker": "silent"}, ["body", "media_replies", "sticker"]),  # unknown behaviour
        ({"document": "ignore"}, ["body", "media_replies", "document"]),
        ({"document": ""}, ["body", "media_replies", "document"]),
        ({"document": "   "}, ["body", "media_replies", "document"]),
        ({"document": True}, ["body", "media_replies", "document"]),
        ({"document": "x" * 1001}, ["body", "media_replies", "document"]),
        ({"video": "a\u0000b"}, ["body", "media_replies", "video"]),
        ({"audio_fallback": "silence"}, ["body", "media_replies", "audio_fallback"]),
        ({"image_fallback": "acknowledge"}, ["body", "media_replies", "image_fallback"]),
        (["document"], ["body", "media_replies"]),
    ],
)
async def test_unknown_kinds_and_behaviours_are_refused_with_the_usual_error_body(
    shared_api: Api, tenant: TenantKey, media_replies: Any, location: list[str]
) -> None:
    client, headers = shared_api.client, tenant.headers
    name = f"p-{uuid.uuid4().hex[:8]}"
    refused = await client.post(
        "/personas", json={"name": name, "media_replies": media_replies}, headers=headers
    )
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "validation_error"
    assert any(detail["location"][: len(location)] == location for detail in error["details"]), error
    # Nothing was created; a change is refused the same way and changes nothing.
    assert name not in [
        item["name"] for item in (await client.get("/personas", headers=headers)).json()["items"]
    ]
    persona = (
        await client.post(
            "/personas", json={"name": name, "media_replies": {"document": "silence"}}, headers=headers
        )
    ).json()
    changed = await client.patch(
        f"/personas/{persona['id']}", json={"media_replies": media_replies}, headers=headers
    )
    assert (changed.status_code, changed.json()["error"]["code"]) == (422, "validation_error")
    assert (await client.get(f"/personas/{persona['id']}", headers=headers)).json()["media_replies"] == {
        "document": "silence"
    }
