"""Kafka topic names: the one place they are spelled."""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    """Every topic of Mirage's public event interface (PRODUCT §9)."""

    MESSAGE_RECEIVED = "message.received"
    REPLY_REQUESTED = "reply.requested"
    REPLY_GENERATED = "reply.generated"
    SEND_REQUESTED = "send.requested"
    MESSAGE_SENT = "message.sent"
    MESSAGE_FAILED = "message.failed"
    INSTANCE_STATUS_CHANGED = "instance.status_changed"
    CONTACT_OPTED_OUT = "contact.opted_out"
    CONVERSATION_BLOCKED = "conversation.blocked"
    ADMIN_ALERT = "admin.alert"
    OUTREACH_REQUESTED = "outreach.requested"
    ROUND_STARTED = "round.started"
    ROUND_COMPLETED = "round.completed"
    # The scheduler's turn requests to the generator (PRODUCT §3): a command
    # topic of its own so warm-up turns never queue behind replies to people.
    TURN_REQUESTED = "turn.requested"
    # The outreach worker's requests to the generator to rewrite a campaign message in the
    # sending number's persona (PRODUCT §4.1, optional personalisation): a command topic of
    # its own so campaign rewrites never queue behind replies to people.
    PERSONALISE_REQUESTED = "personalise.requested"


DEAD_LETTER_SUFFIX = ".dlq."


def dead_letter_topic(topic: Topic | str, consumer: str) -> str:
    """Name of the dead-letter topic of one consumer group on one topic."""
    return f"{topic}{DEAD_LETTER_SUFFIX}{consumer}"
