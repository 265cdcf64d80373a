"""Webhook → ingest → guard → generator → sender → Evolution, end to end.

Every service runs as its own process against the real Kafka, PostgreSQL and
Redis, and the simulator speaks Evolution API over HTTP. Each test asserts what
the simulator's `/_sim/sent` shows. "No reply" is asserted only after a
condition that makes a reply impossible from then on (the guard's recorded
decision), never after a sleep.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from aiokafka import AIOKafkaConsumer

from contracts import AdminAlert, parse_event
from database import Pool
from testkit import wait_until
from testkit.stack import Instance, MirageStack, SimulatorClient

pytestmark = pytest.mark.e2e


async def decision(pool: Pool, instance: Instance, provider_id: str) -> tuple[str, str] | None:
    """The guard's (decision, reason) for one message, once it exists."""
    row = await pool.fetchrow(
        "SELECT d.decision, d.reason FROM guard_decisions d JOIN messages m ON m.id = d.message_id"
        " WHERE m.instance_id = $1 AND m.provider_id = $2",
        instance.id,
        provider_id,
    )
    return (row["decision"], row["reason"]) if row else None


async def replies(
    sim: SimulatorClient, instance: Instance, phone: str, count: int = 1
) -> list[dict[str, Any]]:
    """Wait until `phone` has received `count` messages from `instance`."""
    rows: list[dict[str, Any]] = await wait_until(
        lambda: _at_least(sim, instance, phone, count), timeout=45, message=f"{count} replies to {phone}"
    )
    return rows


async def _at_least(
    sim: SimulatorClient, instance: Instance, phone: str, count: int
) -> list[dict[str, Any]] | None:
    rows = await sim.sent(instance=instance.name, number=phone)
    return rows if len(rows) >= count else None


async def settled(pool: Pool, instance: Instance, phone: str) -> list[Any]:
    """The sends to `phone`, once none of them is still in progress."""

    async def done() -> list[Any] | None:
        rows = await pool.fetch(
            "SELECT status, attempts, provider_message_id FROM sends"
            " WHERE instance_id = $1 AND recipient_digits = $2",
            instance.id,
            phone,
        )
        return rows if rows and all(r["status"] != "sending" for r in rows) else None

    result: list[Any] = await wait_until(done, timeout=45, message=f"sends to {phone} settled")
    return result


async def test_a_person_gets_exactly_one_reply_on_the_right_number(
    sim: SimulatorClient, instance: Instance, phone: str, db_pool: Pool
) -> None:
    result = await sim.inbound(instance.name, phone, "oi, vocês abrem amanhã?", push_name="Ana")
    assert result["status"] == 200, result
    [sent] = await replies(sim, instance, phone)
    assert sent["number"] == phone
    assert "vocês abrem amanhã" in sent["text"]
    [send] = await settled(db_pool, instance, phone)
    assert send["status"] == "sent"
    assert send["provider_message_id"] == sent["id"]
    assert await decision(db_pool, instance, result["id"]) == ("reply", "contact_message")
    assert len(await sim.sent(instance=instance.name, number=phone)) == 1


async def test_the_same_webhook_delivered_twice_gets_one_reply(
    sim: SimulatorClient, instance: Instance, phone: str, db_pool: Pool
) -> None:
    first = await sim.inbound(instance.name, phone, "quero um orçamento")
    envelope = {"event": "messages.upsert", "instance": instance.name, "data": first["data"]}
    again = await sim.webhook(envelope)
    assert again["status"] == 200
    assert again["body"]["status"] == "duplicate"
    await replies(sim, instance, phone)
    await settled(db_pool, instance, phone)
    assert len(await sim.sent(instance=instance.name, number=phone)) == 1
    assert (
        await db_pool.fetchval(
            "SELECT count(*) FROM messages WHERE instance_id = $1 AND provider_id = $2",
            instance.id,
            first["id"],
        )
        == 1
    )


async def _emit(stack: MirageStack, instance: Instance, event: str, data: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.simulator_url, timeout=10) as client:
        response = await client.post(
            f"/_sim/instances/{instance.name}/emit", json={"event": event, "data": data}
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


def _message(
    remote: str,
    *,
    from_me: bool = False,
    message: dict[str, Any] | None = None,
    message_type: str = "conversation",
    participant: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    key: dict[str, Any] = {
        "remoteJid": remote,
        "fromMe": from_me,
        "id": "3EB0" + uuid.uuid4().hex[:18].upper(),
    }
    if participant:
        key["participant"] = participant
    return {
        "key": key,
        "pushName": "Você" if from_me else "Bia",
        "status": "SERVER_ACK" if from_me else "DELIVERY_ACK",
        "message": message or {"conversation": "olá"},
        "messageType": message_type,
        "messageTimestamp": timestamp or int(time.time()),
        "instanceId": str(uuid.uuid4()),
        "source": "web",
    }


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("operator_from_me", ("paused", "human_takeover")),
        ("group", ("ignored", "group")),
        ("status", ("ignored", "broadcast")),
        ("reaction", ("ignored", "reaction")),
        ("stale", ("ignored", "stale")),
    ],
)
async def test_messages_that_must_not_be_answered_are_decided_and_never_answered(
    stack: MirageStack,
    sim: SimulatorClient,
    instance: Instance,
    phone: str,
    db_pool: Pool,
    case: str,
    expected: tuple[str, str],
) -> None:
    jid = f"{phone}@s.whatsapp.net"
    data = {
        "operator_from_me": _message(jid, from_me=True, message={"conversation": "deixa que eu respondo"}),
        "group": _message("120363025246125486@g.us", participant=jid),
        "status": _message("status@broadcast", participant=jid),
        "reaction": _message(
            jid,
            message={"reactionMessage": {"key": {"remoteJid": jid, "fromMe": True, "id": "X"}, "text": "👍"}},
            message_type="reactionMessage",
        ),
        "stale": _message(jid, timestamp=int(time.time()) - 3600),
    }[case]
    delivered = await _emit(stack, instance, "messages.upsert", data)
    assert delivered["status"] == 200, delivered
    assert (
        await wait_until(
            lambda: decision(db_pool, instance, data["key"]["id"]), timeout=30, message="the guard's decision"
        )
        == expected
    )
    if case == "operator_from_me":
        # The human took over: the person's next message is not answered either.
        follow_up = await sim.inbound(instance.name, phone, "e aí?")
        assert await wait_until(
            lambda: decision(db_pool, instance, follow_up["id"]),
            timeout=30,
            message="the follow-up's decision",
        ) == ("paused", "conversation_paused")
    assert await sim.sent(instance=instance.name, number=phone) == []


async def test_mirage_own_echo_and_an_edit_never_trigger_a_reply(
    stack: MirageStack, sim: SimulatorClient, instance: Instance, phone: str, db_pool: Pool
) -> None:
    jid = f"{phone}@s.whatsapp.net"
    first = await sim.inbound(instance.name, phone, "primeira mensagem")
    await replies(sim, instance, phone, 1)
    # Mirage's own echo (`send.message`) and an edit of the person's message.
    echo = _message(jid, from_me=True, message={"conversation": "eco de uma resposta"})
    echo["status"] = "PENDING"
    await _emit(stack, instance, "send.message", echo)
    edit = {
        "key": {"remoteJid": jid, "fromMe": False, "id": first["id"]},
        "type": "MESSAGE_EDIT",
        "editedMessage": {"conversation": "primeira mensagem, editada"},
    }
    assert (await _emit(stack, instance, "messages.edited", edit))["status"] == 200
    # A sentinel in the same conversation: the guard handles one conversation in order, so once
    # the sentinel is decided, anything the echo or the edit had triggered would be decided too.
    sentinel = await sim.inbound(instance.name, phone, "segunda mensagem")
    await wait_until(
        lambda: decision(db_pool, instance, sentinel["id"]), timeout=30, message="sentinel decided"
    )
    assert await decision(db_pool, instance, echo["key"]["id"]) is None
    await replies(sim, instance, phone, 2)
    await settled(db_pool, instance, phone)
    assert len(await sim.sent(instance=instance.name, number=phone)) == 2
    assert (
        await db_pool.fetchval(
            "SELECT text FROM messages WHERE instance_id = $1 AND provider_id = $2", instance.id, first["id"]
        )
        == "primeira mensagem, editada"
    )


async def test_a_burst_gets_one_reply_that_sees_every_message(
    sim: SimulatorClient, instance: Instance, phone: str, db_pool: Pool
) -> None:
    texts = ["oi", "queria saber do pedido 4711", "ele ainda não chegou"]
    ids = [(await sim.inbound(instance.name, phone, text))["id"] for text in texts]
    [sent] = await replies(sim, instance, phone)
    for message_id in ids:

        async def decided(provider_id: str = message_id) -> tuple[str, str] | None:
            return await decision(db_pool, instance, provider_id)

        assert await wait_until(decided, timeout=30) is not None
    await settled(db_pool, instance, phone)
    assert len(await sim.sent(instance=instance.name, number=phone)) == 1
    prompts = [
        " ".join(str(m.get("content")) for m in request["messages"]) for request in await sim.completions()
    ]
    assert any(all(text in prompt for text in texts) for prompt in prompts), "the reply saw the whole burst"
    assert sent["number"] == phone


async def test_a_lid_sender_is_answered_on_the_phone_number(
    sim: SimulatorClient, instance: Instance, phone: str, db_pool: Pool
) -> None:
    lid = f"{uuid.uuid4().int % 10**15}@lid"
    result = await sim.inbound(instance.name, phone, "tem desconto?", lid=lid)
    assert result["data"]["key"]["remoteJid"] == lid
    [sent] = await replies(sim, instance, phone)
    assert sent["number"] == phone
    assert sent["remote_jid"] == f"{phone}@s.whatsapp.net"


async def test_send_text_failing_twice_is_sent_once_after_three_attempts(
    sim: SimulatorClient, instance: Instance, phone: str, db_pool: Pool
) -> None:
    await sim.faults({"sendText": {"fail_next": 2, "status": 500}})
    await sim.inbound(instance.name, phone, "vocês entregam no sábado?")
    await replies(sim, instance, phone)
    [send] = await settled(db_pool, instance, phone)
    assert (send["status"], send["attempts"]) == ("sent", 3)
    assert len(await sim.sent(instance=instance.name, number=phone)) == 1


async def read_all(stack: MirageStack, topic: str, timeout_s: float = 10) -> list[Any]:
    """Every record of a (physical) topic of this stack, read from the beginning."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=stack.infra.kafka_bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            if not batch and records:
                break
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


async def test_send_text_failing_always_fails_dead_letters_and_alerts_once(
    stack: MirageStack, sim: SimulatorClient, instance: Instance, phone: str, db_pool: Pool
) -> None:
    await sim.faults({"sendText": {"fail_next": 3, "status": 500}})
    await sim.inbound(instance.name, phone, "alguém aí?")
    [send] = await settled(db_pool, instance, phone)
    assert (send["status"], send["attempts"]) == ("failed", 3)
    send_id = await db_pool.fetchval(
        "SELECT send_id FROM sends WHERE instance_id = $1 AND recipient_digits = $2", instance.id, phone
    )

    async def dead_lettered() -> bool:
        records = await read_all(stack, f"{stack.topic_prefix}send.requested.dlq.sender")
        return any(str(send_id) in (r.value or b"").decode() for r in records)

    await wait_until(dead_lettered, timeout=30, message="the command on the dead-letter topic")
    alerts = [
        event
        for record in await read_all(stack, f"{stack.topic_prefix}admin.alert")
        if isinstance(event := parse_event(record.value), AdminAlert) and event.data.send_id == send_id
    ]
    assert len(alerts) == 1
    assert alerts[0].data.cause == "send_exhausted"
    assert await sim.sent(instance=instance.name, number=phone) == []


async def test_a_bad_jwt_is_refused_with_401(stack: MirageStack, instance: Instance, db_pool: Pool) -> None:
    forged = jwt.encode(
        {"iat": int(time.time()), "exp": int(time.time()) + 600}, "not-the-secret-" * 3, "HS256"
    )
    envelope = {
        "event": "messages.upsert",
        "instance": instance.name,
        "data": _message("5511@s.whatsapp.net"),
    }
    async with httpx.AsyncClient(base_url=stack.ingest_url) as client:
        response = await client.post(
            "/webhook/evolution", json=envelope, headers={"authorization": f"Bearer {forged}"}
        )
    assert response.status_code == 401
    assert (
        await db_pool.fetchval(
            "SELECT auth_result FROM raw_events WHERE id = $1", response.json()["raw_event_id"]
        )
        == "invalid"
    )


async def test_a_malformed_body_is_422_and_recorded(
    sim: SimulatorClient, instance: Instance, db_pool: Pool
) -> None:
    # Valid JSON, a valid envelope, a broken payload: no remoteJid, no id.
    raw = json.dumps(
        {"event": "messages.upsert", "instance": instance.name, "data": {"key": {"fromMe": False}}}
    )
    result = await sim.webhook(None, raw=raw.encode(), instance=instance.name)
    assert result["status"] == 422
    row = await db_pool.fetchrow("SELECT * FROM raw_events WHERE id = $1", result["body"]["raw_event_id"])
    assert row is not None
    assert (row["http_status"], row["parse_result"], row["instance_id"]) == (422, "invalid_data", instance.id)


async def test_every_message_is_answered_exactly_once_when_the_generator_is_killed_mid_stream(
    stack: MirageStack, sim: SimulatorClient, instance: Instance, db_pool: Pool
) -> None:
    phones = [f"55118{i:08d}" for i in range(200)]
    await sim.faults({"completions": {"latency_ms": 150}})
    try:
        for index, number in enumerate(phones):
            await sim.inbound(instance.name, number, f"mensagem {index}")
            if index == len(phones) // 3:
                # Some replies are out, many are in flight: kill the generator without mercy.
                await wait_until(
                    lambda: _count_sent(sim, instance, phones, 5), timeout=45, message="the first replies"
                )
                stack.kill("generator")
        await stack.start_service("generator")

        async def all_answered() -> bool:
            return await _count_sent(sim, instance, phones, len(phones))

        await wait_until(all_answered, timeout=180, interval=0.5, message="every message answered")
    finally:
        await sim.faults({"completions": {"latency_ms": 0}})
    sent = await sim.sent(instance=instance.name)
    per_number: dict[str, int] = {}
    for row in sent:
        per_number[row["number"]] = per_number.get(row["number"], 0) + 1
    assert set(per_number) == set(phones)
    assert all(count == 1 for count in per_number.values()), {n: c for n, c in per_number.items() if c != 1}


async def _count_sent(sim: SimulatorClient, instance: Instance, phones: list[str], at_least: int) -> bool:
    wanted = set(phones)
    numbers = {row["number"] for row in await sim.sent(instance=instance.name) if row["number"] in wanted}
    return len(numbers) >= at_least
