"""The events and commands the guard produces, with ids a redelivery re-creates identically."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from contracts import (
    AdminAlert,
    AdminAlertData,
    AlertCause,
    AlertSeverity,
    ConsentChangeData,
    ContactOptedIn,
    ContactOptedOut,
    ConversationBlocked,
    ConversationBlockedData,
    GenerateReply,
    GenerateReplyData,
    MessageReceived,
    ReplyIntent,
    stable_id,
)
from guard.consent_keywords import ConsentAction
from guard.verdicts import Reason

CONSENT_SOURCE = "inbound_keyword"


def reply_request_id(conversation_id: uuid.UUID, last_message_id: uuid.UUID) -> uuid.UUID:
    """The id of the reply to a burst ending with `last_message_id`: a re-claimed burst
    (or a redelivered message) requests the same reply, which downstream dedupes."""
    return stable_id("reply.requested", conversation_id, last_message_id)


def reply_request(
    *,
    tenant_id: uuid.UUID,
    correlation_id: uuid.UUID,
    causation_id: uuid.UUID | None,
    conversation_id: uuid.UUID,
    instance_id: uuid.UUID,
    instance_name: str,
    contact_id: uuid.UUID,
    reply_to: str,
    message_ids: Sequence[uuid.UUID],
    delay_ms: int = 0,
    without_text: bool = False,
    intent: ReplyIntent = ReplyIntent.ANSWER,
) -> GenerateReply:
    """The command asking the generator for one reply to `message_ids` (oldest first)."""
    return GenerateReply(
        event_id=reply_request_id(conversation_id, message_ids[-1]),
        tenant_id=tenant_id,
        correlation_id=correlation_id,
        causation_id=causation_id,
        data=GenerateReplyData(
            conversation_id=conversation_id,
            instance_id=instance_id,
            instance_name=instance_name,
            contact_id=contact_id,
            reply_to=reply_to,
            message_ids=tuple(message_ids),
            delay_ms=delay_ms,
            without_text=without_text,
            intent=intent,
        ),
    )


def confirmation_request(event: MessageReceived, intent: ReplyIntent) -> GenerateReply:
    """The one fixed-text confirmation of an opt-out or re-opt-in, answering that message alone."""
    message = event.data
    return reply_request(
        tenant_id=event.tenant_id,
        correlation_id=event.correlation_id,
        causation_id=event.event_id,
        conversation_id=message.conversation_id,
        instance_id=message.instance_id,
        instance_name=message.instance_name,
        contact_id=message.contact_id,
        reply_to=message.reply_to,
        message_ids=(message.message_id,),
        intent=intent,
    )


def conversation_blocked(event: MessageReceived, *, loop_count: int) -> ConversationBlocked:
    """The conversation was blocked because of a bot loop."""
    message = event.data
    return ConversationBlocked(
        event_id=stable_id("conversation.blocked", event.event_id),
        tenant_id=event.tenant_id,
        correlation_id=event.correlation_id,
        causation_id=event.event_id,
        data=ConversationBlockedData(
            conversation_id=message.conversation_id,
            instance_id=message.instance_id,
            contact_id=message.contact_id,
            reason=str(Reason.BOT_LOOP),
            loop_count=loop_count,
            script_id=message.script_id,
        ),
    )


def blocked_alert(event: MessageReceived, *, loop_count: int) -> AdminAlert:
    """The admin alert raised once when a bot loop blocks a conversation."""
    message = event.data
    return AdminAlert(
        event_id=stable_id("admin.alert", AlertCause.CONVERSATION_BLOCKED, event.event_id),
        tenant_id=event.tenant_id,
        correlation_id=event.correlation_id,
        causation_id=event.event_id,
        data=AdminAlertData(
            cause=AlertCause.CONVERSATION_BLOCKED,
            severity=AlertSeverity.WARNING,
            alert_key=f"{AlertCause.CONVERSATION_BLOCKED}:{message.conversation_id}",
            title=f"Conversation with {message.reply_to} blocked: suspected bot loop",
            detail=(
                f"The same script id ({message.script_id}) arrived {loop_count + 1} times in a row on "
                f"{message.instance_name}; Mirage stopped answering until an operator unblocks it."
            ),
            instance_id=message.instance_id,
            conversation_id=message.conversation_id,
            contact_id=message.contact_id,
            context={
                "reason": str(Reason.BOT_LOOP),
                "loop_count": str(loop_count),
                "script_id": message.script_id or "",
                "instance_name": message.instance_name,
            },
        ),
    )


def consent_changed(
    event: MessageReceived, action: ConsentAction, *, keyword: str, jid: str, phone: str | None
) -> ContactOptedOut | ContactOptedIn:
    """`contact.opted_out` (or `contact.opted_in`) for a keyword the contact sent."""
    message = event.data
    data = ConsentChangeData(
        contact_id=message.contact_id,
        jid=jid,
        phone=phone,
        keyword=keyword,
        source=CONSENT_SOURCE,
        instance_id=message.instance_id,
        conversation_id=message.conversation_id,
        message_id=message.message_id,
    )
    if action is ConsentAction.OPT_OUT:
        return ContactOptedOut(
            event_id=stable_id("contact.opted_out", event.event_id),
            tenant_id=event.tenant_id,
            correlation_id=event.correlation_id,
            causation_id=event.event_id,
            data=data,
        )
    return ContactOptedIn(
        event_id=stable_id("contact.opted_in", event.event_id),
        tenant_id=event.tenant_id,
        correlation_id=event.correlation_id,
        causation_id=event.event_id,
        data=data,
    )


def opt_out_alert(event: MessageReceived, *, keyword: str, phone: str | None) -> AdminAlert:
    """The admin alert telling the operator a contact opted out."""
    message = event.data
    who = phone or message.reply_to
    return AdminAlert(
        event_id=stable_id("admin.alert", AlertCause.CONTACT_OPTED_OUT, event.event_id),
        tenant_id=event.tenant_id,
        correlation_id=event.correlation_id,
        causation_id=event.event_id,
        data=AdminAlertData(
            cause=AlertCause.CONTACT_OPTED_OUT,
            severity=AlertSeverity.INFO,
            alert_key=f"{AlertCause.CONTACT_OPTED_OUT}:{message.contact_id}",
            title=f"{who} opted out",
            detail=f'{who} sent "{keyword}" to {message.instance_name}; Mirage will not message them again.',
            instance_id=message.instance_id,
            conversation_id=message.conversation_id,
            contact_id=message.contact_id,
            context={"keyword": keyword, "instance_name": message.instance_name},
        ),
    )
