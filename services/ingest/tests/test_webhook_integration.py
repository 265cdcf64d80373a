"""Ingest against real PostgreSQL and Kafka: every webhook path, good and bad."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from contracts import InstanceState, InstanceStatusChanged, MessageReceived, Topic, parse_event
from database import Pool, PostgresSettings
from ingest.app import create_app
from ingest.settings import IngestSettings, WebhookSettings
from messaging import KafkaSettings
from testkit import wait_until

pytestmark = pytest.mark.integration

SECRET = "instance-webhook-secret-0123456789abcdef"


@dataclass
class Ingest:
    client: httpx.AsyncClient
    pool: Pool
    kafka: KafkaSettings
    instance_id: uuid.UUID
    instance_name: str
    tenant_id: uuid.UUID

    def envelope(self, event: str, data: Any, instance: str | None = None) -> dict[str, Any]:
        return {
            "event": event,
            "instance": instance or self.instance_name,
            "data": data,
            "destination": "http://127.0.0.1:8001/webhook/evolution",
            "date_time": "2026-11-28T12:00:00.000Z",
            "server_url": "http://127.0.0.1:8002",
            "apikey": None,
        }

    async def post(
        self, document: Any, *, token: str | None = None, path: str = "/webhook/evolution"
    ) -> httpx.Response:
        body = document if isinstance(document, bytes) else orjson.dumps(document)
        headers = {"content-type": "application/json", "authorization": f"Bearer {token or evolution_jwt()}"}
        return await self.client.post(path, content=body, headers=headers)


def evolution_jwt(secret: str = SECRET, issued: float | None = None) -> str:
    iat = int(issued if issued is not None else time.time())
    return jwt.encode(
        {"iat": iat, "exp": iat + 600, "app": "evolution", "action": "webhook"}, secret, "HS256"
    )


def upsert(
    remote: str = "5511999990001@s.whatsapp.net",
    text: str = "oi",
    *,
    key_id: str | None = None,
    from_me: bool = False,
    alt: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    key: dict[str, Any] = {
        "remoteJid": remote,
        "fromMe": from_me,
        "id": key_id or uuid.uuid4().hex[:20].upper(),
    }
    if alt:
        key["remoteJidAlt"] = alt
        key["addressingMode"] = "lid"
    return {
        "key": key,
        "pushName": "Ana",
        "status": "DELIVERY_ACK",
        "message": {
            "conversation": text,
            "messageContextInfo": {"deviceListMetadata": {"senderKeyHash": {"0": 1}}},
        },
        "messageType": "conversation",
        "messageTimestamp": timestamp if timestamp is not None else int(time.time()),
        "instanceId": str(uuid.uuid4()),
        "source": "android",
    }


@pytest.fixture
async def ingest(
    db_pool: Pool, postgres_settings: PostgresSettings, kafka_settings: KafkaSettings
) -> AsyncIterator[Ingest]:
    name = f"inst-{uuid.uuid4().hex[:8]}"
    async with db_pool.acquire() as conn:
        tenant_id = await conn.fetchval(
            "INSERT INTO tenants (slug, name) VALUES ($1, 'Loja') RETURNING id", f"t-{uuid.uuid4().hex[:8]}"
        )
        instance_id = await conn.fetchval(
            "INSERT INTO instances (tenant_id, name, webhook_auth, webhook_secret, state)"
            " VALUES ($1, $2, 'jwt', $3, 'open') RETURNING id",
            tenant_id,
            name,
            SECRET,
        )
    settings = IngestSettings(
        kafka=kafka_settings,
        postgres=postgres_settings,
        webhook=WebhookSettings(max_body_bytes=64 * 1024, instance_cache_ttl_s=0),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            yield Ingest(client, db_pool, kafka_settings, instance_id, name, tenant_id)


async def consume(kafka: KafkaSettings, topic: Topic, count: int, timeout_s: float = 20) -> list[Any]:
    consumer = AIOKafkaConsumer(
        kafka.topic(topic),
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    events: list[Any] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(events) < count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                events.extend(parse_event(record.value) for record in records)
    finally:
        await consumer.stop()
    return events


async def fetch_one(pool: Pool, query: str, *args: Any) -> Any:
    row = await pool.fetchrow(query, *args)
    assert row is not None, query
    return row


async def raw_event(pool: Pool, raw_id: int) -> Any:
    return await pool.fetchrow("SELECT * FROM raw_events WHERE id = $1", raw_id)


async def test_a_message_is_stored_and_published_once_even_when_delivered_twice(ingest: Ingest) -> None:
    document = ingest.envelope("messages.upsert", upsert(text="quero saber o preço"))
    first = await ingest.post(document)
    second = await ingest.post(document)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "accepted"
    assert second.status_code == 200
    assert second.json()["status"] == "duplicate"
    rows = await ingest.pool.fetch("SELECT * FROM messages WHERE instance_id = $1", ingest.instance_id)
    assert len(rows) == 1
    assert rows[0]["text"] == "quero saber o preço"
    assert rows[0]["origin"] == "contact"
    raw_first = await raw_event(ingest.pool, first.json()["raw_event_id"])
    raw_second = await raw_event(ingest.pool, second.json()["raw_event_id"])
    assert (raw_first["parse_result"], raw_second["parse_result"]) == ("accepted", "duplicate")
    assert raw_first["payload"]["data"]["message"]["conversation"] == "quero saber o preço"
    [event] = await consume(ingest.kafka, Topic.MESSAGE_RECEIVED, 1)
    assert isinstance(event, MessageReceived)
    assert event.data.message_id == rows[0]["id"]
    assert event.data.text == "quero saber o preço"
    assert event.data.reply_to == "5511999990001@s.whatsapp.net"
    assert event.data.fresh
    assert len(await consume(ingest.kafka, Topic.MESSAGE_RECEIVED, 2, timeout_s=2)) == 1


async def test_a_new_contacts_first_messages_at_once_make_one_contact_and_one_conversation(
    ingest: Ingest,
) -> None:
    """The first message of a contact nobody knows creates its chat in the message's own
    statement; webhooks racing it for the same contact fall back to the careful path."""
    remote = "5511977776666@s.whatsapp.net"
    sent_at = int(time.time())
    replies = await asyncio.gather(
        *(
            ingest.post(ingest.envelope("messages.upsert", upsert(remote, f"msg {n}", timestamp=sent_at)))
            for n in range(8)
        )
    )
    assert [reply.json()["status"] for reply in replies] == ["accepted"] * 8
    [contact] = await ingest.pool.fetch("SELECT * FROM contacts WHERE tenant_id = $1", ingest.tenant_id)
    assert (contact["jid"], contact["phone"], contact["push_name"]) == (remote, "5511977776666", "Ana")
    [conversation] = await ingest.pool.fetch(
        "SELECT * FROM conversations WHERE instance_id = $1", ingest.instance_id
    )
    assert conversation["contact_id"] == contact["id"]
    assert conversation["last_message_at"].timestamp() >= sent_at
    messages = await ingest.pool.fetch(
        "SELECT conversation_id, contact_id, raw_event_id FROM messages WHERE instance_id = $1",
        ingest.instance_id,
    )
    assert {(m["conversation_id"], m["contact_id"]) for m in messages} == {
        (conversation["id"], contact["id"])
    }
    assert len(messages) == 8
    assert {m["raw_event_id"] for m in messages} == {reply.json()["raw_event_id"] for reply in replies}
    events = await consume(ingest.kafka, Topic.MESSAGE_RECEIVED, 8)
    assert {(e.data.conversation_id, e.data.contact_id) for e in events} == {
        (conversation["id"], contact["id"])
    }
    assert {e.data.message_id for e in events} == {uuid.UUID(reply.json()["message_id"]) for reply in replies}


async def test_a_lid_sender_is_one_contact_known_by_both_identities(ingest: Ingest) -> None:
    await ingest.post(
        ingest.envelope("messages.upsert", upsert("77777@lid", "oi", alt="5511988887777@s.whatsapp.net"))
    )
    await ingest.post(ingest.envelope("messages.upsert", upsert("5511988887777@s.whatsapp.net", "tudo bem?")))
    contacts = await ingest.pool.fetch("SELECT * FROM contacts WHERE tenant_id = $1", ingest.tenant_id)
    assert len(contacts) == 1
    assert (contacts[0]["jid"], contacts[0]["lid"], contacts[0]["phone"]) == (
        "5511988887777@s.whatsapp.net",
        "77777@lid",
        "5511988887777",
    )
    events = await consume(ingest.kafka, Topic.MESSAGE_RECEIVED, 2)
    assert [e.data.reply_to for e in events] == ["5511988887777@s.whatsapp.net"] * 2
    assert len({e.data.conversation_id for e in events}) == 1


async def test_bad_credentials_are_refused_recorded_and_publish_nothing(ingest: Ingest) -> None:
    document = ingest.envelope("messages.upsert", upsert())
    forged = await ingest.post(document, token=evolution_jwt(secret="not-the-instance-secret-0000000000"))
    replayed = await ingest.post(document, token=evolution_jwt(issued=time.time() - 7200))
    assert (forged.status_code, replayed.status_code) == (401, 401)
    assert (await raw_event(ingest.pool, forged.json()["raw_event_id"]))["auth_result"] == "invalid"
    assert (await raw_event(ingest.pool, replayed.json()["raw_event_id"]))["auth_result"] == "expired"
    assert (
        await ingest.pool.fetchval("SELECT count(*) FROM messages WHERE instance_id = $1", ingest.instance_id)
        == 0
    )


@pytest.mark.parametrize(
    ("body", "status", "parse_result"),
    [
        (b"{not json", 400, "invalid_json"),
        (b'["an", "array"]', 422, "invalid_envelope"),
        (b'{"event": "messages.upsert"}', 422, "invalid_envelope"),
    ],
)
async def test_malformed_bodies_get_4xx_and_are_recorded(
    ingest: Ingest, body: bytes, status: int, parse_result: str
) -> None:
    response = await ingest.post(body)
    assert response.status_code == status
    row = await raw_event(ingest.pool, response.json()["raw_event_id"])
    assert row["parse_result"] == parse_result
    assert row["http_status"] == status
    assert row["error"]
    if status == 400:
        assert row["body_text"] == body.decode()


async def test_a_broken_payload_inside_a_valid_envelope_is_422_and_recorded(ingest: Ingest) -> None:
    response = await ingest.post(ingest.envelope("messages.upsert", {"key": {"fromMe": False}}))
    assert response.status_code == 422
    row = await raw_event(ingest.pool, response.json()["raw_event_id"])
    assert row["parse_result"] == "invalid_data"
    assert row["instance_id"] == ingest.instance_id
    assert "key.remoteJid" in row["error"]


async def test_an_unknown_instance_is_404_and_recorded(ingest: Ingest) -> None:
    response = await ingest.post(ingest.envelope("messages.upsert", upsert(), instance="nobody-knows-me"))
    assert response.status_code == 404
    row = await raw_event(ingest.pool, response.json()["raw_event_id"])
    assert (row["auth_result"], row["instance_name"]) == ("unknown_instance", "nobody-knows-me")


async def test_an_oversized_body_is_413_and_recorded(ingest: Ingest) -> None:
    big = ingest.envelope("messages.upsert", upsert(text="x" * 100_000))
    response = await ingest.post(big)
    assert response.status_code == 413
    assert (
        await ingest.pool.fetchval(
            "SELECT parse_result FROM raw_events WHERE path = '/webhook/evolution' ORDER BY id DESC LIMIT 1"
        )
    ) == "too_large"


async def test_a_nul_character_never_causes_a_500(ingest: Ingest) -> None:
    response = await ingest.post(ingest.envelope("messages.upsert", upsert(text="a\u0000b")))
    assert response.status_code == 200
    row = await raw_event(ingest.pool, response.json()["raw_event_id"])
    assert row["payload"] is None
    assert "\\u0000" in row["body_text"]
    assert (
        await ingest.pool.fetchval("SELECT text FROM messages WHERE instance_id = $1", ingest.instance_id)
        == "ab"
    )


async def test_webhook_by_events_path_and_a_mismatched_path(ingest: Ingest) -> None:
    ok = await ingest.post(
        ingest.envelope("messages.upsert", upsert()), path="/webhook/evolution/messages-upsert"
    )
    wrong = await ingest.post(
        ingest.envelope("messages.upsert", upsert()), path="/webhook/evolution/send-message"
    )
    assert ok.status_code == 200
    assert wrong.status_code == 422


async def test_a_stale_message_is_stored_but_marked_not_fresh(ingest: Ingest) -> None:
    response = await ingest.post(
        ingest.envelope("messages.upsert", upsert(timestamp=int(time.time()) - 3600))
    )
    assert response.json()["status"] == "accepted"
    [event] = await consume(ingest.kafka, Topic.MESSAGE_RECEIVED, 1)
    assert not event.data.fresh


async def test_send_message_echo_is_recorded_as_mirage_own_and_publishes_nothing(ingest: Ingest) -> None:
    echo = upsert("5511999990001@s.whatsapp.net", "Olá! Como posso ajudar?", from_me=True)
    echo["status"] = "PENDING"
    response = await ingest.post(ingest.envelope("send.message", echo))
    assert response.json()["status"] == "accepted"
    row = await fetch_one(ingest.pool, "SELECT * FROM messages WHERE provider_id = $1", echo["key"]["id"])
    assert (row["origin"], row["direction"], row["source_event"]) == ("mirage", "outbound", "send.message")
    assert await consume(ingest.kafka, Topic.MESSAGE_RECEIVED, 1, timeout_s=2) == []


async def test_a_from_me_upsert_seen_before_its_echo_becomes_mirage_own(ingest: Ingest) -> None:
    message = upsert(text="eco", from_me=True)
    await ingest.post(ingest.envelope("messages.upsert", message))
    await ingest.post(ingest.envelope("send.message", message))
    assert (
        await ingest.pool.fetchval("SELECT origin FROM messages WHERE provider_id = $1", message["key"]["id"])
        == "mirage"
    )


async def test_delivery_statuses_move_forward_only(ingest: Ingest) -> None:
    message = upsert(from_me=True)
    await ingest.post(ingest.envelope("send.message", message))
    key_id = message["key"]["id"]

    async def status(value: str) -> httpx.Response:
        return await ingest.post(
            ingest.envelope(
                "messages.update", {"keyId": key_id, "remoteJid": "x", "fromMe": True, "status": value}
            )
        )

    assert (await status("READ")).json()["status"] == "accepted"
    assert (await status("DELIVERY_ACK")).json()["status"] == "no_change"
    assert (
        await ingest.pool.fetchval("SELECT delivery_status FROM messages WHERE provider_id = $1", key_id)
        == "READ"
    )
    assert (await status("BOGUS")).status_code == 422


async def test_an_edit_updates_the_text_and_never_publishes(ingest: Ingest) -> None:
    original = upsert(text="antes")
    await ingest.post(ingest.envelope("messages.upsert", original))
    edit = {
        "key": {"remoteJid": original["key"]["remoteJid"], "fromMe": False, "id": original["key"]["id"]},
        "type": "MESSAGE_EDIT",
        "editedMessage": {"conversation": "depois"},
        "timestampMs": "1761142022000",
    }
    response = await ingest.post(ingest.envelope("messages.edited", edit))
    assert response.json()["status"] == "accepted"
    row = await fetch_one(
        ingest.pool, "SELECT text, edited_at FROM messages WHERE provider_id = $1", original["key"]["id"]
    )
    assert row["text"] == "depois"
    assert row["edited_at"] is not None
    assert len(await consume(ingest.kafka, Topic.MESSAGE_RECEIVED, 2, timeout_s=2)) == 1


async def test_connection_update_drives_the_instance_state_machine(ingest: Ingest) -> None:
    response = await ingest.post(
        ingest.envelope(
            "connection.update",
            {
                "instance": ingest.instance_name,
                "wuid": "5511900000001@s.whatsapp.net",
                "profileName": "Loja",
                "profilePictureUrl": None,
                "state": "open",
                "statusReason": 200,
            },
        )
    )
    assert response.status_code == 200
    row = await fetch_one(
        ingest.pool, "SELECT state, owner_jid FROM instances WHERE id = $1", ingest.instance_id
    )
    assert (row["state"], row["owner_jid"]) == ("connected", "5511900000001@s.whatsapp.net")
    [event] = await consume(ingest.kafka, Topic.INSTANCE_STATUS_CHANGED, 1)
    assert isinstance(event, InstanceStatusChanged)
    assert (event.data.previous, event.data.current) == (InstanceState.OPEN, InstanceState.CONNECTED)


async def test_a_lifecycle_report_older_than_one_applied_is_recorded_stale_and_not_applied(
    ingest: Ingest,
) -> None:
    """Evolution's retry of a `connecting` and a QR made before the scan, arriving after its `open`."""

    def report(event: str, data: dict[str, Any], date_time: str) -> dict[str, Any]:
        return {**ingest.envelope(event, data), "date_time": date_time}

    opened = report(
        "connection.update",
        {
            "instance": ingest.instance_name,
            "wuid": "5511900000002@s.whatsapp.net",
            "state": "open",
            "statusReason": 200,
        },
        "2026-11-28T12:00:05.000Z",
    )
    connecting = report(
        "connection.update",
        {"instance": ingest.instance_name, "state": "connecting", "statusReason": 200},
        "2026-11-28T12:00:00.000Z",
    )
    qr = report(
        "qrcode.updated",
        {
            "qrcode": {
                "instance": ingest.instance_name,
                "code": "2@stale",
                "base64": "data:image/png;base64,x",
            }
        },
        "2026-11-28T12:00:00.001Z",
    )
    assert (await ingest.post(opened)).json()["status"] == "accepted"
    for late in (connecting, qr):
        response = await ingest.post(late)
        assert response.status_code == 200
        assert response.json()["status"] == "stale"
        assert (await raw_event(ingest.pool, response.json()["raw_event_id"]))["parse_result"] == "stale"
    row = await fetch_one(
        ingest.pool, "SELECT state, qr_code FROM instances WHERE id = $1", ingest.instance_id
    )
    assert (row["state"], row["qr_code"]) == ("connected", None)
    events = await consume(ingest.kafka, Topic.INSTANCE_STATUS_CHANGED, 2, timeout_s=3)
    assert [(e.data.previous, e.data.current) for e in events] == [
        (InstanceState.OPEN, InstanceState.CONNECTED)
    ]
    # A report made after the `open` is applied as usual: the number was lost.
    closed = report(
        "connection.update",
        {"instance": ingest.instance_name, "state": "close", "statusReason": 428},
        "2026-11-28T12:01:00.000Z",
    )
    assert (await ingest.post(closed)).json()["status"] == "accepted"
    assert (
        await ingest.pool.fetchval("SELECT state FROM instances WHERE id = $1", ingest.instance_id)
        == "disconnected"
    )


async def test_events_mirage_does_not_act_on_are_kept_raw(ingest: Ingest) -> None:
    response = await ingest.post(ingest.envelope("presence.update", {"id": "x", "presences": {}}))
    assert response.json()["status"] == "ignored"
    assert (await raw_event(ingest.pool, response.json()["raw_event_id"]))["parse_result"] == "ignored"


async def test_webhooks_are_acknowledged_while_kafka_is_down_and_published_later(
    db_pool: Pool, postgres_settings: PostgresSettings, kafka_settings: KafkaSettings
) -> None:
    """Durable publish: the outbox row commits with the message; the relay publishes when Kafka is back."""
    name = f"inst-{uuid.uuid4().hex[:8]}"
    async with db_pool.acquire() as conn:
        tenant_id = await conn.fetchval(
            "INSERT INTO tenants (slug, name) VALUES ($1, 'T') RETURNING id", f"t-{uuid.uuid4().hex[:8]}"
        )
        await conn.execute(
            "INSERT INTO instances (tenant_id, name, webhook_auth, webhook_secret, state)"
            " VALUES ($1, $2, 'jwt', $3, 'open')",
            tenant_id,
            name,
            SECRET,
        )
    settings = IngestSettings(kafka=kafka_settings, postgres=postgres_settings)
    app = create_app(settings)
    document = {"event": "messages.upsert", "instance": name, "data": upsert(text="kafka caiu")}
    async with app.router.lifespan_context(app):
        # Kafka "goes down": the outbox relay's producer is gone, every publish fails.
        await app.state.started.relay.kafka.stop()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://ingest"
        ) as client:
            response = await client.post(
                "/webhook/evolution",
                content=orjson.dumps(document),
                headers={"authorization": f"Bearer {evolution_jwt()}"},
            )
        assert response.status_code == 200
        assert response.json()["status"] == "accepted"
        await wait_until(
            lambda: db_pool.fetchval(
                "SELECT count(*) FROM outbox"
                " WHERE producer = $1 AND convert_from(payload, 'UTF8') LIKE '%kafka caiu%'",
                f"{kafka_settings.topic_prefix}ingest",
            ),
            timeout=10,
            message="the staged event",
        )
    # Kafka is back: a fresh ingest process sweeps what the first one could not publish.
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        events = await consume(kafka_settings, Topic.MESSAGE_RECEIVED, 1, timeout_s=30)
    assert [e.data.text for e in events] == ["kafka caiu"]
