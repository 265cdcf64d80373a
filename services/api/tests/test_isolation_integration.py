"""Tenant isolation: another tenant's ids answer 404 everywhere, never 403 and never data."""

from __future__ import annotations

import uuid

import pytest

from database import Pool

from .conftest import Api, Stack, TenantKey, connected_instance, inbound

pytestmark = pytest.mark.integration


async def test_another_tenants_resources_are_404(
    shared_api: Api, stack: Stack, tenant: TenantKey, other_tenant: TenantKey, db_pool: Pool
) -> None:
    client = shared_api.client
    instance = await connected_instance(shared_api, stack, tenant)
    persona = await client.post("/personas", json={"name": "Bia"}, headers=tenant.headers)
    assert persona.status_code == 201
    persona_id = persona.json()["id"]
    await inbound(stack, instance["name"], "5511988880001", "oi, tudo bem?")
    conversations = await client.get("/conversations", headers=tenant.headers)
    [conversation] = conversations.json()["items"]
    alert_id = await db_pool.fetchval(
        "INSERT INTO admin_alerts (tenant_id, alert_key, cause, severity, title)"
        " VALUES ($1, 'k', 'send_exhausted', 'warning', 'x') RETURNING id",
        tenant.id,
    )
    mine = tenant.headers
    theirs = other_tenant.headers

    # The owner sees everything.
    for path in (
        f"/instances/{instance['id']}",
        f"/personas/{persona_id}",
        f"/conversations/{conversation['id']}",
        f"/conversations/{conversation['id']}/messages",
        f"/alerts/{alert_id}",
    ):
        assert (await client.get(path, headers=mine)).status_code == 200, path

    # Another tenant gets 404 with the one error body, on reads and on actions.
    attempts = [
        ("GET", f"/instances/{instance['id']}", None),
        ("GET", f"/instances/{instance['id']}/qr", None),
        ("GET", f"/instances/{instance['id']}/status", None),
        ("PUT", f"/instances/{instance['id']}/persona", {"persona_id": None}),
        ("DELETE", f"/instances/{instance['id']}", None),
        ("GET", f"/personas/{persona_id}", None),
        ("PATCH", f"/personas/{persona_id}", {"name": "Roubada"}),
        ("DELETE", f"/personas/{persona_id}", None),
        ("GET", f"/conversations/{conversation['id']}", None),
        ("GET", f"/conversations/{conversation['id']}/messages", None),
        ("POST", f"/conversations/{conversation['id']}/pause", None),
        ("POST", f"/conversations/{conversation['id']}/resume", None),
        ("POST", f"/conversations/{conversation['id']}/unblock", None),
        ("GET", f"/alerts/{alert_id}", None),
        ("POST", f"/alerts/{alert_id}/acknowledge", None),
    ]
    for method, path, body in attempts:
        response = await client.request(method, path, json=body, headers=theirs)
        assert response.status_code == 404, (method, path, response.text)
        assert set(response.json()) == {"error"}
        assert str(instance["id"]) not in response.text

    # Their own instance cannot take my persona either.
    own = await client.post("/instances", json={"name": f"own-{uuid.uuid4().hex[:8]}"}, headers=theirs)
    taken = await client.put(
        f"/instances/{own.json()['id']}/persona", json={"persona_id": persona_id}, headers=theirs
    )
    assert taken.status_code == 404
    assert taken.json()["error"]["code"] == "persona_not_found"

    # Lists never show another tenant's rows.
    for path in ("/instances", "/personas", "/conversations", "/alerts", "/blacklist"):
        listed = await client.get(path, headers=theirs)
        assert listed.status_code == 200
        ids = {item.get("id") for item in listed.json()["items"]}
        assert not ids & {instance["id"], persona_id, conversation["id"], str(alert_id)}, path

    # Nothing changed for the owner.
    still = await client.get(f"/instances/{instance['id']}", headers=mine)
    assert still.json()["state"] == "connected"
    assert (await client.get(f"/personas/{persona_id}", headers=mine)).json()["name"] == "Bia"
    assert (await client.get(f"/alerts/{alert_id}", headers=mine)).json()["acknowledged_at"] is None
