"""The sender against the real Kafka and PostgreSQL, with a local Evolution stub."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from contracts import AlertCause, SendPurpose, SendText
from database import Pool
from evolution_client import EvolutionSettings
from messaging import KafkaSettings
from sender.settings import PresenceSettings, SendRetrySettings
from testkit import wait_until

from .conftest import (
    RunSender,
    SenderHarness,
    World,
    add_contact,
    add_instance,
    create_send_topics,
    new_world,
)
from .evolution_stub import GLOBAL_KEY, EvolutionStub

pytestmark = pytest.mark.integration


async def insert_in_flight_row(
    pool: Pool,
    world: World,
    command: SendText,
    *,
    started_ago_s: float,
    in_flight_until_in_s: float,
) -> None:
    """The row a sender leaves when it dies between calling Evolution and recording the answer."""
    data = command.data
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO sends (send_id, tenant_id, instance_id, instance_name, conversation_id, contact_id,"
            " recipient, recipient_digits, text, purpose, status, in_flight, attempts,"
            " attempt_started_at, in_flight_until)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, 'reply', 'sending', true, 1,"
            " now() - make_interval(secs => $9), now() + make_interval(secs => $10))",
            data.send_id,
            world.tenant_id,
            world.instance_id,
            world.instance_name,
            data.conversation_id,
            data.contact_id,
            data.to,
            data.text,
            started_ago_s,
            in_flight_until_in_s,
        )


async def insert_echo(
    pool: Pool, world: World, *, text: str, chat_digits: str, provider_id: str, received_ago_s: float = 0
) -> None:
    """What ingest records when Evolution's `send.message` webhook arrives."""
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO messages (tenant_id, instance_id, conversation_id, contact_id, provider_id,"
            " direction, origin, source_event, chat_jid, category, text, sent_at, received_at)"
            " VALUES ($1, $2, $3, $4, $5, 'outbound', 'mirage', 'send.message', $6, 'text', $7,"
            " now() - make_interval(secs => $8), now() - make_interval(secs => $8))",
            world.tenant_id,
            world.instance_id,
            world.contact.conversation_id,
            world.contact.contact_id,
            provider_id,
            f"{chat_digits}@s.whatsapp.net",
            text,
            received_ago_s,
        )


async def assert_quiet(harness: SenderHarness, send_id: uuid.UUID) -> None:
    """No failure, no alert, no dead letter for this send."""
    await harness.settled()
    assert harness.failed_events(send_id) == []
    assert harness.alert_events(send_id) == []
    assert harness.dead_lettered(send_id) == []


async def test_a_send_goes_out_once_after_composing_with_its_provider_id_recorded(
    run_sender: RunSender, world: World, stub: EvolutionStub
) -> None:
    command = world.command("Olá! Como posso ajudar?", typing_delay_ms=120)
    async with run_sender() as harness:
        await harness.publish(command)
        row = await harness.wait_status(command.data.send_id, "sent")
        await harness.settled()
        [call] = stub.sent_texts()
        [presence] = stub.calls_to("sendPresence")
        [event] = harness.sent_events(command.data.send_id)
        await assert_quiet(harness, command.data.send_id)
    assert call.body == {"number": world.contact.phone, "text": "Olá! Como posso ajudar?", "delay": 120}
    assert call.instance == world.instance_name
    assert call.apikey == world.token, "the instance token, not the global key"
    assert presence.body == {"number": world.contact.phone, "presence": "composing", "delay": 50}
    assert presence.ended is not None
    assert presence.ended <= call.started, "composing first, then the text"
    assert row["provider_message_id"] == call.message_id
    assert row["attempts"] == 1
    assert row["in_flight"] is False
    assert row["sent_at"] is not None
    assert row["recipient_digits"] == world.contact.phone
    assert event.data.provider_message_id == call.message_id
    assert event.data.attempts == 1
    assert event.data.purpose is SendPurpose.REPLY
    assert event.correlation_id == command.correlation_id
    assert event.causation_id == command.event_id


async def test_an_instance_without_token_uses_the_global_key(
    run_sender: RunSender, db_pool: Pool, stub: EvolutionStub
) -> None:
    tokenless = await new_world(db_pool, stub, token=False)
    command = tokenless.command("oi")
    async with run_sender() as harness:
        await harness.publish(command)
        await harness.wait_status(command.data.send_id, "sent")
    [call] = stub.sent_texts()
    assert call.apikey == GLOBAL_KEY
    assert stub.calls_to("sendPresence") == [], "no typing delay, no presence"


async def test_the_same_command_delivered_twice_is_sent_once(
    run_sender: RunSender, world: World, stub: EvolutionStub
) -> None:
    command = world.command("uma vez só")
    # A producer re-publishing the same send under a new event id is still the same send.
    republished = command.model_copy(update={"event_id": uuid.uuid4()})
    first_sentinel = world.command("sentinela 1", part_index=1)
    second_sentinel = world.command("sentinela 2", part_index=2)
    async with run_sender() as harness:
        await harness.publish(command, command, republished, first_sentinel)
        await harness.wait_status(first_sentinel.data.send_id, "sent")
        # Delivered again long after it was settled (a rewound consumer group).
        await harness.publish(command, second_sentinel)
        await harness.wait_status(second_sentinel.data.send_id, "sent")
        await harness.settled()
        assert len(harness.sent_events(command.data.send_id)) == 1
        await assert_quiet(harness, command.data.send_id)
    assert [call.text for call in stub.calls_to("sendText")] == ["uma vez só", "sentinela 1", "sentinela 2"]


async def test_two_server_errors_then_success_is_one_message_after_three_attempts(
    run_sender: RunSender, world: World, stub: EvolutionStub
) -> None:
    stub.fail_next("sendText", 2, status=500)
    command = world.command("terceira é a vez")
    async with run_sender() as harness:
        await harness.publish(command)
        row = await harness.wait_status(command.data.send_id, "sent")
        await harness.settled()
        [event] = harness.sent_events(command.data.send_id)
        await assert_quiet(harness, command.data.send_id)
    assert [call.status for call in stub.calls_to("sendText")] == [500, 500, 201]
    assert len(stub.sent_texts()) == 1
    assert len(stub.calls_to("sendPresence")) == 0
    assert row["attempts"] == 3
    assert event.data.attempts == 3
    assert row["provider_message_id"] == stub.sent_texts()[0].message_id
    assert "500" in row["last_error"]


async def test_a_send_that_keeps_failing_is_failed_dead_lettered_and_alerted_once(
    run_sender: RunSender, world: World, stub: EvolutionStub
) -> None:
    stub.fail_next("sendText", 100, status=503)
    command = world.command("não vai")
    async with run_sender() as harness:
        await harness.publish(command)
        row = await harness.wait_status(command.data.send_id, "failed")
        await wait_until(lambda: harness.dead_lettered(command.data.send_id), message="the dead letter")
        await harness.settled()
        [failed] = harness.failed_events(command.data.send_id)
        [alert] = harness.alert_events(command.data.send_id)
        [dead] = harness.dead_lettered(command.data.send_id)
        assert harness.sent_events(command.data.send_id) == []

        # Redelivered: dead-lettered again (it is still a failed command), never re-sent or re-alerted.
        await harness.publish(command)
        await wait_until(
            lambda: len(harness.dead_lettered(command.data.send_id)) == 2, message="second dead letter"
        )
        await harness.settled()
        assert len(harness.alert_events(command.data.send_id)) == 1
        assert len(harness.failed_events(command.data.send_id)) == 1
    assert len(stub.calls_to("sendText")) == 3
    assert row["attempts"] == 3
    assert row["failure_code"] == "exhausted"
    assert row["last_status_code"] == 503
    assert failed.data.attempts == 3
    assert failed.data.retryable is True
    assert failed.data.status_code == 503
    assert failed.data.ambiguous is False
    assert failed.data.refused is False
    assert failed.causation_id == command.event_id
    assert alert.data.cause is AlertCause.SEND_EXHAUSTED
    assert alert.data.alert_key == f"send_exhausted:{world.instance_id}"
    assert alert.data.instance_id == world.instance_id
    assert dead.event_id == command.event_id


async def test_a_number_not_on_whatsapp_fails_at_once(
    run_sender: RunSender, world: World, stub: EvolutionStub
) -> None:
    stub.not_on_whatsapp.add(world.contact.phone)
    command = world.command("alguém aí?")
    async with run_sender() as harness:
        await harness.publish(command)
        row = await harness.wait_status(command.data.send_id, "failed")
        await wait_until(lambda: harness.dead_lettered(command.data.send_id), message="the dead letter")
        await harness.settled()
        [failed] = harness.failed_events(command.data.send_id)
        [alert] = harness.alert_events(command.data.send_id)
    assert len(stub.calls_to("sendText")) == 1
    assert row["attempts"] == 1
    assert row["failure_code"] == "number_not_on_whatsapp"
    assert failed.data.status_code == 400
    assert failed.data.retryable is False
    assert failed.data.attempts == 1
    assert alert.data.cause is AlertCause.SEND_REJECTED


async def test_opted_out_blacklisted_and_stopped_sends_are_refused_but_the_opt_out_confirmation_goes_out(
    run_sender: RunSender, world: World, stub: EvolutionStub, db_pool: Pool
) -> None:
    opted_out = world.contact
    by_phone = await add_contact(db_pool, world.tenant_id, world.instance_id)
    blacklisted = await add_contact(db_pool, world.tenant_id, world.instance_id)
    lid_identity = await add_contact(db_pool, world.tenant_id, world.instance_id)
    stopped_instance, _ = await add_instance(db_pool, world.tenant_id, token=None, sending_stopped=True)
    async with db_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO opt_outs (tenant_id, contact_id, phone, keyword, source)"
            " VALUES ($1, $2, $3, 'PARE', 'test')",
            world.tenant_id,
            opted_out.contact_id,
            opted_out.phone,
        )
        # Opted out under another identity, its phone spelled without the ninth digit.
        phone_without_ninth_digit = by_phone.phone[:4] + by_phone.phone[5:]
        await conn.execute(
            "INSERT INTO opt_outs (tenant_id, contact_id, phone, keyword, source)"
            " VALUES ($1, $2, $3, 'SAIR', 'test')",
            world.tenant_id,
            lid_identity.contact_id,
            phone_without_ninth_digit,
        )
        await conn.execute(
            "INSERT INTO blacklist (tenant_id, phone, reason) VALUES ($1, $2, 'manual')",
            world.tenant_id,
            blacklisted.phone,
        )
    refused = [
        ("opted_out", world.command("promo", contact=opted_out, typing_delay_ms=300)),
        ("opted_out", world.command("promo", contact=by_phone, purpose=SendPurpose.OUTREACH)),
        ("blacklisted", world.command("promo", contact=blacklisted, typing_delay_ms=300)),
        (
            "instance_sending_stopped",
            world.command(
                "Você não receberá mais mensagens.",
                purpose=SendPurpose.OPT_OUT_CONFIRMATION,
                instance_id=stopped_instance,
            ),
        ),
        ("instance_not_found", world.command("oi", instance_id=uuid.uuid4(), contact=by_phone)),
    ]
    confirmation = world.command(
        "Pronto! Você não receberá mais mensagens.",
        contact=opted_out,
        purpose=SendPurpose.OPT_OUT_CONFIRMATION,
        typing_delay_ms=100,
    )
    async with run_sender() as harness:
        await harness.publish(*(command for _, command in refused), confirmation)
        rows = [(code, await harness.wait_status(c.data.send_id, "refused")) for code, c in refused]
        await harness.wait_status(confirmation.data.send_id, "sent")
        await harness.settled()
        for _, command in refused:
            [failed] = harness.failed_events(command.data.send_id)
            assert failed.data.refused is True
            assert failed.data.attempts == 0
            assert harness.alert_events(command.data.send_id) == []
            assert harness.dead_lettered(command.data.send_id) == []
    for code, row in rows:
        assert row["failure_code"] == code, code
        assert row["attempts"] == 0
    assert [call.text for call in stub.calls_to("sendText")] == ["Pronto! Você não receberá mais mensagens."]
    assert [call.body["number"] for call in stub.calls_to("sendPresence")] == [opted_out.phone]


async def test_a_row_left_in_flight_by_a_crash_is_ambiguous_and_never_resent(
    run_sender: RunSender, world: World, stub: EvolutionStub, db_pool: Pool
) -> None:
    command = world.command("talvez tenha ido")
    await insert_in_flight_row(db_pool, world, command, started_ago_s=60, in_flight_until_in_s=-30)
    async with run_sender() as harness:
        await harness.publish(command)
        row = await harness.wait_status(command.data.send_id, "ambiguous")
        await harness.settled()
        [failed] = harness.failed_events(command.data.send_id)
        [alert] = harness.alert_events(command.data.send_id)
        # Delivered once more: nothing new.
        sentinel = world.command("sentinela", part_index=1)
        await harness.publish(command, sentinel)
        await harness.wait_status(sentinel.data.send_id, "sent")
        await harness.settled()
        assert len(harness.failed_events(command.data.send_id)) == 1
        assert len(harness.alert_events(command.data.send_id)) == 1
        assert harness.dead_lettered(command.data.send_id) == []
    assert [call.text for call in stub.calls_to("sendText")] == ["sentinela"]
    assert row["attempts"] == 1
    assert row["in_flight"] is False
    assert row["failure_code"] == "ambiguous"
    assert failed.data.ambiguous is True
    assert failed.data.retryable is False
    assert alert.data.cause is AlertCause.SEND_AMBIGUOUS
    assert alert.data.alert_key == f"send_ambiguous:{world.instance_id}"


async def test_a_row_left_in_flight_whose_echo_arrived_is_recorded_as_sent(
    run_sender: RunSender, world: World, stub: EvolutionStub, db_pool: Pool
) -> None:
    command = world.command("chegou sim")
    await insert_in_flight_row(db_pool, world, command, started_ago_s=60, in_flight_until_in_s=-30)
    no_ninth_digit = world.contact.phone[:4] + world.contact.phone[5:]
    # Decoys: the same text before the attempt started, and another text after it.
    await insert_echo(
        db_pool,
        world,
        text="chegou sim",
        chat_digits=world.contact.phone,
        provider_id="OLD",
        received_ago_s=120,
    )
    await insert_echo(
        db_pool,
        world,
        text="outra coisa",
        chat_digits=world.contact.phone,
        provider_id="OTHER",
        received_ago_s=40,
    )
    # Evolution normalised the Brazilian number: the echo's JID lacks the ninth digit.
    await insert_echo(
        db_pool, world, text="chegou sim", chat_digits=no_ninth_digit, provider_id="ECHO1", received_ago_s=50
    )
    async with run_sender() as harness:
        await harness.publish(command)
        row = await harness.wait_status(command.data.send_id, "sent")
        await harness.settled()
        [event] = harness.sent_events(command.data.send_id)
        await assert_quiet(harness, command.data.send_id)
    assert stub.calls_to("sendText") == []
    assert row["provider_message_id"] == "ECHO1"
    assert event.data.provider_message_id == "ECHO1"
    assert event.data.attempts == 1


async def test_a_timeout_after_the_request_went_out_is_not_retried_and_is_ambiguous(
    run_sender: RunSender, world: World, stub: EvolutionStub
) -> None:
    stub.hang_next = 1
    command = world.command("sem resposta")
    evolution = EvolutionSettings(base_url=stub.url, api_key=SecretStr(GLOBAL_KEY), read_timeout_s=0.5)
    async with run_sender(evolution=evolution, echo_wait_s=0.3) as harness:
        await harness.publish(command)
        row = await harness.wait_status(command.data.send_id, "ambiguous")
        # Evolution carries it out after all, too late for the sender: still nothing repeated.
        stub.release_hung()
        await wait_until(lambda: len(stub.sent_texts()) == 1, message="the late send")
        await harness.settled()
        [failed] = harness.failed_events(command.data.send_id)
        [alert] = harness.alert_events(command.data.send_id)
        assert harness.dead_lettered(command.data.send_id) == []
        assert harness.sent_events(command.data.send_id) == []
    assert len(stub.calls_to("sendText")) == 1
    assert row["attempts"] == 1
    assert "ReadTimeout" in row["last_error"]
    assert failed.data.ambiguous is True
    assert alert.data.cause is AlertCause.SEND_AMBIGUOUS


async def test_an_echo_arriving_after_a_timeout_settles_the_send_as_sent(
    run_sender: RunSender, world: World, stub: EvolutionStub, db_pool: Pool
) -> None:
    stub.hang_next = 1
    command = world.command("eco salvador")
    evolution = EvolutionSettings(base_url=stub.url, api_key=SecretStr(GLOBAL_KEY), read_timeout_s=0.3)
    async with run_sender(evolution=evolution, echo_wait_s=20) as harness:
        await harness.publish(command)
        await wait_until(lambda: stub.calls_to("sendText"), message="the hanging call")
        await insert_echo(
            db_pool, world, text="eco salvador", chat_digits=world.contact.phone, provider_id="LATE1"
        )
        row = await harness.wait_status(command.data.send_id, "sent")
        await assert_quiet(harness, command.data.send_id)
        [event] = harness.sent_events(command.data.send_id)
    assert row["provider_message_id"] == "LATE1"
    assert event.data.provider_message_id == "LATE1"
    assert len(stub.calls_to("sendText")) == 1


async def test_an_ambiguous_send_whose_echo_arrives_later_becomes_sent_and_resolves_its_alert(
    run_sender: RunSender, world: World, stub: EvolutionStub, db_pool: Pool
) -> None:
    stub.hang_next = 1
    command = world.command("eco atrasado")
    evolution = EvolutionSettings(base_url=stub.url, api_key=SecretStr(GLOBAL_KEY), read_timeout_s=0.3)
    async with run_sender(evolution=evolution, echo_wait_s=0.2, late_echo_interval_s=0.2) as harness:
        await harness.publish(command)
        await harness.wait_status(command.data.send_id, "ambiguous")
        stub.release_hung()
        # Evolution's `send.message` echo arrives long after the sender gave up waiting for it.
        await insert_echo(
            db_pool, world, text="eco atrasado", chat_digits=world.contact.phone, provider_id="LATE2"
        )

        async def sent() -> Any:
            row = await harness.row(command.data.send_id)
            return row if row is not None and row["status"] == "sent" else None

        row = await wait_until(sent, timeout=30, message="the ambiguous send settled as sent")
        await harness.settled()
        [sent_event] = harness.sent_events(command.data.send_id)
        raised, resolved = sorted(harness.alert_events(command.data.send_id), key=lambda a: a.data.resolved)
        [failed] = harness.failed_events(command.data.send_id)
    assert row["provider_message_id"] == "LATE2"
    assert sent_event.data.provider_message_id == "LATE2"
    assert sent_event.correlation_id == command.correlation_id, (
        "the late settlement stays in the causal chain"
    )
    assert failed.data.ambiguous is True, "the ambiguity was reported when it was judged"
    assert sent_event.data.ambiguous_at == failed.occurred_at, (
        "the late message.sent names when the send was counted failed, so statistics move it"
    )
    assert raised.data.cause is resolved.data.cause is AlertCause.SEND_AMBIGUOUS
    assert not raised.data.resolved
    assert resolved.data.resolved
    assert resolved.data.alert_key == raised.data.alert_key
    assert len(stub.calls_to("sendText")) == 1, "never sent again"


async def test_a_send_in_flight_elsewhere_is_waited_for_before_it_is_judged(
    run_sender: RunSender, world: World, stub: EvolutionStub, db_pool: Pool
) -> None:
    command = world.command("outro consumidor")
    await insert_in_flight_row(db_pool, world, command, started_ago_s=0, in_flight_until_in_s=1.5)
    async with db_pool.acquire() as conn:
        deadline = await conn.fetchval(
            "SELECT in_flight_until FROM sends WHERE send_id = $1", command.data.send_id
        )
    async with run_sender() as harness:
        await harness.publish(command)
        row = await harness.wait_status(command.data.send_id, "ambiguous")
    assert row["updated_at"] >= deadline, "judged only once the other attempt must have ended"
    assert stub.calls_to("sendText") == []


async def test_a_resumed_send_with_no_attempts_left_fails_without_calling_evolution(
    run_sender: RunSender, world: World, stub: EvolutionStub, db_pool: Pool
) -> None:
    command = world.command("já tentei demais")
    await insert_in_flight_row(db_pool, world, command, started_ago_s=5, in_flight_until_in_s=-1)
    async with db_pool.acquire() as conn:
        # Two definite 500s were recorded before the attempts setting went down to 2.
        await conn.execute(
            "UPDATE sends SET in_flight = false, attempts = 2, last_error = 'HTTP 500',"
            " last_status_code = 500 WHERE send_id = $1",
            command.data.send_id,
        )
    async with run_sender(
        retry=SendRetrySettings(attempts=2, base_delay_s=0.01, max_delay_s=0.01)
    ) as harness:
        await harness.publish(command)
        row = await harness.wait_status(command.data.send_id, "failed")
        await wait_until(lambda: harness.dead_lettered(command.data.send_id), message="the dead letter")
        await harness.settled()
        [failed] = harness.failed_events(command.data.send_id)
        [alert] = harness.alert_events(command.data.send_id)
    assert stub.calls_to("sendText") == []
    assert row["attempts"] == 2
    assert row["failure_code"] == "exhausted"
    assert failed.data.status_code == 500
    assert alert.data.cause is AlertCause.SEND_EXHAUSTED


async def test_an_unreachable_evolution_is_retried_then_failed(
    run_sender: RunSender, world: World, stub: EvolutionStub
) -> None:
    closed = EvolutionSettings(
        base_url="http://127.0.0.1:9", api_key=SecretStr(GLOBAL_KEY), connect_timeout_s=1.0
    )
    command = world.command("ninguém em casa", typing_delay_ms=100)
    async with run_sender(evolution=closed) as harness:
        await harness.publish(command)
        row = await harness.wait_status(command.data.send_id, "failed")
        await wait_until(lambda: harness.dead_lettered(command.data.send_id), message="the dead letter")
        await harness.settled()
        [failed] = harness.failed_events(command.data.send_id)
        assert len(harness.alert_events(command.data.send_id)) == 1
    assert row["attempts"] == 3
    assert row["failure_code"] == "exhausted"
    assert failed.data.retryable is True
    assert failed.data.status_code is None


async def test_conversations_send_concurrently_while_each_stays_in_order(
    run_sender: RunSender, world: World, stub: EvolutionStub, db_pool: Pool, kafka_settings: KafkaSettings
) -> None:
    other = await add_contact(db_pool, world.tenant_id, world.instance_id)
    parts = {
        world.contact.conversation_id: [
            world.command(f"A{i}", part_index=i, typing_delay_ms=600) for i in range(3)
        ],
        other.conversation_id: [
            world.command(f"B{i}", contact=other, part_index=i, typing_delay_ms=600) for i in range(3)
        ],
    }
    interleaved = [command for pair in zip(*parts.values(), strict=True) for command in pair]
    # Everything is waiting in the topic before the sender starts: one fetched batch.
    await create_send_topics(kafka_settings)
    async with run_sender(presence=PresenceSettings(enabled=False)) as harness:
        await harness.publish(*interleaved)
        for command in interleaved:
            await harness.wait_status(command.data.send_id, "sent")
    calls = {call.text: call for call in stub.sent_texts()}
    for prefix in ("A", "B"):
        ordered = sorted((c for t, c in calls.items() if t.startswith(prefix)), key=lambda c: c.started)
        assert [c.text for c in ordered] == [f"{prefix}0", f"{prefix}1", f"{prefix}2"]
        for earlier, later in itertools.pairwise(ordered):
            assert earlier.ended is not None
            assert earlier.ended <= later.started, "one conversation's parts go out one after another"
    overlapping = [
        (a.text, b.text)
        for a in calls.values()
        if a.text.startswith("A")
        for b in calls.values()
        if b.text.startswith("B")
        and a.ended is not None
        and b.ended is not None
        and a.started < b.ended
        and b.started < a.ended
    ]
    assert overlapping, "sends of different conversations overlap in time"


async def test_an_infrastructure_failure_in_one_lane_never_makes_a_send_in_flight_in_another_ambiguous(
    run_sender: RunSender, world: World, stub: EvolutionStub, db_pool: Pool, database_dsn: str
) -> None:
    """Lane isolation: conversation B's database connection dies while A's sendText is in flight.

    B's lane retries until the database answers again; A's call runs to its end and is
    recorded as sent, never cancelled into an ambiguous send.
    """
    other = await add_contact(db_pool, world.tenant_id, world.instance_id)
    in_flight = world.command("a caminho")
    failing = world.command("falha no banco", contact=other)
    stub.hang_next = 1
    evolution = EvolutionSettings(base_url=stub.url, api_key=SecretStr(GLOBAL_KEY), read_timeout_s=30.0)
    async with run_sender(evolution=evolution) as harness:
        await harness.publish(in_flight)
        await wait_until(lambda: stub.calls_to("sendText", "a caminho"), timeout=30, message="A in flight")
        blocker = await asyncpg.connect(database_dsn)
        try:
            # Hold B's send id: B's INSERT waits on it until its connection is terminated.
            async with blocker.transaction():
                await blocker.execute(
                    "INSERT INTO sends (send_id, tenant_id, instance_id, instance_name, recipient,"
                    " recipient_digits, text, purpose, status)"
                    " VALUES ($1, $2, $3, $4, 'x', 'x', 'x', 'reply', 'sending')",
                    failing.data.send_id,
                    world.tenant_id,
                    world.instance_id,
                    world.instance_name,
                )
                await harness.publish(failing)
                waiting = await wait_until(
                    lambda: db_pool.fetchval(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = 'mirage-sender'"
                        " AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO sends%'"
                    ),
                    timeout=30,
                    message="B waiting on its insert",
                )
                assert await db_pool.fetchval("SELECT pg_terminate_backend($1)", waiting)
                await asyncio.sleep(0.3)  # B's lane has seen the failure and waits to retry
                raise _RollBack
        except _RollBack:
            pass
        finally:
            await blocker.close()
        await harness.wait_status(failing.data.send_id, "sent")
        still = await harness.row(in_flight.data.send_id)
        assert still is not None
        assert still["status"] == "sending", "A is still in its call"
        stub.release_hung()
        row = await harness.wait_status(in_flight.data.send_id, "sent")
        await harness.settled()
        await assert_quiet(harness, in_flight.data.send_id)
    assert row["attempts"] == 1
    assert [call.text for call in stub.calls_to("sendText")].count("a caminho") == 1
    assert [call.text for call in stub.calls_to("sendText")].count("falha no banco") == 1


class _RollBack(Exception):
    """Leaves the blocking transaction by rolling it back."""
