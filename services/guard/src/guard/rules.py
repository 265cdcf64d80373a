"""The guard's rules as pure functions: facts in, verdict out (PRODUCT §1 "guard", seed §6.1)."""

from __future__ import annotations

from datetime import datetime

from contracts import ChatKind, MessageCategory, MessageReceivedData
from guard.addresses import chat_kind_of
from guard.facts import ContactStanding, GuardState, MessageFacts, OperatorControls
from guard.verdicts import Decision, Reason, Verdict

# Evolution `messageType`s that never carry something to answer, whatever category ingest chose.
_SILENT_MESSAGE_TYPES = {
    "reactionMessage": Reason.REACTION,
    "protocolMessage": Reason.PROTOCOL,
    "editedMessage": Reason.PROTOCOL,
    "pollUpdateMessage": Reason.POLL_UPDATE,
}
_SILENT_CATEGORIES = {
    MessageCategory.REACTION: Reason.REACTION,
    MessageCategory.PROTOCOL: Reason.PROTOCOL,
    MessageCategory.POLL_UPDATE: Reason.POLL_UPDATE,
}
BOT_APP_ORIGIN = "bot"


def own_message(message: MessageReceivedData, facts: MessageFacts) -> Verdict | None:
    """Rule 1: Mirage's own message is never answered (the first line of anti-loop)."""
    if (message.app_origin or "").lower() == BOT_APP_ORIGIN:
        return Verdict(Decision.IGNORED, Reason.OWN_MESSAGE)
    if facts.sent_by_mirage or facts.stored_origin == "mirage":
        return Verdict(Decision.IGNORED, Reason.OWN_MESSAGE)
    if message.from_me and facts.echo_of_send_in_flight:
        # Evolution delivered the echo before `sendText` returned its id: still Mirage's own.
        return Verdict(Decision.IGNORED, Reason.OWN_MESSAGE_IN_FLIGHT)
    if not message.from_me and facts.from_own_number:
        return Verdict(Decision.IGNORED, Reason.OWN_NUMBER)
    return None


def automatic_from_me(message: MessageReceivedData) -> Verdict | None:
    """Rule 2's exception: a protocol message or poll update from the operator's phone is not a
    new message (an edit or deletion changes one already seen; key and settings sync comes from
    WhatsApp itself), so it never starts a human takeover."""
    if not message.from_me:
        return None
    silent = _SILENT_CATEGORIES.get(message.category) or _SILENT_MESSAGE_TYPES.get(message.message_type or "")
    if silent in (Reason.PROTOCOL, Reason.POLL_UPDATE):
        return Verdict(Decision.IGNORED, silent)
    return None


def chat_filter(message: MessageReceivedData, facts: MessageFacts) -> Verdict | None:
    """Rule 3: groups, broadcasts and newsletters (unless the instance allows them), reactions,
    protocol messages and poll updates are not answered."""
    kind = chat_kind_of(message.chat_kind, message.chat_jid)
    if kind is ChatKind.GROUP and not facts.reply_to_groups:
        return Verdict(Decision.IGNORED, Reason.GROUP)
    if kind is ChatKind.BROADCAST and not facts.reply_to_broadcasts:
        return Verdict(Decision.IGNORED, Reason.BROADCAST)
    if kind is ChatKind.NEWSLETTER and not facts.reply_to_broadcasts:
        return Verdict(Decision.IGNORED, Reason.NEWSLETTER)
    silent = _SILENT_CATEGORIES.get(message.category) or _SILENT_MESSAGE_TYPES.get(message.message_type or "")
    if silent is not None:
        return Verdict(Decision.IGNORED, silent)
    return None


def block_in_effect(state: GuardState, controls: OperatorControls) -> bool:
    """The conversation is blocked and the operator has not unblocked it since."""
    if state.blocked_at is None:
        return False
    return not (controls.unblocked_at is not None and controls.unblocked_at > state.blocked_at)


def block_lifted(state: GuardState, controls: OperatorControls) -> bool:
    """The operator unblocked the conversation after the guard blocked it."""
    return state.blocked_at is not None and not block_in_effect(state, controls)


def pause_in_effect(state: GuardState, controls: OperatorControls, now: datetime) -> bool:
    """A human takeover pause still runs and the operator has not resumed the bot since."""
    if state.paused_until is None or state.paused_until <= now:
        return False
    resumed_later = (
        controls.resumed_at is not None
        and state.paused_at is not None
        and controls.resumed_at > state.paused_at
    )
    return not resumed_later


def conversation_hold(
    state: GuardState, controls: OperatorControls, standing: ContactStanding, now: datetime
) -> Verdict | None:
    """Rule 6: a blacklisted or opted-out contact, a blocked or paused conversation gets no reply."""
    if standing.blacklisted:
        return Verdict(Decision.BLACKLISTED, Reason.CONTACT_BLACKLISTED)
    if standing.opted_out:
        return Verdict(Decision.OPTED_OUT, Reason.CONTACT_OPTED_OUT)
    if block_in_effect(state, controls):
        return Verdict(Decision.BLOCKED, Reason.CONVERSATION_BLOCKED)
    if controls.bot_paused:
        return Verdict(Decision.PAUSED, Reason.OPERATOR_PAUSED)
    if pause_in_effect(state, controls, now):
        return Verdict(Decision.PAUSED, Reason.CONVERSATION_PAUSED)
    return None


def loop_blocks(loop_count: int, threshold: int) -> bool:
    """Rule 7: a counter above the threshold blocks the conversation."""
    return loop_count > threshold
