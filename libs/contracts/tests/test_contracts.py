"""Contract tests: the wire form of every event is stable, tolerant and complete."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

import contracts
from contracts import (
    TOPIC_EVENTS,
    AdminAlert,
    AdminAlertData,
    AlertCause,
    ChatKind,
    ConsentChangeData,
    ContactOptedIn,
    ContactOptedOut,
    ConversationBlocked,
    ConversationBlockedData,
    Envelope,
    GenerateReply,
    GenerateReplyData,
    InstanceState,
    InstanceStatusChanged,
    InstanceStatusChangedData,
    MessageCategory,
    MessageFailed,
    MessageFailedData,
    MessageReceived,
    MessageReceivedData,
    MessageSent,
    MessageSentData,
    PersonaliseMessageData,
    ReplyGenerated,
    ReplyGeneratedData,
    RequestOutreach,
    RequestOutreachData,
    RequestPersonalisation,
    RequestTurn,
    RequestTurnData,
    RoundCompleted,
    RoundCompletedData,
    RoundStarted,
    RoundStartedData,
    SendPurpose,
    SendText,
    SendTextData,
    Topic,
    UnexpectedEventError,
    dead_letter_topic,
    parse_event,
    partition_key,
    stable_id,
    topic_of,
)

TENANT = uuid.UUID("00000000-0000-4000-8000-000000000001")
CONVERSATION = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
INSTANCE = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
CONTACT = uuid.UUID("00000000-0000-4000-8000-0000000000b1")
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _common() -> dict[str, Any]:
    return {"tenant_id": TENANT, "correlation_id": uuid.uuid4(), "occurred_at": NOW}


def sample_events() -> list[Envelope]:
    """One realistic instance of every event type Mirage publishes."""
    message_id = uuid.uuid4()
    send_id = uuid.uuid4()
    pair = uuid.uuid4()
    round_id = uuid.uuid4()
    return [
        MessageReceived(
            **_common(),
            data=MessageReceivedData(
                message_id=message_id,
                instance_id=INSTANCE,
                instance_name="loja-centro",
                conversation_id=CONVERSATION,
                contact_id=CONTACT,
                provider_message_id="3EB0C4F1A2B3C4D5E6F7A8",
                from_me=False,
                chat_jid="123456789@lid",
                reply_to="5511999990001@s.whatsapp.net",
                push_name="Ana",
                chat_kind=ChatKind.DIRECT,
                category=MessageCategory.TEXT,
                text="oi, tudo bem?",
                message_type="conversation",
                sent_at=NOW,
            ),
        ),
        GenerateReply(
            **_common(),
            data=GenerateReplyData(
                conversation_id=CONVERSATION,
                instance_id=INSTANCE,
                instance_name="loja-centro",
                contact_id=CONTACT,
                reply_to="5511999990001@s.whatsapp.net",
                message_ids=(message_id, uuid.uuid4()),
            ),
        ),
        ReplyGenerated(
            **_common(),
            data=ReplyGeneratedData(
                reply_id=uuid.uuid4(),
                conversation_id=CONVERSATION,
                instance_id=INSTANCE,
                text="Olá!\n\nComo posso ajudar?",
                parts=("Olá!", "Como posso ajudar?"),
                model="gpt-4o-mini",
            ),
        ),
        SendText(
            **_common(),
            data=SendTextData(
                send_id=send_id,
                instance_id=INSTANCE,
                instance_name="loja-centro",
                conversation_id=CONVERSATION,
                to="5511999990001",
                text="Olá!",
                typing_delay_ms=1200,
            ),
        ),
        MessageSent(
            **_common(),
            data=MessageSentData(
                send_id=send_id,
                instance_id=INSTANCE,
                instance_name="loja-centro",
                to="5511999990001",
                provider_message_id="3EB0AAAABBBBCCCCDDDDEE",
                attempts=1,
                purpose=SendPurpose.REPLY,
                sent_at=NOW,
            ),
        ),
        MessageFailed(
            **_common(),
            data=MessageFailedData(
                send_id=send_id,
                instance_id=INSTANCE,
                instance_name="loja-centro",
                to="5511999990001",
                error="HTTP 500",
                status_code=500,
                attempts=3,
                retryable=True,
                purpose=SendPurpose.OUTREACH,
            ),
        ),
        InstanceStatusChanged(
            **_common(),
            data=InstanceStatusChangedData(
                instance_id=INSTANCE,
                instance_name="loja-centro",
                previous=InstanceState.CONNECTING,
                current=InstanceState.CONNECTED,
                reason="qr_scanned",
                status_code=200,
            ),
        ),
        ContactOptedOut(
            **_common(),
            data=ConsentChangeData(
                contact_id=CONTACT,
                jid="5511999990001@s.whatsapp.net",
                keyword="PARE",
                source="inbound_keyword",
            ),
        ),
        ContactOptedIn(
            **_common(),
            data=ConsentChangeData(
                contact_id=CONTACT,
                jid="5511999990001@s.whatsapp.net",
                keyword="VOLTAR",
                source="inbound_keyword",
            ),
        ),
        ConversationBlocked(
            **_common(),
            data=ConversationBlockedData(
                conversation_id=CONVERSATION,
                instance_id=INSTANCE,
                contact_id=CONTACT,
                reason="bot_loop",
                loop_count=4,
                script_id="s-1",
            ),
        ),
        AdminAlert(
            **_common(),
            data=AdminAlertData(
                cause=AlertCause.SEND_EXHAUSTED,
                alert_key=f"send_exhausted:{INSTANCE}",
                title="Envio falhou após 3 tentativas",
                context={"send_id": str(send_id)},
            ),
        ),
        RequestOutreach(
            **_common(),
            data=RequestOutreachData(
                campaign_id=uuid.uuid4(),
                target_id=uuid.uuid4(),
                instance_id=INSTANCE,
                instance_name="loja-centro",
                to="5511999990002",
                text="Oi Ana!",
            ),
        ),
        RoundStarted(
            **_common(),
            data=RoundStartedData(
                round_id=round_id,
                pair_id=pair,
                initiator_instance_id=INSTANCE,
                responder_instance_id=uuid.uuid4(),
                planned_turns=4,
                script_id="round-1",
            ),
        ),
        RoundCompleted(
            **_common(),
            data=RoundCompletedData(
                round_id=round_id,
                pair_id=pair,
                turns_completed=4,
                outcome="completed",
                duration_ms=90_000,
            ),
        ),
        RequestTurn(
            **_common(),
            data=RequestTurnData(
                round_id=round_id,
                pair_id=pair,
                turn_index=0,
                speaker_instance_id=INSTANCE,
                speaker_instance_name="loja-centro",
                listener_instance_id=uuid.uuid4(),
                listener_number="5511988887777",
                script_id="round-1",
            ),
        ),
        RequestPersonalisation(
            **_common(),
            data=PersonaliseMessageData(
                send=SendTextData(
                    send_id=uuid.uuid4(),
                    instance_id=INSTANCE,
                    instance_name="loja-centro",
                    to="5511999990002",
                    text="Oi Ana, temos novidades!",
                    purpose=SendPurpose.OUTREACH,
                    campaign_id=uuid.uuid4(),
                    target_id=uuid.uuid4(),
                ),
                template="Oi {{name}}, temos novidades!",
                variables={"name": "Ana", "pedido": 42},
            ),
        ),
    ]


EVENTS = sample_events()


def test_every_event_type_has_a_sample_and_a_topic() -> None:
    covered = {type(event) for event in EVENTS}
    registered = {event_type for types in TOPIC_EVENTS.values() for event_type in types}
    assert covered == registered
    assert set(TOPIC_EVENTS) == set(Topic)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.type)
def test_json_round_trip_is_lossless(event: Envelope) -> None:
    wire = event.to_json_bytes()
    parsed = parse_event(wire, topic_of(event))
    assert parsed == event
    assert type(parsed) is type(event)
    assert parsed.to_json_bytes() == wire


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.type)
def test_unknown_fields_are_tolerated_at_every_level(event: Envelope) -> None:
    document = json.loads(event.to_json_bytes())
    document["added_by_a_newer_producer"] = {"x": 1}
    document["data"]["also_new"] = [1, 2, 3]
    parsed = parse_event(json.dumps(document))
    assert parsed == event


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.type)
def test_every_event_has_a_partition_key(event: Envelope) -> None:
    key = partition_key(event)
    assert isinstance(key, bytes)
    assert key


def test_message_flows_are_keyed_by_conversation() -> None:
    keyed = [e for e in EVENTS if isinstance(e, MessageReceived | GenerateReply | SendText)]
    assert {partition_key(e) for e in keyed} == {CONVERSATION.bytes}


def test_a_send_without_conversation_is_keyed_by_instance_and_recipient() -> None:
    send = SendText(
        **_common(),
        data=SendTextData(
            send_id=uuid.uuid4(), instance_id=INSTANCE, instance_name="x", to="5511", text="oi"
        ),
    )
    assert partition_key(send) == f"{INSTANCE}:5511".encode()


def test_instance_events_are_keyed_by_instance() -> None:
    event = next(e for e in EVENTS if isinstance(e, InstanceStatusChanged))
    assert partition_key(event) == INSTANCE.bytes


def test_events_are_frozen() -> None:
    with pytest.raises(ValidationError):
        EVENTS[0].tenant_id = uuid.uuid4()  # type: ignore[misc]


def test_a_malformed_body_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        parse_event(b'{"type": "message.received", "data": {}}')
    with pytest.raises(ValidationError):
        parse_event(b"not json")
    with pytest.raises(ValidationError):
        parse_event(b'{"type": "something.else"}')


def test_an_event_on_the_wrong_topic_is_refused() -> None:
    with pytest.raises(UnexpectedEventError):
        parse_event(EVENTS[0].to_json_bytes(), Topic.SEND_REQUESTED)


def test_naive_timestamps_are_refused() -> None:
    document = json.loads(EVENTS[0].to_json_bytes())
    document["occurred_at"] = "2026-11-28T12:00:00"
    with pytest.raises(ValidationError):
        parse_event(json.dumps(document))


def test_stable_ids_are_deterministic_and_distinct() -> None:
    assert stable_id("a", 1) == stable_id("a", 1)
    assert stable_id("a", 1) != stable_id("a", 2)
    assert stable_id("a1") != stable_id("a", 1)


def test_dead_letter_topic_names() -> None:
    assert dead_letter_topic(Topic.MESSAGE_RECEIVED, "guard") == "message.received.dlq.guard"


def test_commands_are_imperative_and_events_past_tense() -> None:
    commands = {GenerateReply, SendText, RequestOutreach, RequestTurn, RequestPersonalisation}
    for types in TOPIC_EVENTS.values():
        for event_type in types:
            name = event_type.__name__
            if event_type in commands:
                assert not name.endswith("ed"), name
            else:
                assert re.search(r"(ed|Sent)(Out|In)?$|Alert$", name), name


def test_public_names_are_exported() -> None:
    exported = set(contracts.__all__)
    assert {"Topic", "Envelope", "parse_event", "partition_key", "AnyEvent"} <= exported
    for name in exported:
        assert hasattr(contracts, name), name
    for types in TOPIC_EVENTS.values():
        for event_type in types:
            assert event_type.__name__ in exported
    assert not any(name.startswith("_") for name in exported)
