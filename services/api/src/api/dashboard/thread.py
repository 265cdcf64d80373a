"""How a conversation reads: who wrote each message and what the guard decided, in plain words."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from api.conversations.repository import Conversation, MessageWithDecision
from api.dashboard.i18n import Translator

_DECISION_TONES = {
    "reply": "good",
    "debounced": "info",
    "ignored": "neutral",
    "paused": "warn",
    "blocked": "bad",
    "opted_out": "warn",
    "opted_in": "info",
    "blacklisted": "bad",
}
_CONVERSATION_TONES = {"active": "good", "paused": "warn", "blocked": "bad"}


@dataclass(frozen=True)
class MessageView:
    """One message of the thread."""

    side: str  # inbound | outbound
    who: str
    text: str | None
    category: str
    sent_at: datetime
    flags: tuple[str, ...]
    decision_label: str | None
    decision_tone: str
    reason_label: str | None


def contact_label(conversation: Conversation) -> str:
    """The contact's WhatsApp name, else the phone, else the JID."""
    return conversation.contact_push_name or conversation.contact_phone or conversation.contact_jid or "?"


def conversation_tone(state: str) -> str:
    """The badge colour of a conversation state."""
    return _CONVERSATION_TONES.get(state, "neutral")


def _known(t: Translator, key: str, fallback: str) -> str:
    return t(key) if t.has(key) else fallback


def message_view(message: MessageWithDecision, t: Translator, contact: str) -> MessageView:
    """`message` as the operator reads it."""
    if message.direction == "inbound":
        side, who = "inbound", message.push_name or contact
    else:
        side = "outbound"
        who = t("conversation.from.operator") if message.origin == "operator" else t("conversation.from.bot")
    flags: list[str] = []
    if message.edited_at is not None:
        flags.append(t("conversation.flag.edited"))
    if message.revoked_at is not None:
        flags.append(t("conversation.flag.revoked"))
    if message.direction == "inbound" and not message.fresh:
        flags.append(t("conversation.flag.stale"))
    if message.delivery_status:
        status = message.delivery_status.lower()
        flags.append(_known(t, f"conversation.delivery.{status}", status))
    decision_label = reason_label = None
    if message.decision is not None:
        decision_label = _known(t, f"decision.{message.decision}", message.decision)
        if message.decision_reason:
            reason_label = _known(t, f"reason.{message.decision_reason}", message.decision_reason)
    return MessageView(
        side=side,
        who=who,
        text=message.text,
        category=message.category,
        sent_at=message.sent_at,
        flags=tuple(flags),
        decision_label=decision_label,
        decision_tone=_DECISION_TONES.get(message.decision or "", "neutral"),
        reason_label=reason_label,
    )


def state_explanation(
    conversation: Conversation, t: Translator, when: Callable[[datetime | None], str]
) -> str:
    """Why the bot does or does not answer in this conversation now."""
    if conversation.state == "blocked":
        return t(
            "conversation.explain.blocked",
            time=when(conversation.blocked_at),
            count=conversation.loop_count,
        )
    if conversation.state == "paused":
        if conversation.bot_paused:
            return t("conversation.explain.paused_operator")
        return t("conversation.explain.paused_takeover", until=when(conversation.paused_until))
    return t("conversation.explain.active")
