"""The guard's vocabulary: what it decided about a message, and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Decision(StrEnum):
    """What happens to a message (`guard_decisions.decision`)."""

    REPLY = "reply"
    # Waiting for the end of the contact's burst; becomes `reply` (or a hold) when it is flushed.
    DEBOUNCED = "debounced"
    IGNORED = "ignored"
    PAUSED = "paused"
    BLOCKED = "blocked"
    OPTED_OUT = "opted_out"
    OPTED_IN = "opted_in"
    BLACKLISTED = "blacklisted"


class Reason(StrEnum):
    """Why (`guard_decisions.reason`)."""

    # Rule 1: Mirage's own message (id in the send registry, `app_origin=bot`, stored as Mirage's).
    OWN_MESSAGE = "own_message"
    # Rule 1: written by another of Mirage's own numbers (a warm-up partner).
    OWN_NUMBER = "own_number"
    # Rule 2: the echo of a send whose provider id was not known yet.
    OWN_MESSAGE_IN_FLIGHT = "own_message_in_flight"
    # Rule 2: typed by a person on the operator's phone.
    HUMAN_TAKEOVER = "human_takeover"
    # Rule 3.
    GROUP = "group"
    BROADCAST = "broadcast"
    NEWSLETTER = "newsletter"
    REACTION = "reaction"
    PROTOCOL = "protocol"
    POLL_UPDATE = "poll_update"
    # Rule 4.
    STALE = "stale"
    # Rule 5.
    OPT_OUT_KEYWORD = "opt_out_keyword"
    ALREADY_OPTED_OUT = "already_opted_out"
    OPT_IN_KEYWORD = "opt_in_keyword"
    # Rule 6.
    CONTACT_BLACKLISTED = "contact_blacklisted"
    CONTACT_OPTED_OUT = "contact_opted_out"
    CONVERSATION_BLOCKED = "conversation_blocked"
    OPERATOR_PAUSED = "operator_paused"
    CONVERSATION_PAUSED = "conversation_paused"
    # Rule 7: the message that blocked the conversation.
    BOT_LOOP = "bot_loop"
    # Rule 8: answered (or waiting to be), normally or slowly.
    CONTACT_MESSAGE = "contact_message"
    SUSPECTED_BOT_LOOP = "suspected_bot_loop"


@dataclass(frozen=True)
class Verdict:
    """One decision with its reason."""

    decision: Decision
    reason: Reason
