"""Response bodies of the conversation routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from api.conversations.repository import Conversation, MessageWithDecision


class ConversationState(StrEnum):
    """Whether the bot answers in a conversation."""

    ACTIVE = "active"
    PAUSED = "paused"
    BLOCKED = "blocked"


class ContactOut(BaseModel):
    """Who the conversation is with."""

    id: uuid.UUID
    phone: str | None
    jid: str | None
    lid: str | None
    push_name: str | None


class ConversationOut(BaseModel):
    """A conversation, its derived state and the operator's controls."""

    id: uuid.UUID
    instance_id: uuid.UUID
    instance_name: str
    chat_kind: str
    contact: ContactOut
    state: ConversationState = Field(
        description="`blocked`: the guard blocked a bot loop and nobody unblocked it; `paused`: the operator"
        " paused the bot or a human takeover pause runs; `active`: the bot answers."
    )
    bot_paused: bool = Field(description="The operator paused the bot (until resumed).")
    paused_until: datetime | None = Field(description="End of the guard's human-takeover pause, if any.")
    pause_reason: str | None
    blocked_at: datetime | None
    block_reason: str | None
    loop_count: int
    resumed_at: datetime | None
    unblocked_at: datetime | None
    created_at: datetime
    last_message_at: datetime

    @classmethod
    def of(cls, conversation: Conversation) -> ConversationOut:
        """The public view of a conversation."""
        return cls(
            id=conversation.id,
            instance_id=conversation.instance_id,
            instance_name=conversation.instance_name,
            chat_kind=conversation.chat_kind,
            contact=ContactOut(
                id=conversation.contact_id,
                phone=conversation.contact_phone,
                jid=conversation.contact_jid,
                lid=conversation.contact_lid,
                push_name=conversation.contact_push_name,
            ),
            state=ConversationState(conversation.state),
            bot_paused=conversation.bot_paused,
            paused_until=conversation.paused_until,
            pause_reason=conversation.pause_reason,
            blocked_at=conversation.blocked_at,
            block_reason=conversation.block_reason,
            loop_count=conversation.loop_count,
            resumed_at=conversation.resumed_at,
            unblocked_at=conversation.unblocked_at,
            created_at=conversation.created_at,
            last_message_at=conversation.last_message_at,
        )


class ConversationList(BaseModel):
    """A page of conversations, most recent first."""

    items: list[ConversationOut]
    limit: int
    offset: int


class GuardDecisionOut(BaseModel):
    """What the guard decided about a message, and why."""

    decision: str = Field(examples=["reply", "ignored", "paused", "blocked", "opted_out"])
    reason: str
    decided_at: datetime | None
    reply_request_id: uuid.UUID | None


class MessageOut(BaseModel):
    """A message of a conversation with the guard's decision (inbound messages only have one)."""

    id: uuid.UUID
    provider_id: str
    direction: str
    origin: str
    source_event: str
    push_name: str | None
    message_type: str | None
    category: str
    text: str | None
    sent_at: datetime
    received_at: datetime
    fresh: bool
    edited_at: datetime | None
    revoked_at: datetime | None
    delivery_status: str | None
    app_origin: str | None
    script_id: str | None
    guard: GuardDecisionOut | None

    @classmethod
    def of(cls, message: MessageWithDecision) -> MessageOut:
        """The public view of a message and its decision."""
        guard = (
            GuardDecisionOut(
                decision=message.decision,
                reason=message.decision_reason or "",
                decided_at=message.decided_at,
                reply_request_id=message.reply_request_id,
            )
            if message.decision is not None
            else None
        )
        return cls(
            id=message.id,
            provider_id=message.provider_id,
            direction=message.direction,
            origin=message.origin,
            source_event=message.source_event,
            push_name=message.push_name,
            message_type=message.message_type,
            category=message.category,
            text=message.text,
            sent_at=message.sent_at,
            received_at=message.received_at,
            fresh=message.fresh,
            edited_at=message.edited_at,
            revoked_at=message.revoked_at,
            delivery_status=message.delivery_status,
            app_origin=message.app_origin,
            script_id=message.script_id,
            guard=guard,
        )


class MessageList(BaseModel):
    """Messages of a conversation, oldest first."""

    conversation_id: uuid.UUID
    items: list[MessageOut]
