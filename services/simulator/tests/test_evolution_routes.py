"""Evolution routes: shapes, auth and guard order, errors (in-process ASGI)."""

from __future__ import annotations

import base64
import re
import time

from .conftest import GLOBAL, Sim

UUID_UPPER = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}")
UNAUTHORIZED = {"status": 401, "error": "Unauthorized", "response": {"message": "Unauthorized"}}


async def test_welcome_needs_no_key(sim: Sim) -> None:
    response = await sim.client.get("/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == 200
    assert body["message"] == "Welcome to the Evolution API, it is working!"
    assert body["version"] == "2.3.6"
    assert {"clientName", "manager", "documentation", "whatsappWebVersion"} <= body.keys()


async def test_unknown_route_and_method_are_express_404(sim: Sim) -> None:
    response = await sim.client.get("/health")
    assert response.status_code == 404
    assert response.json() == {
        "status": 404,
        "error": "Not Found",
        "response": {"message": ["Cannot GET /health"]},
    }
    wrong_method = await sim.client.get("/instance/create?x=1")
    assert wrong_method.status_code == 404
    assert wrong_method.json()["response"]["message"] == ["Cannot GET /instance/create?x=1"]


async def test_create_answers_evolution_shape(sim: Sim) -> None:
    response = await sim.client.post(
        "/instance/create",
        json={
            "instanceName": "loja",
            "integration": "WHATSAPP-BAILEYS",
            "webhook": {"url": "http://127.0.0.1:9/hook", "byEvents": True, "headers": {"x": "1"}},
            "webhookUrl": "http://ignored.example",
            "rejectCall": True,
        },
        headers=GLOBAL,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["instance"]["instanceName"] == "loja"
    assert body["instance"]["integration"] == "WHATSAPP-BAILEYS"
    assert body["instance"]["status"] == "close"
    assert re.fullmatch(r"[0-9a-f-]{36}", body["instance"]["instanceId"])
    assert UUID_UPPER.fullmatch(body["hash"])
    assert body["webhook"] == {
        "webhookUrl": "http://127.0.0.1:9/hook",
        "webhookHeaders": {"x": "1"},
        "webhookByEvents": True,
    }
    assert body["settings"]["rejectCall"] is True
    assert body["settings"]["groupsIgnore"] is False
    assert "qrcode" not in body
    found = await sim.client.get("/webhook/find/loja", headers=GLOBAL)
    assert found.json()["enabled"] is True
    assert found.json()["url"] == "http://127.0.0.1:9/hook"


async def test_create_with_token_and_qrcode(sim: Sim) -> None:
    response = await sim.client.post(
        "/instance/create",
        json={"instanceName": "q", "integration": "WHATSAPP-BAILEYS", "token": "tok-1", "qrcode": True},
        headers=GLOBAL,
    )
    body = response.json()
    assert body["hash"] == "tok-1"
    assert body["instance"]["status"] == "connecting"
    assert body["qrcode"]["code"].startswith("2@")
    assert body["qrcode"]["count"] == 1


async def test_create_errors(sim: Sim) -> None:
    await sim.create("taken", scan=False)
    # The name check runs before the auth guard: 403 even without a key.
    taken = await sim.client.post(
        "/instance/create", json={"instanceName": "taken", "integration": "WHATSAPP-BAILEYS"}
    )
    assert taken.status_code == 403
    assert taken.json() == {
        "status": 403,
        "error": "Forbidden",
        "response": {"message": ['This name "taken" is already in use.']},
    }
    no_key = await sim.client.post(
        "/instance/create", json={"instanceName": "new", "integration": "WHATSAPP-BAILEYS"}
    )
    assert no_key.status_code == 401
    assert no_key.json() == UNAUTHORIZED
    no_integration = await sim.client.post("/instance/create", json={"instanceName": "x"}, headers=GLOBAL)
    assert no_integration.status_code == 400
    assert no_integration.json()["response"]["message"] == ["Invalid integration"]
    bad_integration = await sim.client.post(
        "/instance/create", json={"instanceName": "x", "integration": "TELEGRAM"}, headers=GLOBAL
    )
    assert bad_integration.json()["response"]["message"] == ["Invalid integration"]
    no_name = await sim.client.post(
        "/instance/create", json={"integration": "WHATSAPP-BAILEYS"}, headers=GLOBAL
    )
    assert no_name.status_code == 400
    assert no_name.json()["response"]["message"] == [['instance requires property "instanceName"']]
    empty_name = await sim.client.post(
        "/instance/create", json={"instanceName": "", "integration": "WHATSAPP-BAILEYS"}, headers=GLOBAL
    )
    assert empty_name.json()["response"]["message"] == [['The "instanceName" cannot be empty']]
    not_json = await sim.client.post("/instance/create", content=b"{nope", headers=GLOBAL)
    assert not_json.status_code == 400
    assert not_json.json()["error"] == "Bad Request"


async def test_instance_token_only_opens_its_own_routes(sim: Sim) -> None:
    first = await sim.create("um", scan=False)
    await sim.create("dois", scan=False)
    own = {"apikey": first["hash"]}
    assert (await sim.client.get("/instance/connectionState/um", headers=own)).status_code == 200
    other = await sim.client.get("/instance/connectionState/dois", headers=own)
    assert other.status_code == 401
    assert other.json() == UNAUTHORIZED
    wrong = await sim.client.get("/instance/connectionState/um", headers={"apikey": "nope"})
    assert wrong.status_code == 401
    missing = await sim.client.get("/instance/connectionState/um")
    assert missing.json() == UNAUTHORIZED
    create = await sim.client.post(
        "/instance/create", json={"instanceName": "tres", "integration": "WHATSAPP-BAILEYS"}, headers=own
    )
    assert create.status_code == 401


async def test_unknown_instance_is_404_before_auth(sim: Sim) -> None:
    response = await sim.client.get("/instance/connectionState/ghost")
    assert response.status_code == 404
    assert response.json() == {
        "status": 404,
        "error": "Not Found",
        "response": {"message": ['The "ghost" instance does not exist']},
    }
    send = await sim.client.post("/message/sendText/ghost", json={"number": "1", "text": "x"})
    assert send.status_code == 404


async def test_fetch_instances_by_global_key_and_by_token(sim: Sim) -> None:
    first = await sim.create("um", number="5511988887777")
    await sim.create("dois", scan=False)
    every = await sim.client.get("/instance/fetchInstances", headers=GLOBAL)
    assert [row["name"] for row in every.json()] == ["um", "dois"]
    row = every.json()[0]
    assert row["connectionStatus"] == "open"
    assert row["ownerJid"] == "5511988887777@s.whatsapp.net"
    assert row["number"] == "5511988887777"
    assert row["token"] == first["hash"]
    assert {"Setting", "_count", "integration", "disconnectionReasonCode", "createdAt"} <= row.keys()
    own = await sim.client.get("/instance/fetchInstances", headers={"apikey": first["hash"]})
    assert [row["name"] for row in own.json()] == ["um"]
    filtered = await sim.client.get("/instance/fetchInstances?instanceName=dois", headers=GLOBAL)
    assert [row["name"] for row in filtered.json()] == ["dois"]
    assert (await sim.client.get("/instance/fetchInstances", headers={"apikey": "x"})).status_code == 401


async def test_connect_returns_a_qr_then_the_state_once_open(sim: Sim) -> None:
    await sim.create("qr", scan=False)
    response = await sim.client.get("/instance/connect/qr", headers=GLOBAL)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"pairingCode", "code", "base64", "count"}
    assert body["pairingCode"] is None
    assert body["code"].startswith("2@")
    assert body["count"] == 1
    prefix = "data:image/png;base64,"
    assert body["base64"].startswith(prefix)
    assert base64.b64decode(body["base64"][len(prefix) :]).startswith(b"\x89PNG\r\n\x1a\n")
    state = await sim.client.get("/instance/connectionState/qr", headers=GLOBAL)
    assert state.json() == {"instance": {"instanceName": "qr", "state": "connecting"}}
    # Asking again while connecting shows the same QR.
    again = await sim.client.get("/instance/connect/qr", headers=GLOBAL)
    assert again.json()["code"] == body["code"]
    with_number = await sim.client.get("/instance/connect/qr?number=5511999990000", headers=GLOBAL)
    assert re.fullmatch(r"[A-Z0-9]{8}", with_number.json()["pairingCode"])
    await sim.client.post("/_sim/instances/qr/scan", json={})
    opened = await sim.client.get("/instance/connect/qr", headers=GLOBAL)
    assert opened.json() == {"instance": {"instanceName": "qr", "state": "open"}}


async def test_logout_and_delete(sim: Sim) -> None:
    await sim.create("bye")
    logout = await sim.client.delete("/instance/logout/bye", headers=GLOBAL)
    assert logout.status_code == 200
    assert logout.json() == {
        "status": "SUCCESS",
        "error": False,
        "response": {"message": "Instance logged out"},
    }
    state = await sim.client.get("/instance/connectionState/bye", headers=GLOBAL)
    assert state.json()["instance"]["state"] == "close"
    again = await sim.client.delete("/instance/logout/bye", headers=GLOBAL)
    assert again.status_code == 400
    assert again.json()["response"]["message"] == ['The "bye" instance is not connected']
    delete = await sim.client.delete("/instance/delete/bye", headers=GLOBAL)
    assert delete.json() == {"status": "SUCCESS", "error": False, "response": {"message": "Instance deleted"}}
    gone = await sim.client.get("/instance/connectionState/bye", headers=GLOBAL)
    assert gone.status_code == 404


async def test_webhook_set_requires_the_nested_object(sim: Sim) -> None:
    await sim.create("hook", scan=False)
    flat = await sim.client.post(
        "/webhook/set/hook", json={"url": "http://x.example", "enabled": True}, headers=GLOBAL
    )
    assert flat.status_code == 400
    assert flat.json()["response"]["message"] == [['instance requires property "webhook"']]
    no_url = await sim.client.post("/webhook/set/hook", json={"webhook": {"enabled": True}}, headers=GLOBAL)
    assert no_url.json()["response"]["message"] == [['webhook requires property "url"']]
    bad_event = await sim.client.post(
        "/webhook/set/hook",
        json={"webhook": {"enabled": True, "url": "http://x.example", "events": ["NOPE"]}},
        headers=GLOBAL,
    )
    assert bad_event.status_code == 400
    assert (await sim.client.get("/webhook/find/hook", headers=GLOBAL)).json() is None
    stored = await sim.client.post(
        "/webhook/set/hook",
        json={
            "webhook": {
                "enabled": True,
                "url": "http://x.example/wh",
                "byEvents": True,
                "headers": {"jwt_key": "k"},
                "events": ["MESSAGES_UPSERT"],
            }
        },
        headers=GLOBAL,
    )
    assert stored.status_code == 201
    row = stored.json()
    assert row["url"] == "http://x.example/wh"
    assert row["webhookByEvents"] is True
    assert row["events"] == ["MESSAGES_UPSERT"]
    assert {"id", "headers", "enabled", "webhookBase64", "createdAt", "updatedAt", "instanceId"} <= row.keys()
    assert (await sim.client.get("/webhook/find/hook", headers=GLOBAL)).json() == row


async def test_settings_and_presence(sim: Sim) -> None:
    await sim.create("cfg")
    flags = {
        "rejectCall": True,
        "groupsIgnore": True,
        "alwaysOnline": False,
        "readMessages": False,
        "readStatus": False,
        "syncFullHistory": False,
    }
    stored = await sim.client.post("/settings/set/cfg", json=flags, headers=GLOBAL)
    assert stored.status_code == 201
    assert stored.json()["groupsIgnore"] is True
    missing = await sim.client.post("/settings/set/cfg", json={"rejectCall": True}, headers=GLOBAL)
    assert missing.status_code == 400
    presence = await sim.client.post(
        "/instance/setPresence/cfg", json={"presence": "available"}, headers=GLOBAL
    )
    assert presence.status_code == 201
    assert presence.json() == {"presence": "available"}
    bad = await sim.client.post("/instance/setPresence/cfg", json={"presence": "sleeping"}, headers=GLOBAL)
    assert bad.status_code == 400


async def test_send_text_answers_the_sent_message(sim: Sim) -> None:
    created = await sim.create("loja")
    response = await sim.send_text("loja", number="+55 (11) 99999-0001", text="Olá, tudo bem?")
    assert response.status_code == 201
    body = response.json()
    assert body["key"]["remoteJid"] == "5511999990001@s.whatsapp.net"
    assert body["key"]["fromMe"] is True
    assert re.fullmatch(r"3EB0[0-9A-F]{18}", body["key"]["id"])
    assert body["pushName"] == "Você"
    assert body["status"] == "PENDING"
    assert body["message"] == {"conversation": "Olá, tudo bem?"}
    assert body["messageType"] == "conversation"
    assert abs(body["messageTimestamp"] - time.time()) < 5
    assert body["instanceId"] == created["instance"]["instanceId"]
    assert body["source"] == "web"
    second = await sim.send_text("loja", number="5511999990001", text="de novo")
    assert second.json()["key"]["id"] != body["key"]["id"]


async def test_send_text_accepts_jids(sim: Sim) -> None:
    await sim.create("loja")
    for jid in ("5511999990001@s.whatsapp.net", "123456789012345@lid", "120363000000000000@g.us"):
        response = await sim.send_text("loja", number=jid, text="oi")
        assert response.status_code == 201, response.text
        assert response.json()["key"]["remoteJid"] == jid


async def test_send_text_validation_is_nested_arrays(sim: Sim) -> None:
    await sim.create("loja")
    missing = await sim.send_text("loja", number="5511999990001")
    assert missing.status_code == 400
    assert missing.json() == {
        "status": 400,
        "error": "Bad Request",
        "response": {"message": [['instance requires property "text"']]},
    }
    wrong = await sim.send_text("loja", number=5511, text="x", delay="soon")
    assert wrong.json()["response"]["message"] == [["Invalid format", "delay is not of a type(s) integer"]]
    blank = await sim.send_text("loja", number="5511999990001", text="   ")
    assert blank.status_code == 400
    not_object = await sim.client.post("/message/sendText/loja", json=[1, 2], headers=GLOBAL)
    assert not_object.json()["response"]["message"] == [["instance is not of a type(s) object"]]


async def test_send_text_to_a_number_without_whatsapp(sim: Sim) -> None:
    await sim.create("loja")
    registered = await sim.client.post("/_sim/numbers", json={"not_on_whatsapp": ["+55 11 90000-0000"]})
    assert registered.json() == {"not_on_whatsapp": ["5511900000000"]}
    response = await sim.send_text("loja", number="5511900000000", text="oi")
    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "error": "Bad Request",
        "response": {
            "message": [{"jid": "5511900000000@s.whatsapp.net", "exists": False, "number": "5511900000000"}]
        },
    }
    too_short = await sim.send_text("loja", number="123", text="oi")
    assert too_short.json()["response"]["message"][0]["exists"] is False
    checked = await sim.client.post(
        "/chat/whatsappNumbers/loja", json={"numbers": ["5511900000000", "5511999990001"]}, headers=GLOBAL
    )
    assert [row["exists"] for row in checked.json()] == [False, True]
    assert (await sim.client.get("/_sim/sent")).json() == []


async def test_send_text_needs_an_open_instance(sim: Sim) -> None:
    await sim.create("closed", scan=False)
    response = await sim.send_text("closed", number="5511999990001", text="oi")
    assert response.status_code == 500
    assert response.json() == {
        "status": 500,
        "error": "Internal Server Error",
        "response": {"message": ["Error: Connection Closed"]},
    }


async def test_send_text_waits_for_delay(sim: Sim) -> None:
    await sim.create("loja")
    started = time.monotonic()
    response = await sim.send_text("loja", number="5511999990001", text="oi", delay=300)
    assert response.status_code == 201
    assert time.monotonic() - started >= 0.3
    sent = (await sim.client.get("/_sim/sent")).json()
    assert sent[0]["delay"] == 300


async def test_send_presence_waits_and_answers(sim: Sim) -> None:
    await sim.create("loja")
    started = time.monotonic()
    response = await sim.client.post(
        "/chat/sendPresence/loja",
        json={"number": "5511999990001", "presence": "composing", "delay": 200},
        headers=GLOBAL,
    )
    assert response.status_code == 201
    assert response.json() == {"presence": "composing"}
    assert time.monotonic() - started >= 0.2
    no_delay = await sim.client.post(
        "/chat/sendPresence/loja", json={"number": "5511999990001", "presence": "composing"}, headers=GLOBAL
    )
    assert no_delay.json()["response"]["message"] == [['instance requires property "delay"']]
    log = (await sim.client.get("/_sim/presence")).json()
    assert [(row["number"], row["presence"], row["delay"]) for row in log] == [
        ("5511999990001", "composing", 200)
    ]


async def test_mark_read(sim: Sim) -> None:
    await sim.create("loja")
    response = await sim.client.post(
        "/chat/markMessageAsRead/loja",
        json={"readMessages": [{"remoteJid": "5511999990001@s.whatsapp.net", "fromMe": False, "id": "A"}]},
        headers=GLOBAL,
    )
    assert response.status_code == 201
    assert response.json() == {"message": "Read messages", "read": "success"}
