"""The guard's outputs: typed, routed to the right topic, with ids a redelivery re-creates."""

from __future__ import annotations

import uuid

from contracts import (
    AdminAlert,
    AlertCause,
    ChatKind,
    ContactOptedIn,
    ContactOptedOut,
    GenerateReply,
    MessageCategory,
    MessageReceived,
    MessageReceivedData,
    ReplyIntent,
    Topic,
    parse_event,
    partition_key,
    topic_of,
    utc_now,
)
from guard.consent_keywords import ConsentAction
from guard.output_events import (
    blocked_alert,
    confirmation_request,
    consent_changed,
    conversation_blocked,
    opt_out_alert,
    reply_request,
    reply_request_id,
)


def received(script_id: str | None = None) -> MessageReceived:
    return MessageReceived(
        tenant_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        data=MessageReceivedData(
            message_id=uuid.uuid4(),
            instance_id=uuid.uuid4(),
            instance_name="loja",
            conversation_id=uuid.uuid4(),
            contact_id=uuid.uuid4(),
            provider_message_id="3EB0X",
            from_me=False,
            chat_jid="5511999990001@s.whatsapp.net",
            reply_to="5511999990001@s.whatsapp.net",
            chat_kind=ChatKind.DIRECT,
            category=MessageCategory.TEXT,
            text="PARE",
            sent_at=utc_now(),
            script_id=script_id,
        ),
    )


def test_a_burst_reply_is_identified_by_its_last_message() -> None:
    conversation, first, last = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    tenant, instance, contact = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def request(*message_ids: uuid.UUID) -> GenerateReply:
        return reply_request(
            tenant_id=tenant,
            correlation_id=uuid.uuid4(),
            causation_id=None,
            conversation_id=conversation,
            instance_id=instance,
            instance_name="loja",
            contact_id=contact,
            reply_to="5511999990001@s.whatsapp.net",
            message_ids=message_ids,
        )

    one, again, other = request(first, last), request(first, last), request(first)
    assert one.event_id == again.event_id == reply_request_id(conversation, last)
    assert other.event_id != one.event_id
    assert one.data.message_ids == (first, last)
    assert topic_of(one) is Topic.REPLY_REQUESTED
    assert partition_key(one) == conversation.bytes


def test_a_confirmation_answers_its_message_alone_with_a_fixed_intent() -> None:
    event = received()
    confirmation = confirmation_request(event, ReplyIntent.OPT_OUT_CONFIRMATION)
    assert confirmation.data.intent is ReplyIntent.OPT_OUT_CONFIRMATION
    assert confirmation.data.message_ids == (event.data.message_id,)
    assert confirmation.correlation_id == event.correlation_id
    assert confirmation.causation_id == event.event_id
    assert parse_event(confirmation.to_json_bytes(), Topic.REPLY_REQUESTED) == confirmation


def test_consent_changes_travel_on_the_opt_out_topic_keyed_by_contact() -> None:
    event = received()
    opted_out = consent_changed(event, ConsentAction.OPT_OUT, keyword="PARE", jid="j", phone="5511")
    opted_in = consent_changed(event, ConsentAction.OPT_IN, keyword="VOLTAR", jid="j", phone="5511")
    assert isinstance(opted_out, ContactOptedOut)
    assert isinstance(opted_in, ContactOptedIn)
    assert opted_out.data.source == "inbound_keyword"
    assert topic_of(opted_out) is topic_of(opted_in) is Topic.CONTACT_OPTED_OUT
    assert partition_key(opted_out) == event.data.contact_id.bytes
    assert (
        opted_out.event_id
        == consent_changed(event, ConsentAction.OPT_OUT, keyword="PARE", jid="j", phone="5511").event_id
    )
    assert opted_out.event_id != opted_in.event_id


def test_alerts_carry_their_cause_and_a_cool_down_key_per_subject() -> None:
    event = received(script_id="script-7")
    blocked = conversation_blocked(event, loop_count=4)
    alert = blocked_alert(event, loop_count=4)
    assert blocked.data.reason == "bot_loop"
    assert blocked.data.loop_count == 4
    assert blocked.data.script_id == "script-7"
    assert isinstance(alert, AdminAlert)
    assert alert.data.cause is AlertCause.CONVERSATION_BLOCKED
    assert alert.data.alert_key == f"conversation_blocked:{event.data.conversation_id}"
    opt_out = opt_out_alert(event, keyword="PARE", phone="5511999990001")
    assert opt_out.data.cause is AlertCause.CONTACT_OPTED_OUT
    assert opt_out.data.alert_key == f"contact_opted_out:{event.data.contact_id}"
    assert alert.event_id != opt_out.event_id
    assert topic_of(alert) is Topic.ADMIN_ALERT
