"""Instances against the real stack: the simulator over HTTP, ingest processing its webhooks."""

from __future__ import annotations

import uuid

import httpx
import pytest
from pydantic import SecretStr

from evolution_client import ConnectionState, EvolutionClient, EvolutionSettings
from instance_lifecycle import Trigger
from testkit import wait_until

from .conftest import (
    Api,
    ApiFactory,
    Stack,
    TenantKey,
    connected_instance,
    instance_name,
    qr_webhook_delivered,
)

pytestmark = pytest.mark.integration


async def _state(api: Api, tenant: TenantKey, instance_id: str) -> str:
    response = await api.client.get(f"/instances/{instance_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    state: str = response.json()["state"]
    return state


async def test_create_qr_scan_connected(shared_api: Api, stack: Stack, tenant: TenantKey) -> None:
    name = instance_name()
    created = await shared_api.client.post("/instances", json={"name": name}, headers=tenant.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["state"] == "open"
    assert body["qr_expires_at"] is not None
    assert "token" not in body
    assert "webhook_secret" not in body
    instance_id = body["id"]

    row = await shared_api.pool.fetchrow("SELECT * FROM instances WHERE id = $1", uuid.UUID(instance_id))
    assert row is not None
    assert row["webhook_auth"] == "jwt"
    assert len(row["webhook_secret"]) >= 32
    assert row["token"]

    qr = await shared_api.client.get(f"/instances/{instance_id}/qr", headers=tenant.headers)
    assert qr.status_code == 200, qr.text
    assert qr.json()["connected"] is False
    assert qr.json()["qr_data_url"].startswith("data:image/png;base64,")

    await stack.scan(name)
    # Ingest applies the `connection.update open` webhook through the state machine.
    await wait_until(
        lambda: _is(shared_api, tenant, instance_id, "connected"), timeout=15, message="connected via ingest"
    )
    status = await shared_api.client.get(f"/instances/{instance_id}/status", headers=tenant.headers)
    assert status.status_code == 200, status.text
    assert status.json()["state"] == "connected"
    assert status.json()["connected"] is True
    assert status.json()["evolution_state"] == "open"
    connected_qr = await shared_api.client.get(f"/instances/{instance_id}/qr", headers=tenant.headers)
    assert connected_qr.json()["connected"] is True


async def _is(api: Api, tenant: TenantKey, instance_id: str, state: str) -> bool:
    return await _state(api, tenant, instance_id) == state


async def test_status_refresh_alone_connects_when_the_webhook_is_lost(
    shared_api: Api, stack: Stack, tenant: TenantKey
) -> None:
    name = instance_name()
    created = await shared_api.client.post(
        "/instances", json={"name": name, "webhook_auth": "header"}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    instance_id = created.json()["id"]
    async with httpx.AsyncClient(base_url=stack.simulator_url) as sim:
        await sim.post("/_sim/faults", json={"webhook": {"drop_next": 1}})
    await stack.scan(name)
    status = await shared_api.client.get(f"/instances/{instance_id}/status", headers=tenant.headers)
    assert status.json()["state"] == "connected"


class _AnsweredBeforeTheConnectionDropped:
    """Evolution answers `connectionState` (`open`), then, while the answer is on its way, the
    number is logged out and ingest applies the `connection.update close` (401) webhook."""

    def __init__(self, real: EvolutionClient, stack: Stack, name: str) -> None:
        self.real, self.stack, self.name = real, stack, name

    async def connection_state(self, instance: str, *, token: str | None = None) -> ConnectionState:
        answer = await self.real.connection_state(instance, token=token)
        await self.stack.disconnect(self.name, 401)  # logged out on the phone
        return answer


async def test_a_status_refresh_overtaken_by_a_webhook_does_not_walk_the_instance_back(
    shared_api: Api, stack: Stack, tenant: TenantKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = await connected_instance(shared_api, stack, tenant)
    service = shared_api.app.state.context.instances
    monkeypatch.setattr(
        service, "evolution", _AnsweredBeforeTheConnectionDropped(service.evolution, stack, instance["name"])
    )

    status = await shared_api.client.get(f"/instances/{instance['id']}/status", headers=tenant.headers)

    assert status.status_code == 200, status.text
    assert status.json()["evolution_state"] == "open"  # what Evolution said when asked
    # The webhook is newer news: the stale `open` did not reconnect the instance.
    assert status.json()["state"] == "disconnected"
    assert await _state(shared_api, tenant, instance["id"]) == "disconnected"
    # (A refresh no webhook overtook is applied: `test_status_refresh_alone_connects_…`.)


async def test_qr_expiry_then_a_new_qr_opens_it_again(
    shared_api: Api, stack: Stack, tenant: TenantKey
) -> None:
    name = instance_name()
    created = await shared_api.client.post("/instances", json={"name": name}, headers=tenant.headers)
    instance_id = created.json()["id"]
    # Ingest records the same QR from its `qrcode.updated` webhook (restarting its lifetime).
    await qr_webhook_delivered(stack, name)
    # Two minutes pass without a scan (the deadline is moved instead of waiting for it).
    await shared_api.pool.execute(
        "UPDATE instances SET qr_expires_at = now() - interval '1 second' WHERE id = $1",
        uuid.UUID(instance_id),
    )
    await wait_until(lambda: _is(shared_api, tenant, instance_id, "expired"), timeout=10, message="expired")
    transitions = await shared_api.pool.fetch(
        "SELECT previous, current, trigger, applied FROM instance_transitions"
        " WHERE instance_id = $1 ORDER BY id",
        uuid.UUID(instance_id),
    )
    assert ("open", "expired", "qr_expired", True) in [tuple(row) for row in transitions]
    qr = await shared_api.client.get(f"/instances/{instance_id}/qr", headers=tenant.headers)
    assert qr.status_code == 200
    assert qr.json()["state"] == "open"
    assert qr.json()["qr_data_url"]
    assert await _state(shared_api, tenant, instance_id) == "open"


async def test_qr_expiry_is_applied_once_across_replicas(
    make_api: ApiFactory, stack: Stack, tenant: TenantKey
) -> None:
    # Two replicas sweep the same database.
    first, _second = await make_api(), await make_api()
    name = instance_name()
    created = await first.client.post("/instances", json={"name": name}, headers=tenant.headers)
    instance_id = uuid.UUID(created.json()["id"])
    await qr_webhook_delivered(stack, name)
    await first.pool.execute(
        "UPDATE instances SET qr_expires_at = now() - interval '1 second' WHERE id = $1", instance_id
    )
    await wait_until(lambda: _is(first, tenant, str(instance_id), "expired"), timeout=10, message="expired")
    applied = await first.pool.fetchval(
        "SELECT count(*) FROM instance_transitions"
        " WHERE instance_id = $1 AND trigger = 'qr_expired' AND applied",
        instance_id,
    )
    assert applied == 1


async def test_illegal_transitions_are_refused_and_recorded(shared_api: Api, tenant: TenantKey) -> None:
    created = await shared_api.client.post(
        "/instances", json={"name": instance_name()}, headers=tenant.headers
    )
    instance_id = uuid.UUID(created.json()["id"])
    service = shared_api.app.state.context.instances
    # `created` only applies to an instance being created; this one is open.
    outcome = await service.apply(instance_id, Trigger.CREATED)
    assert outcome is not None
    assert outcome.plan.refused
    assert outcome.staged == []
    assert await _state(shared_api, tenant, str(instance_id)) == "open"
    refused = await shared_api.pool.fetchrow(
        "SELECT previous, current, applied FROM instance_transitions"
        " WHERE instance_id = $1 AND trigger = 'created'"
        " ORDER BY id DESC LIMIT 1",
        instance_id,
    )
    assert refused is not None
    assert tuple(refused) == ("open", "open", False)
    # With `only_if_legal` an illegal report is skipped without being recorded at all.
    assert await service.apply(instance_id, Trigger.EVOLUTION_CLOSED, only_if_legal=True) is None


async def test_delete_logs_out_deletes_at_evolution_and_frees_the_name(
    shared_api: Api, stack: Stack, tenant: TenantKey
) -> None:
    instance = await connected_instance(shared_api, stack, tenant)
    deleted = await shared_api.client.delete(f"/instances/{instance['id']}", headers=tenant.headers)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["state"] == "removed"
    path = [
        tuple(row)
        for row in await shared_api.pool.fetch(
            "SELECT previous, current FROM instance_transitions WHERE instance_id = $1 AND applied"
            " AND trigger LIKE 'operator%' ORDER BY id",
            uuid.UUID(instance["id"]),
        )
    ]
    assert path == [("connected", "closed"), ("closed", "removed")]
    async with httpx.AsyncClient(base_url=stack.simulator_url) as sim:
        names = [item["name"] for item in (await sim.get("/_sim/instances")).json()]
    assert instance["name"] not in names
    assert (
        await shared_api.client.get(f"/instances/{instance['id']}", headers=tenant.headers)
    ).status_code == 404
    # No alert: the logout was the operator's own doing.
    assert (
        await shared_api.pool.fetchval(
            "SELECT count(*) FROM instance_transitions"
            " WHERE instance_id = $1 AND applied AND reason = 'logged_out'",
            uuid.UUID(instance["id"]),
        )
        == 0
    )
    again = await shared_api.client.post(
        "/instances", json={"name": instance["name"]}, headers=tenant.headers
    )
    assert again.status_code == 201, again.text


async def test_creation_errors_are_clear(
    make_api: ApiFactory, shared_api: Api, stack: Stack, tenant: TenantKey
) -> None:
    name = instance_name()
    first = await shared_api.client.post("/instances", json={"name": name}, headers=tenant.headers)
    assert first.status_code == 201
    taken = await shared_api.client.post("/instances", json={"name": name}, headers=tenant.headers)
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "instance_name_taken")
    bad = await shared_api.client.post("/instances", json={"name": "../etc"}, headers=tenant.headers)
    assert bad.status_code == 422

    # A name Evolution already has (created there by someone else): 409, and the row is removed.
    outside = instance_name("outside")
    async with httpx.AsyncClient(base_url=stack.simulator_url) as sim:
        made = await sim.post(
            "/instance/create",
            json={"instanceName": outside, "integration": "WHATSAPP-BAILEYS"},
            headers={"apikey": "sim-global-key"},
        )
        assert made.status_code == 201
    clash = await shared_api.client.post("/instances", json={"name": outside}, headers=tenant.headers)
    assert (clash.status_code, clash.json()["error"]["code"]) == (409, "evolution_forbidden")
    assert await shared_api.pool.fetchval("SELECT state FROM instances WHERE name = $1", outside) == "removed"

    # Evolution unreachable: 502, nothing left half-created.
    down = await make_api(
        evolution=EvolutionSettings(base_url="http://127.0.0.1:1", api_key=SecretStr("sim-global-key"))
    )
    unreachable = instance_name()
    failed = await down.client.post("/instances", json={"name": unreachable}, headers=tenant.headers)
    assert (failed.status_code, failed.json()["error"]["code"]) == (502, "evolution_unavailable")
    assert await down.pool.fetchval("SELECT state FROM instances WHERE name = $1", unreachable) == "removed"
    status = await down.client.get(f"/instances/{first.json()['id']}/status", headers=tenant.headers)
    assert status.status_code == 502

    # Evolution says the instance does not exist any more: 409.
    async with httpx.AsyncClient(base_url=stack.simulator_url) as sim:
        await sim.delete(f"/instance/delete/{name}", headers={"apikey": "sim-global-key"})
    missing = await shared_api.client.get(f"/instances/{first.json()['id']}/status", headers=tenant.headers)
    assert (missing.status_code, missing.json()["error"]["code"]) == (409, "evolution_instance_missing")
