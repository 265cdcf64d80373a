"""The `/_sim/` control API: inbound, scan, disconnect, raw forwarding, faults, reset."""

from __future__ import annotations

import time

import orjson

from .conftest import GLOBAL, Receiver, Sim


async def _hooked(sim: Sim, receiver: Receiver, name: str = "loja", by_events: bool = True) -> None:
    await sim.create(name, webhook={"url": f"{receiver.url}/hook", "byEvents": by_events})
    await receiver.wait_for("connection.update")


async def test_inbound_emits_a_realistic_upsert(sim: Sim, receiver: Receiver) -> None:
    await _hooked(sim, receiver)
    response = await sim.client.post(
        "/_sim/instances/loja/inbound", json={"from": "5511999990001", "text": "oi", "push_name": "Ana"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == 200
    assert body["body"] == {"received": True, "path": "/hook/messages-upsert"}
    [upsert] = receiver.events("messages.upsert")
    data = upsert["data"]
    assert data["key"] == {
        "remoteJid": "5511999990001@s.whatsapp.net",
        "fromMe": False,
        "id": body["id"],
        "addressingMode": "pn",
    }
    assert len(body["id"]) == 32
    assert data["pushName"] == "Ana"
    assert data["status"] == "DELIVERY_ACK"
    assert data["message"]["conversation"] == "oi"
    assert data["messageType"] == "conversation"
    assert isinstance(data["messageTimestamp"], int)
    assert abs(data["messageTimestamp"] - time.time()) < 5
    assert data["source"] == "android"
    instance = (await sim.client.get("/_sim/instances")).json()[0]
    assert data["instanceId"] == instance["id"]
    assert upsert["sender"] == instance["owner_jid"]


async def test_inbound_with_lid_id_and_timestamp(sim: Sim, receiver: Receiver) -> None:
    await _hooked(sim, receiver)
    response = await sim.client.post(
        "/_sim/instances/loja/inbound",
        json={
            "from": "5511999990001",
            "text": "oi",
            "lid": "123456789012345",
            "id": "3A0000000000000000AB",
            "timestamp": 1_700_000_000,
        },
    )
    assert response.json()["id"] == "3A0000000000000000AB"
    [upsert] = receiver.events("messages.upsert")
    data = upsert["data"]
    assert data["key"] == {
        "remoteJid": "123456789012345@lid",
        "remoteJidAlt": "5511999990001@s.whatsapp.net",
        "fromMe": False,
        "id": "3A0000000000000000AB",
        "addressingMode": "lid",
    }
    assert data["messageTimestamp"] == 1_700_000_000
    assert data["source"] == "ios"
    assert data["pushName"] is None


async def test_inbound_from_me_and_groups(sim: Sim, receiver: Receiver) -> None:
    await _hooked(sim, receiver)
    await sim.client.post(
        "/_sim/instances/loja/inbound", json={"from": "5511999990001", "text": "eu", "from_me": True}
    )
    await sim.client.post(
        "/_sim/instances/loja/inbound",
        json={"from": "5511999990002", "text": "grupo", "group": "120363000000000000"},
    )
    mine, group = (item["data"] for item in receiver.events("messages.upsert"))
    assert mine["key"]["fromMe"] is True
    assert mine["status"] == "SERVER_ACK"
    assert mine["pushName"] == "Você"
    assert group["key"]["remoteJid"] == "120363000000000000@g.us"
    assert group["key"]["participant"] == "5511999990002@s.whatsapp.net"


async def test_inbound_custom_message_content(sim: Sim, receiver: Receiver) -> None:
    await _hooked(sim, receiver)
    reaction = {"reactionMessage": {"key": {"id": "X"}, "text": "👍"}}
    await sim.client.post("/_sim/instances/loja/inbound", json={"from": "5511999990001", "message": reaction})
    [upsert] = receiver.events("messages.upsert")
    assert upsert["data"]["messageType"] == "reactionMessage"
    assert upsert["data"]["message"] == reaction


async def test_inbound_errors(sim: Sim) -> None:
    await sim.create("closed", scan=False)
    missing = await sim.client.post("/_sim/instances/closed/inbound", json={"text": "oi"})
    assert missing.status_code == 400
    assert missing.json()["response"]["message"] == [['instance requires property "from"']]
    closed = await sim.client.post(
        "/_sim/instances/closed/inbound", json={"from": "5511999990001", "text": "oi"}
    )
    assert closed.status_code == 409
    ghost = await sim.client.post(
        "/_sim/instances/ghost/inbound", json={"from": "5511999990001", "text": "oi"}
    )
    assert ghost.status_code == 404


async def test_inbound_without_webhook_still_answers(sim: Sim) -> None:
    await sim.create("loja")
    response = await sim.client.post(
        "/_sim/instances/loja/inbound", json={"from": "5511999990001", "text": "oi"}
    )
    assert response.status_code == 200
    assert response.json()["status"] is None
    assert response.json()["outcome"] == "no_webhook"
    history = (await sim.client.get("/_sim/inbound")).json()
    assert history[0]["key"]["id"] == response.json()["id"]


async def test_scan_uses_the_number_given_at_create(sim: Sim, receiver: Receiver) -> None:
    await sim.create("loja", webhook={"url": f"{receiver.url}/hook"}, number="5511977776666", scan=False)
    response = await sim.client.post("/_sim/instances/loja/scan", json={})
    assert response.json()["wuid"] == "5511977776666@s.whatsapp.net"
    assert response.json()["state"] == "open"
    state = await sim.client.get("/instance/connectionState/loja", headers=GLOBAL)
    assert state.json()["instance"]["state"] == "open"


async def test_disconnect_401_emits_close_status_and_logout(sim: Sim, receiver: Receiver) -> None:
    await _hooked(sim, receiver)
    response = await sim.client.post("/_sim/instances/loja/disconnect", json={"reason": 401})
    body = response.json()
    assert body["status"] == 200
    assert body["state"] == "close"
    assert [item["event"] for item in body["events"]] == [
        "status.instance",
        "connection.update",
        "logout.instance",
    ]
    close = receiver.events("connection.update")[-1]
    assert close["data"] == {"instance": "loja", "state": "close", "statusReason": 401}
    [status] = receiver.events("status.instance")
    assert status["data"]["status"] == "closed"
    assert status["data"]["disconnectionReasonCode"] == 401
    assert orjson.loads(status["data"]["disconnectionObject"])["error"]["output"]["statusCode"] == 401
    [logout] = receiver.events("logout.instance")
    assert logout["data"] is None
    assert receiver.at("/hook/logout-instance")
    state = await sim.client.get("/instance/connectionState/loja", headers=GLOBAL)
    assert state.json()["instance"]["state"] == "close"
    rows = (await sim.client.get("/instance/fetchInstances", headers=GLOBAL)).json()
    assert rows[0]["disconnectionReasonCode"] == 401


async def test_disconnect_refused_and_transient(sim: Sim, receiver: Receiver) -> None:
    await _hooked(sim, receiver)
    rescanned = await sim.client.post("/_sim/instances/loja/scan", json={"number": "5511955554444"})
    assert rescanned.json()["wuid"] == "5511955554444@s.whatsapp.net"
    transient = await sim.client.post("/_sim/instances/loja/disconnect", json={"reason": 515})
    # Evolution reconnects on its own: connecting, then open again, as the same phone.
    assert transient.json()["state"] == "open"
    updates = [item["data"] for item in receiver.events("connection.update")]
    assert [item["state"] for item in updates[-2:]] == ["connecting", "open"]
    assert updates[-1]["wuid"] == "5511955554444@s.whatsapp.net"
    refused = await sim.client.post("/_sim/instances/loja/disconnect", json={"reason": 428, "refused": True})
    assert refused.json()["state"] == "close"
    last = receiver.events("connection.update")[-1]["data"]
    assert last["state"] == "refused"
    assert last["statusReason"] == 428
    assert receiver.events("qrcode.updated")[-1]["data"]["statusCode"] == 500


async def test_forward_raw_webhook_malformed_body(sim: Sim, receiver: Receiver) -> None:
    await _hooked(sim, receiver)
    receiver.respond("/hook", 400)
    raw = b'{"event": "messages.upsert", "instance": 42, "data": '
    response = await sim.client.post("/_sim/webhook?instance=loja", content=raw)
    assert response.status_code == 200
    assert response.json()["status"] == 400
    assert response.json()["body"] == {"received": True, "path": "/hook"}
    forwarded = receiver.at("/hook")
    assert forwarded[-1].body == raw
    assert forwarded[-1].headers["content-type"] == "application/json"


async def test_forward_raw_webhook_uses_event_for_suffix_and_headers(sim: Sim, receiver: Receiver) -> None:
    await sim.create(
        "loja",
        webhook={"url": f"{receiver.url}/hook", "byEvents": True, "headers": {"X-Secret": "abc"}},
    )
    envelope = {
        "event": "messages.upsert",
        "instance": "loja",
        "data": {"key": {"id": "X", "remoteJid": "5511999990001@s.whatsapp.net", "fromMe": False}},
        "date_time": "2025-01-01T00:00:00.000Z",
        "sender": "5511000000000@s.whatsapp.net",
        "server_url": "http://evo",
        "apikey": None,
    }
    raw = orjson.dumps(envelope)
    response = await sim.client.post("/_sim/webhook", content=raw)
    assert response.json()["status"] == 200
    [delivered] = receiver.at("/hook/messages-upsert")
    assert delivered.body == raw
    assert delivered.headers["x-secret"] == "abc"
    # Deliver once: a failing status is reported, not retried.
    receiver.respond("/hook/messages-upsert", 500)
    failed = await sim.client.post("/_sim/webhook", content=raw)
    assert failed.json()["status"] == 500
    assert failed.json()["outcome"] == "failed"
    await sim.settled()
    assert len(receiver.at("/hook/messages-upsert")) == 2


async def test_forward_raw_webhook_errors(sim: Sim, receiver: Receiver) -> None:
    await sim.create("bare")
    unknown = await sim.client.post("/_sim/webhook", content=b"not json at all")
    assert unknown.status_code == 400
    ghost = await sim.client.post("/_sim/webhook?instance=ghost", content=b"{}")
    assert ghost.status_code == 404
    no_hook = await sim.client.post("/_sim/webhook?instance=bare", content=b"{}")
    assert no_hook.status_code == 409
    await _hooked(sim, receiver, "loja", by_events=False)
    text = await sim.client.post("/_sim/webhook?instance=loja", content=b"not json at all")
    assert text.json()["status"] == 200
    assert receiver.requests[-1].body == b"not json at all"


async def test_emit_any_event_with_an_envelope(sim: Sim, receiver: Receiver) -> None:
    await _hooked(sim, receiver)
    edited = {
        "key": {"remoteJid": "5511999990001@s.whatsapp.net", "fromMe": False, "id": "X"},
        "type": "REVOKE",
    }
    response = await sim.client.post(
        "/_sim/instances/loja/emit", json={"event": "messages.edited", "data": edited}
    )
    assert response.json()["status"] == 200
    [event] = receiver.events("messages.edited")
    assert event["data"] == edited
    assert receiver.at("/hook/messages-edited")


async def test_faults_validation_and_view(sim: Sim) -> None:
    unknown = await sim.client.post("/_sim/faults", json={"sendTxt": {"fail_next": 1}})
    assert unknown.status_code == 422
    assert unknown.json()["status"] == 422
    bad_field = await sim.client.post("/_sim/faults", json={"sendText": {"fail_nxt": 1}})
    assert bad_field.status_code == 422
    bad_value = await sim.client.post("/_sim/faults", json={"sendText": {"fail_next": -1}})
    assert bad_value.status_code == 422
    # All or nothing: the valid half of a bad body is not applied.
    mixed = await sim.client.post("/_sim/faults", json={"completions": {"latency_ms": 5}, "nope": {}})
    assert mixed.status_code == 422
    view = (await sim.client.get("/_sim/faults")).json()
    assert view["completions"]["latency_ms"] == 0
    assert set(view) == {"sendText", "sendPresence", "completions", "webhook"}
    await sim.client.post("/_sim/faults", json={"completions": {"latency_ms": 5}})
    cleared = await sim.client.post("/_sim/faults", json={"completions": None})
    assert cleared.json()["completions"]["latency_ms"] == 0


async def test_reset_keeps_instances_unless_asked(sim: Sim, receiver: Receiver) -> None:
    await _hooked(sim, receiver)
    await sim.send_text("loja", number="5511999990001", text="oi")
    await sim.client.post("/_sim/instances/loja/inbound", json={"from": "5511999990001", "text": "oi"})
    await sim.client.post("/_sim/faults", json={"sendText": {"fail_next": 5}})
    await sim.client.post("/_sim/numbers", json={"not_on_whatsapp": ["5511900000000"]})
    await sim.settled()
    reset = await sim.client.post("/_sim/reset")
    assert reset.json() == {"reset": True, "instances": 1}
    assert (await sim.client.get("/_sim/sent")).json() == []
    assert (await sim.client.get("/_sim/webhooks")).json() == []
    assert (await sim.client.get("/_sim/inbound")).json() == []
    assert (await sim.client.get("/_sim/numbers")).json() == {"not_on_whatsapp": []}
    assert (await sim.client.get("/_sim/faults")).json()["sendText"]["fail_next"] == 0
    # The instance survives, still connected, with its webhook.
    state = await sim.client.get("/instance/connectionState/loja", headers=GLOBAL)
    assert state.json()["instance"]["state"] == "open"
    assert (await sim.send_text("loja", number="5511999990001", text="ainda aqui")).status_code == 201
    everything = await sim.client.post("/_sim/reset?instances=true")
    assert everything.json() == {"reset": True, "instances": 0}
    assert (await sim.client.get("/instance/connectionState/loja", headers=GLOBAL)).status_code == 404
