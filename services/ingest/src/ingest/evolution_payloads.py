"""Evolution API webhook payloads (evolution-api.md §3–§4) and what Mirage reads from them.

Models are tolerant: unknown fields are ignored, and byte or 64-bit fields
(`mediaKey`, `fileLength`, …), which arrive in two serialisations depending on
the Evolution version, are never modelled — they stay opaque in the raw event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts import ChatKind, MediaInfo, MessageCategory
from contracts.media_kinds import MEDIA_KINDS
from contracts.phones import phone_digits

PHONE_SUFFIX = "@s.whatsapp.net"
LID_SUFFIX = "@lid"
GROUP_SUFFIX = "@g.us"
NEWSLETTER_SUFFIX = "@newsletter"
BROADCAST_SUFFIX = "@broadcast"

_MEDIA_WITH_CAPTION = ("imageMessage", "videoMessage", "documentMessage")
_MEDIA_WITHOUT_TEXT = ("stickerMessage", "locationMessage", "contactMessage", "liveLocationMessage")


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class WebhookEnvelope(_Tolerant):
    """The envelope of every Evolution webhook call."""

    event: str = Field(min_length=1)
    instance: str = Field(min_length=1)
    data: Any = None
    destination: str | None = None
    date_time: str | None = None
    sender: str | None = None
    server_url: str | None = None

    def reported_at(self) -> datetime | None:
        """`date_time` as a moment on Evolution's clock, or None when absent or unreadable.

        Evolution writes its local time with a `Z` (evolution-api.md §3): compare it only with
        other reports of the same server, never with Mirage's clock.
        """
        if not self.date_time:
            return None
        try:
            moment = datetime.fromisoformat(self.date_time)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class MessageKey(_Tolerant):
    """A WhatsApp message key, passed through from Baileys."""

    remote_jid: str = Field(alias="remoteJid", min_length=3)
    remote_jid_alt: str | None = Field(default=None, alias="remoteJidAlt")
    from_me: bool = Field(default=False, alias="fromMe")
    id: str = Field(min_length=1, max_length=200)
    participant: str | None = None
    participant_alt: str | None = Field(default=None, alias="participantAlt")


def _epoch_seconds(value: Any) -> int | None:
    """`messageTimestamp` as epoch seconds: a number, a numeric string or a protobuf Long."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, dict) and isinstance(value.get("low"), int):
        low: int = value["low"]
        high = int(value.get("high", 0))
        return (high << 32) | (low & 0xFFFFFFFF)
    raise ValueError("messageTimestamp must be epoch seconds")


class MessageData(_Tolerant):
    """`data` of `messages.upsert` and `send.message`."""

    key: MessageKey
    push_name: str | None = Field(default=None, alias="pushName")
    status: str | None = None
    message: dict[str, Any] | None = None
    message_type: str | None = Field(default=None, alias="messageType")
    message_timestamp: int | None = Field(default=None, alias="messageTimestamp")
    # Not Evolution fields: gateways between bots may add them (seed §6.1).
    app_origin: str | None = None
    script_id: str | None = None

    @field_validator("message_timestamp", mode="before")
    @classmethod
    def _timestamp(cls, value: Any) -> int | None:
        return _epoch_seconds(value)

    @field_validator("message", mode="before")
    @classmethod
    def _message(cls, value: Any) -> dict[str, Any] | None:
        # Some payloads carry `message: null` or a non-object for stubs; keep what is usable.
        return value if isinstance(value, dict) else None


class MessageUpdateData(_Tolerant):
    """`data` of `messages.update`: a delivery status change."""

    key_id: str = Field(alias="keyId", min_length=1)
    remote_jid: str | None = Field(default=None, alias="remoteJid")
    from_me: bool | None = Field(default=None, alias="fromMe")
    status: str = Field(min_length=1)


class EditedMessageData(_Tolerant):
    """`data` of `messages.edited`: the raw protocolMessage (an edit or a revoke)."""

    key: MessageKey
    type: str | None = None
    edited_message: dict[str, Any] | None = Field(default=None, alias="editedMessage")
    message: dict[str, Any] | None = None


class ConnectionUpdateData(_Tolerant):
    """`data` of `connection.update`."""

    state: str = Field(min_length=1)
    status_reason: int | None = Field(default=None, alias="statusReason")
    wuid: str | None = None
    profile_name: str | None = Field(default=None, alias="profileName")


class QrCodeData(_Tolerant):
    """The QR inside `qrcode.updated`."""

    code: str | None = None
    base64: str | None = None
    pairing_code: str | None = Field(default=None, alias="pairingCode")


class QrCodeUpdatedData(_Tolerant):
    """`data` of `qrcode.updated`; a limit message instead of a QR when Evolution gives up."""

    qrcode: QrCodeData | None = None
    message: str | None = None


# ------------------------------------------------------------------ reading

# Delivery statuses in the order they happen; a late ack never downgrades a status.
DELIVERY_ORDER: list[str] = ["ERROR", "PENDING", "SERVER_ACK", "DELIVERY_ACK", "READ", "PLAYED", "DELETED"]


def digits_of(jid: str) -> str:
    """The phone digits of a JID (`5511…@s.whatsapp.net` → `5511…`)."""
    return phone_digits(jid)


def chat_kind(remote_jid: str) -> ChatKind:
    """What kind of chat a `remoteJid` names."""
    if remote_jid.endswith(GROUP_SUFFIX):
        return ChatKind.GROUP
    if remote_jid.endswith(NEWSLETTER_SUFFIX):
        return ChatKind.NEWSLETTER
    if remote_jid.endswith(BROADCAST_SUFFIX):
        return ChatKind.BROADCAST
    return ChatKind.DIRECT


@dataclass(frozen=True)
class Identity:
    """Who a message's chat is: the phone JID and/or the `@lid` JID, and where a reply goes."""

    jid: str | None
    lid: str | None
    reply_to: str

    @property
    def phone(self) -> str | None:
        """Digits of the phone JID, when known."""
        return digits_of(self.jid) if self.jid and self.jid.endswith(PHONE_SUFFIX) else None


def identity_of(key: MessageKey) -> Identity:
    """The chat's identities; the reply target is `remoteJid` when it is a phone JID,
    else `remoteJidAlt`, else the `@lid` JID (evolution-api.md §4)."""
    remote, alt = key.remote_jid, key.remote_jid_alt
    if chat_kind(remote) is not ChatKind.DIRECT:
        return Identity(jid=remote, lid=None, reply_to=remote)
    jids = [j for j in (remote, alt) if j]
    phone = next((j for j in jids if j.endswith(PHONE_SUFFIX)), None)
    lid = next((j for j in jids if j.endswith(LID_SUFFIX)), None)
    if phone is None and lid is None:
        # Neither suffix (an older or unusual payload): the JID as given is the identity.
        return Identity(jid=remote, lid=None, reply_to=remote)
    return Identity(jid=phone, lid=lid, reply_to=phone or lid or remote)


def _nested_text(message: dict[str, Any], *path: str) -> str | None:
    node: Any = message
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node if isinstance(node, str) and node.strip() else None


# Evolution's OpenAI bot writes `speechToText` as "[audio] <transcript>".
_SPEECH_MARKER = re.compile(r"^\s*\[(?:audio|áudio)\]\s*", re.IGNORECASE)


def speech_to_text(message: dict[str, Any] | None) -> str | None:
    """Evolution's own transcript of a voice note, without its `[audio]` marker."""
    text = _nested_text(message or {}, "speechToText")
    if text is None:
        return None
    spoken = _SPEECH_MARKER.sub("", text, count=1).replace("\x00", "").strip()
    return spoken or None


def extract_text(message: dict[str, Any] | None) -> str | None:
    """Text in the order of PRODUCT §1: conversation, extendedTextMessage.text, a media
    caption, speechToText (without its `[audio]` marker, so a spoken "pare" is the keyword
    it would be typed). Never keyed on `messageType` alone."""
    if not message:
        return None
    for path in (
        ("conversation",),
        ("extendedTextMessage", "text"),
        *((kind, "caption") for kind in _MEDIA_WITH_CAPTION),
    ):
        text = _nested_text(message, *path)
        if text is not None:
            return text.replace("\x00", "")
    return speech_to_text(message)


def _opaque_int(value: Any) -> int | None:
    # 64-bit fields arrive as numbers, numeric strings or protobuf Longs (evolution-api.md §4).
    try:
        return _epoch_seconds(value)
    except ValueError:
        return None


def media_of(message: dict[str, Any] | None, message_type: str | None) -> MediaInfo | None:
    """What a media message carries (never its bytes); None for text and protocol messages."""
    if not message:
        return None
    content_key = next((key for key in MEDIA_KINDS if isinstance(message.get(key), dict)), None)
    if content_key is None and message_type in MEDIA_KINDS:
        content_key = message_type
    if content_key is None:
        return None
    content = message.get(content_key)
    details: dict[str, Any] = content if isinstance(content, dict) else {}
    if content_key == "documentWithCaptionMessage":
        inner = details.get("message")
        document = inner.get("documentMessage") if isinstance(inner, dict) else None
        details = document if isinstance(document, dict) else {}
    mimetype = details.get("mimetype")
    file_name = details.get("fileName")
    seconds = details.get("seconds")
    url = message.get("mediaUrl")
    base64_value = message.get("base64")
    return MediaInfo(
        kind=MEDIA_KINDS[content_key],
        mimetype=mimetype[:200] if isinstance(mimetype, str) else None,
        seconds=seconds if isinstance(seconds, int) and not isinstance(seconds, bool) else None,
        file_length=_opaque_int(details.get("fileLength")),
        file_name=file_name[:300] if isinstance(file_name, str) else None,
        voice_note=details.get("ptt") is True,
        inline=isinstance(base64_value, str) and bool(base64_value),
        url=url if isinstance(url, str) and url.startswith(("http://", "https://")) else None,
        transcribed=speech_to_text(message) is not None,
    )


def category_of(
    message: dict[str, Any] | None, message_type: str | None, text: str | None
) -> MessageCategory:
    """What the message carries, from its content first and `messageType` second."""
    content = set(message or ()) | ({message_type} if message_type else set())
    if "reactionMessage" in content:
        return MessageCategory.REACTION
    if content & {"protocolMessage", "editedMessage"}:
        return MessageCategory.PROTOCOL
    if content & {"pollUpdateMessage"}:
        return MessageCategory.POLL_UPDATE
    if content & {"audioMessage"}:
        return MessageCategory.AUDIO
    if content & {*_MEDIA_WITH_CAPTION, *_MEDIA_WITHOUT_TEXT}:
        return MessageCategory.MEDIA
    if text is not None:
        return MessageCategory.TEXT
    return MessageCategory.OTHER


def sent_at(timestamp: int | None, received_at: datetime) -> datetime:
    """When the message was sent; the receive time when the payload does not say."""
    if timestamp is None or timestamp <= 0:
        return received_at
    # Milliseconds sneak in from some gateways; seconds are what Evolution sends.
    seconds = timestamp / 1000 if timestamp > 10**11 else timestamp
    return datetime.fromtimestamp(seconds, tz=UTC)


def edited_text(data: EditedMessageData) -> str | None:
    """The new text of an edit, from either shape Evolution versions use."""
    if data.edited_message:
        text = extract_text(data.edited_message) or extract_text(data.edited_message.get("message"))
        if text:
            return text
    protocol = (data.message or {}).get("protocolMessage")
    if isinstance(protocol, dict) and isinstance(protocol.get("editedMessage"), dict):
        return extract_text(protocol["editedMessage"])
    return None


def is_revoke(data: EditedMessageData) -> bool:
    """True when the protocol message deletes the original for everyone."""
    if (data.type or "").upper() == "REVOKE":
        return True
    protocol = (data.message or {}).get("protocolMessage")
    return isinstance(protocol, dict) and str(protocol.get("type", "")).upper() in {"REVOKE", "0"}


def event_to_kebab(event: str) -> str:
    """`messages.upsert` → `messages-upsert` (evolution-api.md §3)."""
    return event.replace(".", "_").replace("-", "_").lower().replace("_", "-")
