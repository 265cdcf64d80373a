"""Demo seeding in development: the demo tenant, its key, a persona, `demo-1`/`demo-2` connected."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiRuntime, DemoSettings
from database import Pool
from evolution_client import EvolutionSettings
from service_runtime import StartupError
from simulator.app import create_app as create_simulator_app
from testkit import free_port, wait_until
from testkit.asgi import served

from .conftest import Api, ApiFactory, Stack, simulator_settings

pytestmark = pytest.mark.integration

DEMO = {"Authorization": "Bearer demo-key"}


async def _demo_instances(api: Api) -> dict[str, Any]:
    response = await api.client.get("/instances", headers=DEMO)
    assert response.status_code == 200, response.text
    return {item["name"]: item for item in response.json()["items"]}


async def _both_connected(api: Api) -> bool:
    found = await _demo_instances(api)
    return sorted(found) == ["demo-1", "demo-2"] and all(i["state"] == "connected" for i in found.values())


async def _sim_instances(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return {item["name"]: item for item in (await client.get("/_sim/instances")).json()}


async def _counts(pool: Pool) -> tuple[int, ...]:
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM tenants WHERE slug = 'demo'),"
        " (SELECT count(*) FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE t.slug = 'demo'),"
        " (SELECT count(*) FROM personas p JOIN tenants t ON t.id = p.tenant_id WHERE t.slug = 'demo'),"
        " (SELECT count(*) FROM instances WHERE name IN ('demo-1', 'demo-2')),"
        " (SELECT count(*) FROM instances WHERE name IN ('demo-1', 'demo-2') AND state <> 'removed')"
    )
    assert row is not None
    return tuple(row)


async def test_demo_is_seeded_connected_and_survives_restarts_of_either_side(
    make_api: ApiFactory, stack: Stack, db_pool: Pool
) -> None:
    port = free_port()
    demo = DemoSettings(recheck_interval_s=0.5)
    async with served(create_simulator_app(simulator_settings()), port=port) as sim_url:
        evolution = EvolutionSettings(base_url=sim_url, api_key=SecretStr("sim-global-key"))
        api = await make_api(demo=demo, evolution=evolution)
        # Seeded before serving: connected through Evolution's own report, webhooks going to ingest.
        await wait_until(lambda: _both_connected(api), timeout=30, message="demo-1/demo-2 connected")
        found = await _demo_instances(api)
        persona_id = found["demo-1"]["persona_id"]
        assert persona_id is not None
        persona = await api.client.get(f"/personas/{persona_id}", headers=DEMO)
        assert persona.json()["language"] == "pt-BR"
        at_sim = await _sim_instances(sim_url)
        for name in ("demo-1", "demo-2"):
            assert at_sim[name]["state"] == "open"
            webhook = at_sim[name]["webhook"]
            assert webhook["url"] == f"{stack.ingest_url}/webhook/evolution"
            assert set(webhook["headers"]) == {"jwt_key"}
        assert await _counts(db_pool) == (1, 1, 1, 2, 2)

        # The api restarts: nothing is duplicated.
        again = await make_api(demo=demo, evolution=evolution)
        await wait_until(lambda: _both_connected(again), timeout=30, message="still connected")
        assert await _counts(db_pool) == (1, 1, 1, 2, 2)
        assert (await _sim_instances(sim_url)).keys() == at_sim.keys()

    # The simulator restarts without its state, on the same port: the instances come back, connected.
    async with served(create_simulator_app(simulator_settings()), port=port) as sim_url:
        await wait_until(
            lambda: _sim_open(sim_url),
            timeout=30,
            message="demo instances re-created and scanned at the simulator",
        )
        await wait_until(lambda: _both_connected(again), timeout=30, message="connected after the restart")
        assert await _counts(db_pool) == (1, 1, 1, 2, 2)


async def _sim_open(url: str) -> bool:
    found = await _sim_instances(url)
    return all(found.get(name, {}).get("state") == "open" for name in ("demo-1", "demo-2"))


async def test_default_secrets_are_refused_outside_development(stack: Stack) -> None:
    app = create_app(stack.api_settings(runtime=ApiRuntime(environment="production", log_json=False)))
    with pytest.raises(StartupError) as refused:
        async with app.router.lifespan_context(app):
            pass
    assert "MIRAGE_DEMO_API_KEY" in str(refused.value)
    assert "MIRAGE_EVOLUTION__API_KEY" in str(refused.value)
