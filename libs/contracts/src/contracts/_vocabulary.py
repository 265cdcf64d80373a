"""Enumerations shared by several events."""

from __future__ import annotations

from enum import StrEnum


class ChatKind(StrEnum):
    """What kind of WhatsApp chat a message belongs to."""

    DIRECT = "direct"
    GROUP = "group"
    BROADCAST = "broadcast"
    NEWSLETTER = "newsletter"


class MessageCategory(StrEnum):
    """What a message carries, independent of Evolution's `messageType` spelling."""

    TEXT = "text"
    MEDIA = "media"
    AUDIO = "audio"
    REACTION = "reaction"
    PROTOCOL = "protocol"
    POLL_UPDATE = "poll_update"
    OTHER = "other"


class ReplyIntent(StrEnum):
    """What a requested reply must say: an answer written by the model, or a fixed confirmation."""

    ANSWER = "answer"
    OPT_OUT_CONFIRMATION = "opt_out_confirmation"
    OPT_IN_CONFIRMATION = "opt_in_confirmation"


class SendPurpose(StrEnum):
    """Why Mirage sends a message; the sender applies different gates per purpose."""

    REPLY = "reply"
    OUTREACH = "outreach"
    WARMUP = "warmup"
    OPT_OUT_CONFIRMATION = "opt_out_confirmation"
    ADMIN_ALERT = "admin_alert"


class InstanceState(StrEnum):
    """Mirage's lifecycle of an Evolution instance (PRODUCT §2).

    Mirage's `open` means "created, QR waiting to be scanned"; Evolution's
    `open` maps to `connected`.
    """

    CREATING = "creating"
    OPEN = "open"
    EXPIRED = "expired"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    CLOSED = "closed"
    REMOVED = "removed"


class AlertCause(StrEnum):
    """Why an admin alert was raised; with the subject it forms the cool-down key."""

    SEND_EXHAUSTED = "send_exhausted"
    SEND_REJECTED = "send_rejected"
    SEND_AMBIGUOUS = "send_ambiguous"
    CONVERSATION_BLOCKED = "conversation_blocked"
    CONTACT_OPTED_OUT = "contact_opted_out"
    INSTANCE_LOGGED_OUT = "instance_logged_out"
    INSTANCE_LIKELY_BANNED = "instance_likely_banned"
    QUOTA_EXHAUSTED = "quota_exhausted"
    # A consumer keeps failing on a record because a dependency is down (PostgreSQL, Redis, Kafka).
    CONSUMER_STALLED = "consumer_stalled"
    # Warm-up messages from one of the tenant's numbers stopped arriving at its peer.
    WARMUP_DEAF = "warmup_deaf"


class AlertSeverity(StrEnum):
    """How urgent an alert is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
