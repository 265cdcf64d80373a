"""Events and commands of the inbound message → reply → send flow."""

from __future__ import annotations

import uuid
from typing import Final, Literal

from contracts._envelope import AwareDatetime, Envelope, Payload
from contracts._vocabulary import ChatKind, MessageCategory, ReplyIntent, SendPurpose


class MediaInfo(Payload):
    """What a media message carries, as its webhook described it: never the bytes (docs/media.md).

    The bytes are fetched and stored by the guard's media step, behind the message id.
    """

    # audio, image, video, document, sticker, location, contact
    kind: str
    mimetype: str | None = None
    seconds: int | None = None
    file_length: int | None = None
    file_name: str | None = None
    # A push-to-talk voice note (`audioMessage.ptt`).
    voice_note: bool = False
    # The webhook carried the bytes (Evolution's webhook `base64` setting): they are in the raw event.
    inline: bool = False
    # `mediaUrl`, when Evolution keeps media in S3.
    url: str | None = None
    # The text is Evolution's own transcript (`speechToText`): no transcription needed.
    transcribed: bool = False


class MessageReceivedData(Payload):
    """A WhatsApp message observed on one of the tenant's instances, already stored."""

    message_id: uuid.UUID
    instance_id: uuid.UUID
    instance_name: str
    conversation_id: uuid.UUID
    contact_id: uuid.UUID
    provider_message_id: str
    from_me: bool
    chat_jid: str
    # Where a reply goes: the phone JID when known, else the `@lid` JID.
    reply_to: str
    sender_jid: str | None = None
    push_name: str | None = None
    chat_kind: ChatKind
    category: MessageCategory
    text: str | None = None
    message_type: str | None = None
    sent_at: AwareDatetime
    # False for offline backlog older than the freshness window: stored, never answered.
    fresh: bool = True
    app_origin: str | None = None
    script_id: str | None = None
    # Audio, images, documents and the like (None for text): what the webhook said about it.
    media: MediaInfo | None = None


class MessageReceived(Envelope):
    """Ingest stored a message from a webhook (topic `message.received`)."""

    type: Literal["message.received"] = "message.received"
    data: MessageReceivedData


class GenerateReplyData(Payload):
    """The guard's decision that a conversation should get one reply."""

    conversation_id: uuid.UUID
    instance_id: uuid.UUID
    instance_name: str
    contact_id: uuid.UUID
    reply_to: str
    # Every message of the burst the reply must see, oldest first.
    message_ids: tuple[uuid.UUID, ...]
    # Extra pause before answering (a suspected bot loop is answered slowly).
    delay_ms: int = 0
    # True when none of the messages had text (audio, media without caption).
    without_text: bool = False
    # An opt-out or opt-in is confirmed with a fixed text, never by the model.
    intent: ReplyIntent = ReplyIntent.ANSWER


class GenerateReply(Envelope):
    """Command: generate one reply for a conversation (topic `reply.requested`)."""

    type: Literal["reply.requested"] = "reply.requested"
    data: GenerateReplyData


ReplyKind = Literal["reply", "fallback", "confirmation"]
"""`reply` (written by the model or the offline generator), `fallback` (the model failed or the
burst had no text) or `confirmation` (a fixed opt-out/opt-in confirmation)."""


class ReplyGeneratedData(Payload):
    """A reply the generator produced and stored."""

    reply_id: uuid.UUID
    conversation_id: uuid.UUID
    instance_id: uuid.UUID
    text: str
    parts: tuple[str, ...]
    model: str
    persona_id: uuid.UUID | None = None
    offline: bool = False
    latency_ms: int = 0
    kind: ReplyKind = "reply"
    # The burst of inbound messages the reply answers (response-time analytics).
    message_ids: tuple[uuid.UUID, ...] = ()
    # Tokens the model reported for this reply (its response's `usage`); None when no model
    # was asked (fixed texts, the offline generator) or the server reported none.
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class ReplyGenerated(Envelope):
    """The generator stored a reply (topic `reply.generated`)."""

    type: Literal["reply.generated"] = "reply.generated"
    data: ReplyGeneratedData


class SendTextData(Payload):
    """One text message to send through one instance."""

    send_id: uuid.UUID
    instance_id: uuid.UUID
    instance_name: str
    conversation_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    # Digits or a full JID (`…@s.whatsapp.net`, `…@lid`), as Evolution's sendText takes.
    to: str
    text: str
    typing_delay_ms: int = 0
    purpose: SendPurpose = SendPurpose.REPLY
    app_origin: str = "bot"
    script_id: str | None = None
    reply_id: uuid.UUID | None = None
    part_index: int = 0
    campaign_id: uuid.UUID | None = None
    target_id: uuid.UUID | None = None
    round_id: uuid.UUID | None = None


class SendText(Envelope):
    """Command: send a text through Evolution API (topic `send.requested`)."""

    type: Literal["send.requested"] = "send.requested"
    data: SendTextData


class MessageSentData(Payload):
    """Evolution API accepted a send."""

    send_id: uuid.UUID
    instance_id: uuid.UUID
    instance_name: str
    conversation_id: uuid.UUID | None = None
    to: str
    provider_message_id: str
    attempts: int
    purpose: SendPurpose
    sent_at: AwareDatetime
    # Set when the send was first reported `ambiguous` (a `message.failed` that occurred at this
    # moment) and its echo later showed it went out: statistics move it from failed to sent.
    ambiguous_at: AwareDatetime | None = None


class MessageSent(Envelope):
    """The sender delivered a message to Evolution API (topic `message.sent`)."""

    type: Literal["message.sent"] = "message.sent"
    data: MessageSentData


AMBIGUOUS_FAILURE_CODE: Final = "ambiguous"
"""`failure_code` of a send that may have gone out (the sender stopped mid-call); never repeated."""


class MessageFailedData(Payload):
    """A send that will not be attempted again."""

    send_id: uuid.UUID
    instance_id: uuid.UUID
    instance_name: str
    conversation_id: uuid.UUID | None = None
    to: str
    error: str
    # A stable machine-readable cause (`not_on_whatsapp`, `exhausted`, `opted_out`, …).
    failure_code: str | None = None
    status_code: int | None = None
    attempts: int
    retryable: bool
    # True when Evolution may have sent it before the sender crashed: never repeated.
    ambiguous: bool = False
    # True when the sender refused it (opted-out contact, stopped instance).
    refused: bool = False
    purpose: SendPurpose


class MessageFailed(Envelope):
    """A send failed for good (topic `message.failed`)."""

    type: Literal["message.failed"] = "message.failed"
    data: MessageFailedData


class ConversationBlockedData(Payload):
    """The guard blocked a conversation."""

    conversation_id: uuid.UUID
    instance_id: uuid.UUID
    contact_id: uuid.UUID
    reason: str
    loop_count: int = 0
    script_id: str | None = None


class ConversationBlocked(Envelope):
    """The guard stopped answering a conversation (topic `conversation.blocked`)."""

    type: Literal["conversation.blocked"] = "conversation.blocked"
    data: ConversationBlockedData
