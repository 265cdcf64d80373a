"""Conversations (read, guard decisions, operator controls), personas and the blacklist."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from database import Pool

from .conftest import Api, Stack, TenantKey, connected_instance, inbound

pytestmark = pytest.mark.integration


async def test_conversations_list_filters_and_messages_with_guard_decisions(
    shared_api: Api, stack: Stack, tenant: TenantKey, db_pool: Pool
) -> None:
    client, headers = shared_api.client, tenant.headers
    first = await connected_instance(shared_api, stack, tenant)
    # Connected through ingest authenticating the static secret header instead of a JWT.
    second = await connected_instance(shared_api, stack, tenant, webhook_auth="header")
    sent = await inbound(stack, first["name"], "5511977770001", "quero saber o preço")
    await inbound(stack, second["name"], "5511977770002", "bom dia")

    listed = await client.get("/conversations", headers=headers)
    assert listed.status_code == 200
    assert len(listed.json()["items"]) == 2
    by_instance = await client.get("/conversations", params={"instance_id": first["id"]}, headers=headers)
    [conversation] = by_instance.json()["items"]
    assert conversation["contact"]["phone"] == "5511977770001"
    assert conversation["state"] == "active"
    by_phone = await client.get(
        "/conversations", params={"contact_phone": "+55 (11) 97777-0002"}, headers=headers
    )
    assert [item["instance_id"] for item in by_phone.json()["items"]] == [second["id"]]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await client.get("/conversations", params={"since": future}, headers=headers)).json()[
        "items"
    ] == []

    # The guard's decision (guard-owned, written here as the guard would) is shown with its reason.
    message_id = await db_pool.fetchval("SELECT id FROM messages WHERE provider_id = $1", sent["id"])
    await db_pool.execute(
        "INSERT INTO guard_decisions (message_id, tenant_id, conversation_id, decision, reason)"
        " VALUES ($1, $2, $3, 'ignored', 'group_chat')",
        message_id,
        tenant.id,
        uuid.UUID(conversation["id"]),
    )
    messages = await client.get(f"/conversations/{conversation['id']}/messages", headers=headers)
    assert messages.status_code == 200
    [message] = messages.json()["items"]
    assert message["text"] == "quero saber o preço"
    assert message["guard"]["decision"] == "ignored"
    assert message["guard"]["reason"] == "group_chat"

    # Operator actions land in conversation_controls, which the guard reads.
    paused = await client.post(f"/conversations/{conversation['id']}/pause", headers=headers)
    assert (paused.json()["state"], paused.json()["bot_paused"]) == ("paused", True)
    assert (await client.get("/conversations", params={"state": "paused"}, headers=headers)).json()["items"][
        0
    ]["id"] == conversation["id"]
    resumed = await client.post(f"/conversations/{conversation['id']}/resume", headers=headers)
    assert (resumed.json()["state"], resumed.json()["bot_paused"]) == ("active", False)
    assert resumed.json()["resumed_at"] is not None

    # A guard block is lifted by unblock.
    await db_pool.execute(
        "INSERT INTO conversation_guard_state"
        " (conversation_id, tenant_id, blocked_at, block_reason, loop_count)"
        " VALUES ($1, $2, now() - interval '1 minute', 'bot_loop', 4)",
        uuid.UUID(conversation["id"]),
        tenant.id,
    )
    blocked = await client.get(f"/conversations/{conversation['id']}", headers=headers)
    assert (blocked.json()["state"], blocked.json()["loop_count"]) == ("blocked", 4)
    unblocked = await client.post(f"/conversations/{conversation['id']}/unblock", headers=headers)
    assert unblocked.json()["state"] == "active"
    controls = await db_pool.fetchrow(
        "SELECT * FROM conversation_controls WHERE conversation_id = $1", uuid.UUID(conversation["id"])
    )
    assert controls is not None
    assert controls["tenant_id"] == tenant.id
    assert controls["bot_paused"] is False
    assert controls["unblocked_at"] > controls["resumed_at"] - timedelta(seconds=1)


async def test_personas_crud_with_brazilian_portuguese_defaults(shared_api: Api, tenant: TenantKey) -> None:
    client, headers = shared_api.client, tenant.headers
    created = await client.post("/personas", json={"name": "Carla"}, headers=headers)
    assert created.status_code == 201, created.text
    persona = created.json()
    assert persona["language"] == "pt-BR"
    assert "Você" in persona["system_prompt"]
    assert (persona["max_length"], persona["emoji"], persona["model"]) == (600, True, None)
    duplicate = await client.post("/personas", json={"name": "Carla"}, headers=headers)
    assert (duplicate.status_code, duplicate.json()["error"]["code"]) == (409, "persona_name_taken")
    changed = await client.patch(
        f"/personas/{persona['id']}",
        json={"temperature": 0.2, "model": "gpt-4o-mini", "emoji": False},
        headers=headers,
    )
    assert changed.status_code == 200
    assert (changed.json()["model"], changed.json()["emoji"]) == ("gpt-4o-mini", False)
    assert abs(changed.json()["temperature"] - 0.2) < 1e-6
    invalid = await client.post("/personas", json={"name": "x", "temperature": 3}, headers=headers)
    assert (invalid.status_code, invalid.json()["error"]["code"]) == (422, "validation_error")
    nul = await client.post("/personas", json={"name": "a\u0000b"}, headers=headers)
    assert nul.status_code == 422
    listed = await client.get("/personas", headers=headers)
    assert [item["name"] for item in listed.json()["items"]] == ["Carla"]
    assert (await client.delete(f"/personas/{persona['id']}", headers=headers)).status_code == 204
    assert (await client.get(f"/personas/{persona['id']}", headers=headers)).status_code == 404


async def test_instance_persona_is_set_and_cleared(shared_api: Api, tenant: TenantKey) -> None:
    client, headers = shared_api.client, tenant.headers
    persona = (await client.post("/personas", json={"name": "Duda"}, headers=headers)).json()
    instance = (
        await client.post("/instances", json={"name": f"p-{uuid.uuid4().hex[:8]}"}, headers=headers)
    ).json()
    set_ = await client.put(
        f"/instances/{instance['id']}/persona", json={"persona_id": persona["id"]}, headers=headers
    )
    assert set_.json()["persona_id"] == persona["id"]
    cleared = await client.put(
        f"/instances/{instance['id']}/persona", json={"persona_id": None}, headers=headers
    )
    assert cleared.json()["persona_id"] is None


async def test_blacklist_stores_digits_and_is_idempotent(
    shared_api: Api, tenant: TenantKey, db_pool: Pool
) -> None:
    client, headers = shared_api.client, tenant.headers
    added = await client.post(
        "/blacklist", json={"phone": "+55 (11) 96666-0001", "reason": "pediu"}, headers=headers
    )
    assert added.status_code == 201
    assert added.json()["phone"] == "5511966660001"
    again = await client.post("/blacklist", json={"phone": "5511966660001"}, headers=headers)
    assert again.status_code == 200
    assert again.json()["reason"] == "pediu"
    assert await db_pool.fetchval("SELECT count(*) FROM blacklist WHERE tenant_id = $1", tenant.id) == 1
    assert (await client.post("/blacklist", json={"phone": "12"}, headers=headers)).status_code == 422
    listed = await client.get("/blacklist", params={"phone": "55 11 96666 0001"}, headers=headers)
    assert [item["phone"] for item in listed.json()["items"]] == ["5511966660001"]
    assert (await client.delete("/blacklist/+5511966660001", headers=headers)).status_code == 204
    assert (await client.delete("/blacklist/5511966660001", headers=headers)).status_code == 404
