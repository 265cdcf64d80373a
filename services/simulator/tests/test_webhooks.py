"""Webhook delivery over real sockets: envelope, by-events URLs, headers, JWT, retries."""

from __future__ import annotations

import re
import time

import jwt
import pytest

from simulator.settings import WebhookDeliverySettings
from simulator.state import SimulatorState
from simulator.webhooks import WebhookDispatcher
from testkit import wait_until

from .conftest import GLOBAL, Receiver, Sim, SimFactory, sim_settings

JWT_KEY = "a-jwt-key-long-enough-for-hs256-signing"


async def test_envelope_and_by_events_suffix(sim: Sim, receiver: Receiver) -> None:
    created = await sim.create("loja", webhook={"url": f"{receiver.url}/hook", "byEvents": True}, scan=False)
    [create_event] = await receiver.wait_for("instance.create")
    assert receiver.at("/hook/instance-create")
    assert create_event["instance"] == "loja"
    assert create_event["data"] == {
        "instanceName": "loja",
        "instanceId": created["instance"]["instanceId"],
    }
    assert create_event["destination"] == f"{receiver.url}/hook"
    assert create_event["apikey"] == created["hash"]
    assert create_event["server_url"] == "http://127.0.0.1:8002"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", create_event["date_time"])
    # Before the first login there is no `sender` at all (not even null).
    assert "sender" not in create_event

    scanned = await sim.client.post("/_sim/instances/loja/scan", json={"profile_name": "Loja"})
    assert scanned.json()["status"] == 200
    assert scanned.json()["body"] == {"received": True, "path": "/hook/connection-update"}
    [opened] = await receiver.wait_for("connection.update")
    assert opened["data"] == {
        "instance": "loja",
        "wuid": scanned.json()["wuid"],
        "profileName": "Loja",
        "profilePictureUrl": None,
        "state": "open",
        "statusReason": 200,
    }
    assert opened["sender"] == scanned.json()["wuid"]
    assert receiver.at("/hook/connection-update")


async def test_plain_url_without_by_events(sim: Sim, receiver: Receiver) -> None:
    await sim.create("loja", webhook={"url": f"{receiver.url}/hook"})
    await receiver.wait_for("connection.update")
    assert {item.path for item in receiver.requests} == {"/hook"}


async def test_connect_emits_qrcode_updated(sim: Sim, receiver: Receiver) -> None:
    await sim.create("qr", webhook={"url": f"{receiver.url}/hook", "byEvents": True}, scan=False)
    connect = (await sim.client.get("/instance/connect/qr", headers=GLOBAL)).json()
    [event] = await receiver.wait_for("qrcode.updated")
    assert event["data"] == {
        "qrcode": {
            "instance": "qr",
            "pairingCode": None,
            "code": connect["code"],
            "base64": connect["base64"],
        }
    }
    assert receiver.at("/hook/qrcode-updated")
    [connecting] = await receiver.wait_for("connection.update")
    assert connecting["data"] == {"instance": "qr", "state": "connecting", "statusReason": 200}


async def test_custom_headers_and_jwt(sim: Sim, receiver: Receiver) -> None:
    await sim.create(
        "loja",
        webhook={
            "url": f"{receiver.url}/hook",
            "headers": {"X-Mirage-Secret": "s3cr3t", "jwt_key": JWT_KEY, "X-Count": 3},
        },
    )
    await receiver.wait_for("connection.update")
    request = receiver.requests[-1]
    assert request.headers["x-mirage-secret"] == "s3cr3t"
    assert request.headers["x-count"] == "3"
    assert "jwt_key" not in request.headers
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("axios/")
    scheme, token = request.headers["authorization"].split(" ")
    assert scheme == "Bearer"
    claims = jwt.decode(token, JWT_KEY, algorithms=["HS256"])
    assert claims["app"] == "evolution"
    assert claims["action"] == "webhook"
    assert claims["exp"] - claims["iat"] == 600
    assert abs(claims["iat"] - time.time()) < 10
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, JWT_KEY + "-wrong", algorithms=["HS256"])


async def test_short_jwt_keys_are_signed_without_warnings(sim: Sim, receiver: Receiver) -> None:
    await sim.create("loja", webhook={"url": f"{receiver.url}/hook", "headers": {"jwt_key": "short"}})
    await receiver.wait_for("connection.update")
    assert receiver.requests[-1].headers["authorization"].startswith("Bearer ey")


async def test_events_filter(sim: Sim, receiver: Receiver) -> None:
    await sim.create("loja", webhook={"url": f"{receiver.url}/hook", "events": ["MESSAGES_UPSERT"]})
    result = await sim.client.post(
        "/_sim/instances/loja/inbound", json={"from": "5511999990001", "text": "oi"}
    )
    assert result.json()["status"] == 200
    assert [item.json()["event"] for item in receiver.requests] == ["messages.upsert"]
    sent = await sim.send_text("loja", number="5511999990001", text="oi")
    assert sent.status_code == 201
    await sim.settled()
    # send.message and messages.update are filtered out.
    assert [item.json()["event"] for item in receiver.requests] == ["messages.upsert"]


async def test_retries_on_500_with_identical_body(sim: Sim, receiver: Receiver) -> None:
    await sim.create("loja", webhook={"url": f"{receiver.url}/hook", "byEvents": True})
    await receiver.wait_for("connection.update")
    receiver.respond("/hook/messages-upsert", 500, 500)
    first = await sim.client.post(
        "/_sim/instances/loja/inbound", json={"from": "5511999990001", "text": "oi"}
    )
    assert first.json()["status"] == 500
    assert first.json()["outcome"] == "retrying"
    await wait_until(lambda: len(receiver.at("/hook/messages-upsert")) == 3, message="3 attempts")
    bodies = {item.body for item in receiver.at("/hook/messages-upsert")}
    assert len(bodies) == 1
    log = await wait_until(
        lambda: _outcome(sim, "messages.upsert", "delivered"), message="delivered in the log"
    )
    assert log["attempts"] == 3
    assert log["status"] == 200


async def _outcome(sim: Sim, event: str, outcome: str) -> dict[str, object] | None:
    rows = (await sim.client.get(f"/_sim/webhooks?event={event}&outcome={outcome}")).json()
    return rows[0] if rows else None


async def test_no_retry_on_422(sim: Sim, receiver: Receiver) -> None:
    await sim.create("loja", webhook={"url": f"{receiver.url}/hook", "byEvents": True})
    receiver.respond("/hook/messages-upsert", 422)
    result = await sim.client.post(
        "/_sim/instances/loja/inbound", json={"from": "5511999990001", "text": "oi"}
    )
    assert result.json()["status"] == 422
    assert result.json()["outcome"] == "rejected"
    log = await _outcome(sim, "messages.upsert", "rejected")
    assert log is not None
    assert log["attempts"] == 1
    # A later event proves the pipeline moved on without re-sending the rejected one.
    await sim.client.post("/_sim/instances/loja/inbound", json={"from": "5511999990001", "text": "de novo"})
    await wait_until(lambda: len(receiver.at("/hook/messages-upsert")) == 2, message="second upsert")
    assert [
        item.json()["data"]["message"]["conversation"] for item in receiver.at("/hook/messages-upsert")
    ] == [
        "oi",
        "de novo",
    ]


async def test_gives_up_after_max_attempts(make_sim: SimFactory, receiver: Receiver) -> None:
    sim = await make_sim(
        webhook=WebhookDeliverySettings(retry_initial_delay_ms=5, retry_max_delay_ms=10, retry_max_attempts=3)
    )
    await sim.create("loja", webhook={"url": f"{receiver.url}/hook", "byEvents": True})
    receiver.respond("/hook/messages-upsert", 503, 503, 503, 503)
    await sim.client.post("/_sim/instances/loja/inbound", json={"from": "5511999990001", "text": "oi"})
    log = await wait_until(lambda: _outcome(sim, "messages.upsert", "failed"), message="failed")
    assert log["attempts"] == 3
    assert len(receiver.at("/hook/messages-upsert")) == 3


async def test_connection_errors_are_retried(make_sim: SimFactory) -> None:
    sim = await make_sim(
        webhook=WebhookDeliverySettings(retry_initial_delay_ms=5, retry_max_delay_ms=10, retry_max_attempts=2)
    )
    # Port 9 (discard) is closed on localhost: every attempt is a connection error.
    await sim.create("loja", webhook={"url": "http://127.0.0.1:9/hook"}, scan=False)
    result = await sim.client.post("/_sim/instances/loja/scan", json={})
    assert result.json()["status"] is None
    assert result.json()["outcome"] == "retrying"
    assert "connect" in result.json()["error"].lower(), "the error names the failed connection"
    log = await wait_until(lambda: _outcome(sim, "connection.update", "failed"), message="failed")
    assert log["attempts"] == 2


async def test_drop_next_fault(sim: Sim, receiver: Receiver) -> None:
    await sim.create("loja", webhook={"url": f"{receiver.url}/hook"})
    await receiver.wait_for("connection.update")
    await sim.client.post("/_sim/faults", json={"webhook": {"drop_next": 1}})
    dropped = await sim.client.post(
        "/_sim/instances/loja/inbound", json={"from": "5511999990001", "text": "perdida"}
    )
    assert dropped.json()["outcome"] == "dropped"
    assert dropped.json()["status"] is None
    kept = await sim.client.post(
        "/_sim/instances/loja/inbound", json={"from": "5511999990001", "text": "chegou"}
    )
    assert kept.json()["status"] == 200
    upserts = receiver.events("messages.upsert")
    assert [item["data"]["message"]["conversation"] for item in upserts] == ["chegou"]
    faults = (await sim.client.get("/_sim/faults")).json()
    assert faults["webhook"]["drop_next"] == 0


async def test_backoff_doubles_with_bounded_jitter() -> None:
    settings = sim_settings(
        webhook=WebhookDeliverySettings(retry_initial_delay_ms=200, retry_max_delay_ms=1000, retry_jitter=0.2)
    )
    dispatcher = WebhookDispatcher(settings, SimulatorState())
    for failed, base in ((1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (9, 1.0)):
        for _ in range(50):
            delay = dispatcher.backoff_s(failed)
            assert max(0.2, base * 0.8) <= delay <= base * 1.2 + 1e-9
