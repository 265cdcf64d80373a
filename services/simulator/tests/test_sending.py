"""sendText end to end: the answer, the sent log, the send.message echo and the ack."""

from __future__ import annotations

import asyncio
import time

from .conftest import GLOBAL, Receiver, Sim, SimFactory


async def test_send_text_is_logged_echoed_and_acked(sim: Sim, receiver: Receiver) -> None:
    created = await sim.create("loja", webhook={"url": f"{receiver.url}/hook", "byEvents": True})
    response = await sim.send_text("loja", number="5511999990001", text="Bom dia!", delay=10)
    assert response.status_code == 201
    sent = response.json()

    [echo] = await receiver.wait_for("send.message")
    assert echo["data"] == sent
    assert echo["sender"] == (await sim.client.get("/_sim/instances")).json()[0]["owner_jid"]
    assert receiver.at("/hook/send-message")

    [ack] = await receiver.wait_for("messages.update")
    assert receiver.at("/hook/messages-update")
    assert ack["data"]["keyId"] == sent["key"]["id"]
    assert ack["data"]["remoteJid"] == "5511999990001@s.whatsapp.net"
    assert ack["data"]["fromMe"] is True
    assert ack["data"]["status"] == "DELIVERY_ACK"
    assert ack["data"]["instanceId"] == created["instance"]["instanceId"]
    assert isinstance(ack["data"]["messageId"], str)
    # The echo arrives before its ack.
    events = [item.json()["event"] for item in receiver.requests]
    assert events.index("send.message") < events.index("messages.update")

    [row] = (await sim.client.get("/_sim/sent")).json()
    assert row["instance"] == "loja"
    assert row["number"] == "5511999990001"
    assert row["text"] == "Bom dia!"
    assert row["delay"] == 10
    assert row["id"] == sent["key"]["id"]
    assert row["at"].endswith("Z")


async def test_read_ack_when_configured(make_sim: SimFactory, receiver: Receiver) -> None:
    sim = await make_sim(read_ack_delay_ms=10)
    await sim.create("loja", webhook={"url": f"{receiver.url}/hook"})
    await sim.send_text("loja", number="5511999990001", text="oi")
    updates = await receiver.wait_for("messages.update", count=2)
    assert [item["data"]["status"] for item in updates] == ["DELIVERY_ACK", "READ"]
    assert updates[0]["data"]["messageId"] == updates[1]["data"]["messageId"]


async def test_sent_log_matches_digits_and_jids(sim: Sim) -> None:
    await sim.create("um")
    await sim.create("dois")
    await sim.send_text("um", number="5511999990001", text="a")
    await sim.send_text("um", number="5511999990002@s.whatsapp.net", text="b")
    await sim.send_text("dois", number="+55 (11) 99999-0001", text="c")

    async def texts(query: str) -> list[str]:
        return [row["text"] for row in (await sim.client.get(f"/_sim/sent{query}")).json()]

    assert await texts("") == ["a", "b", "c"]
    assert await texts("?number=5511999990001") == ["a", "c"]
    assert await texts("?number=5511999990001@s.whatsapp.net") == ["a", "c"]
    assert await texts("?number=5511999990002") == ["b"]
    assert await texts("?number=%2B5511999990002") == ["b"]
    assert await texts("?instance=dois") == ["c"]
    assert await texts("?instance=um&number=5511999990001") == ["a"]
    rows = (await sim.client.get("/_sim/sent?number=5511999990002")).json()
    assert rows[0]["number"] == "5511999990002"


async def test_brazilian_ninth_digit_is_normalised_like_create_jid(sim: Sim) -> None:
    await sim.create("loja")
    response = await sim.send_text("loja", number="5531988887777", text="oi")
    assert response.json()["key"]["remoteJid"] == "553188887777@s.whatsapp.net"
    for query in ("5531988887777", "553188887777@s.whatsapp.net"):
        rows = (await sim.client.get(f"/_sim/sent?number={query}")).json()
        assert [row["text"] for row in rows] == ["oi"], query


async def test_send_text_fail_next_fault(sim: Sim) -> None:
    await sim.create("loja")
    faults = await sim.client.post("/_sim/faults", json={"sendText": {"fail_next": 2, "status": 503}})
    assert faults.json()["sendText"]["fail_next"] == 2
    for _ in range(2):
        failed = await sim.send_text("loja", number="5511999990001", text="oi")
        assert failed.status_code == 503
        assert failed.json()["status"] == 503
        assert failed.json()["error"] == "Service Unavailable"
        assert isinstance(failed.json()["response"]["message"], list)
    ok = await sim.send_text("loja", number="5511999990001", text="oi")
    assert ok.status_code == 201
    assert len((await sim.client.get("/_sim/sent")).json()) == 1


async def test_send_text_latency_fault(sim: Sim) -> None:
    await sim.create("loja")
    await sim.client.post("/_sim/faults", json={"sendText": {"latency_ms": 300}})
    started = time.monotonic()
    response = await sim.send_text("loja", number="5511999990001", text="oi")
    assert response.status_code == 201
    assert time.monotonic() - started >= 0.3
    # Merging keeps the latency while adding a failure.
    merged = await sim.client.post("/_sim/faults", json={"sendText": {"fail_next": 1}})
    assert merged.json()["sendText"] == {
        "fail_next": 1,
        "status": 500,
        "message": "Simulated failure (fault injection)",
        "latency_ms": 300,
    }


async def test_concurrent_sends_each_get_a_unique_id(sim: Sim) -> None:
    await sim.create("loja")
    responses = await asyncio.gather(
        *(sim.send_text("loja", number=f"55119999900{i:02d}", text=f"m{i}") for i in range(50))
    )
    assert all(item.status_code == 201 for item in responses)
    assert len({item.json()["key"]["id"] for item in responses}) == 50
    assert len((await sim.client.get("/_sim/sent")).json()) == 50


async def test_send_presence_faults(sim: Sim) -> None:
    await sim.create("loja")
    await sim.client.post("/_sim/faults", json={"sendPresence": {"fail_next": 1, "status": 500}})
    body = {"number": "5511999990001", "presence": "composing", "delay": 0}
    failed = await sim.client.post("/chat/sendPresence/loja", json=body, headers=GLOBAL)
    assert failed.status_code == 500
    ok = await sim.client.post("/chat/sendPresence/loja", json=body, headers=GLOBAL)
    assert ok.status_code == 201
