"""Between its own instances the simulator behaves like WhatsApp: sends arrive, acks come back."""

from __future__ import annotations

from typing import Any

from simulator.messages import fake_owner_number

from .conftest import Receiver, Sim


async def _pair(sim: Sim, receiver: Receiver) -> tuple[str, str]:
    for name in ("demo-1", "demo-2"):
        await sim.create(name, webhook={"url": f"{receiver.url}/{name}"})
    rows = {row["name"]: row for row in (await sim.client.get("/_sim/instances")).json()}
    return rows["demo-1"]["owner_jid"], rows["demo-2"]["owner_jid"]


def _at(receiver: Receiver, name: str, event: str) -> list[dict[str, Any]]:
    return [item.json() for item in receiver.at(f"/{name}") if item.json()["event"] == event]


async def test_demo_instances_have_distinct_numbers() -> None:
    assert fake_owner_number("demo-1") != fake_owner_number("demo-2")


async def test_a_send_to_another_instance_arrives_there_and_is_acked(sim: Sim, receiver: Receiver) -> None:
    jid_1, jid_2 = await _pair(sim, receiver)
    assert jid_1 != jid_2
    sent = (await sim.send_text("demo-1", number=jid_2.split("@")[0], text="Oi, tudo bem?")).json()
    await receiver.wait_for("messages.update")
    await sim.settled()

    [arrived] = _at(receiver, "demo-2", "messages.upsert")
    assert arrived["instance"] == "demo-2"
    data = arrived["data"]
    assert data["key"] == {
        "remoteJid": jid_1,
        "fromMe": False,
        "id": sent["key"]["id"],
        "addressingMode": "pn",
    }
    assert data["message"]["conversation"] == "Oi, tudo bem?"
    assert data["status"] == "DELIVERY_ACK"
    # The sender sees its echo, then the delivery ack; the peer sees no echo of someone else's send.
    message_events = {"send.message", "messages.update", "messages.upsert"}
    events_1 = [item.json()["event"] for item in receiver.at("/demo-1")]
    assert [event for event in events_1 if event in message_events] == ["send.message", "messages.update"]
    [ack] = _at(receiver, "demo-1", "messages.update")
    assert ack["data"]["keyId"] == sent["key"]["id"]
    assert ack["data"]["status"] == "DELIVERY_ACK"
    [relayed] = (await sim.client.get("/_sim/relayed")).json()
    assert relayed | {"at": None} == {
        "from": "demo-1",
        "to": "demo-2",
        "id": sent["key"]["id"],
        "text": "Oi, tudo bem?",
        "outcome": "delivered",
        "at": None,
    }


async def test_a_dropped_direction_is_sent_but_never_arrives_nor_acked(sim: Sim, receiver: Receiver) -> None:
    jid_1, jid_2 = await _pair(sim, receiver)
    faults = await sim.client.post(
        "/_sim/faults", json={"deliveries": {"drop_from": "demo-1", "to": "demo-2"}}
    )
    assert faults.status_code == 200
    assert faults.json()["deliveries"] == {"drop_from": "demo-1", "to": "demo-2"}

    lost = await sim.send_text("demo-1", number=jid_2.split("@")[0], text="alguém aí?")
    assert lost.status_code == 201  # WhatsApp accepted it; it just never arrives
    back = await sim.send_text("demo-2", number=jid_1.split("@")[0], text="oi!")
    assert back.status_code == 201
    await receiver.wait_for("messages.update")
    await sim.settled()

    assert _at(receiver, "demo-2", "messages.upsert") == []
    assert _at(receiver, "demo-1", "messages.update") == []
    assert [
        item["data"]["message"]["conversation"] for item in _at(receiver, "demo-1", "messages.upsert")
    ] == ["oi!"]
    outcomes = {row["text"]: row["outcome"] for row in (await sim.client.get("/_sim/relayed")).json()}
    assert outcomes == {"alguém aí?": "dropped", "oi!": "delivered"}
    assert (await sim.client.get("/_sim/relayed?outcome=dropped&from=demo-1")).json()[0]["to"] == "demo-2"

    cleared = await sim.client.post("/_sim/faults", json={"deliveries": None})
    assert "deliveries" not in cleared.json()
    await sim.send_text("demo-1", number=jid_2.split("@")[0], text="agora vai")
    await sim.settled()
    assert [
        item["data"]["message"]["conversation"] for item in _at(receiver, "demo-2", "messages.upsert")
    ] == ["agora vai"]


async def test_one_sided_delivery_faults_and_their_validation(sim: Sim, receiver: Receiver) -> None:
    _, jid_2 = await _pair(sim, receiver)
    await sim.create("demo-3", webhook={"url": f"{receiver.url}/demo-3"})
    await sim.client.post("/_sim/faults", json={"deliveries": {"to": "demo-2"}})
    await sim.send_text("demo-3", number=jid_2.split("@")[0], text="de 3")
    await sim.settled()
    assert (await sim.client.get("/_sim/relayed")).json()[0]["outcome"] == "dropped"
    bad = await sim.client.post("/_sim/faults", json={"deliveries": {"drop_for": "demo-1"}})
    assert bad.status_code == 422


async def test_a_peer_that_is_not_connected_receives_nothing(sim: Sim, receiver: Receiver) -> None:
    _, jid_2 = await _pair(sim, receiver)
    await sim.client.post("/_sim/instances/demo-2/disconnect", json={"reason": 401})
    receiver.requests.clear()
    await sim.send_text("demo-1", number=jid_2.split("@")[0], text="oi?")
    await sim.settled()
    assert _at(receiver, "demo-2", "messages.upsert") == []
    assert _at(receiver, "demo-1", "messages.update") == []
    assert (await sim.client.get("/_sim/relayed")).json()[0]["outcome"] == "offline"


async def test_reset_clears_the_relay_log_and_delivery_faults(sim: Sim, receiver: Receiver) -> None:
    _, jid_2 = await _pair(sim, receiver)
    await sim.client.post("/_sim/faults", json={"deliveries": {"drop_from": "demo-1"}})
    await sim.send_text("demo-1", number=jid_2.split("@")[0], text="oi")
    await sim.settled()
    await sim.client.post("/_sim/reset")
    assert (await sim.client.get("/_sim/relayed")).json() == []
    assert set((await sim.client.get("/_sim/faults")).json()) == {
        "sendText",
        "sendPresence",
        "completions",
        "webhook",
    }
