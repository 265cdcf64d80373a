"""Instances survive a restart with `state_file`; seeded instances exist at start-up."""

from __future__ import annotations

from pathlib import Path

import orjson

from simulator.settings import SeedInstance
from testkit import wait_until

from .conftest import GLOBAL, Receiver, SimFactory


async def test_instances_survive_a_restart(make_sim: SimFactory, tmp_path: Path) -> None:
    state_file = tmp_path / "sim" / "state.json"
    first = await make_sim(state_file=state_file)
    created = await first.create("loja", webhook={"url": "http://127.0.0.1:9/hook", "byEvents": True})
    await first.create("pendente", scan=False)
    await first.client.post(
        "/webhook/set/pendente",
        json={"webhook": {"enabled": True, "url": "http://127.0.0.1:9/other", "headers": {"a": "b"}}},
        headers=GLOBAL,
    )
    # The store writes in the background, off the event loop.

    def saved() -> bool:
        if not state_file.exists():
            return False
        instances = orjson.loads(state_file.read_bytes())["instances"]
        return [item["name"] for item in instances] == ["loja", "pendente"] and bool(instances[1]["webhook"])

    await wait_until(saved, message="both instances saved")
    restarted = await make_sim(state_file=state_file)
    restored = (await restarted.client.get("/instance/fetchInstances", headers=GLOBAL)).json()
    assert [row["name"] for row in restored] == ["loja", "pendente"]
    assert restored[0]["token"] == created["hash"]
    assert restored[0]["id"] == created["instance"]["instanceId"]
    assert restored[0]["connectionStatus"] == "open"
    assert restored[1]["connectionStatus"] == "close"
    hook = (await restarted.client.get("/webhook/find/pendente", headers=GLOBAL)).json()
    assert hook["url"] == "http://127.0.0.1:9/other"
    assert hook["headers"] == {"a": "b"}
    own = await restarted.client.get("/instance/connectionState/loja", headers={"apikey": created["hash"]})
    assert own.json()["instance"]["state"] == "open"


async def test_seeded_instances_are_connected_and_survive_reset(
    make_sim: SimFactory, receiver: Receiver
) -> None:
    sim = await make_sim(
        seed_instances=[
            SeedInstance(
                name="demo-1",
                token="demo-1-token",
                number="5511900000001",
                webhook_url=f"{receiver.url}/webhook/evolution",
                webhook_by_events=True,
            ),
            SeedInstance(name="demo-2", connected=False),
        ]
    )
    state = await sim.client.get("/instance/connectionState/demo-1", headers={"apikey": "demo-1-token"})
    assert state.json()["instance"]["state"] == "open"
    closed = await sim.client.get("/instance/connectionState/demo-2", headers=GLOBAL)
    assert closed.json()["instance"]["state"] == "close"
    await sim.client.post("/_sim/reset")
    inbound = await sim.client.post(
        "/_sim/instances/demo-1/inbound", json={"from": "5511999990001", "text": "oi"}
    )
    assert inbound.json()["status"] == 200
    [upsert] = receiver.events("messages.upsert")
    assert upsert["sender"] == "5511900000001@s.whatsapp.net"
    assert receiver.at("/webhook/evolution/messages-upsert")
