"""Which events travel on which topic, how they are parsed and how they are keyed."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Final, Union

from pydantic import Field, TypeAdapter

from contracts._alerts import AdminAlert
from contracts._contacts import ContactOptedIn, ContactOptedOut
from contracts._envelope import Envelope
from contracts._instances import InstanceStatusChanged
from contracts._messages import (
    ConversationBlocked,
    GenerateReply,
    MessageFailed,
    MessageReceived,
    MessageSent,
    ReplyGenerated,
    SendText,
)
from contracts._outreach import RequestOutreach, RequestPersonalisation
from contracts._rounds import RequestTurn, RoundCompleted, RoundStarted
from contracts._topics import Topic

AnyEvent = Annotated[
    MessageReceived
    | GenerateReply
    | ReplyGenerated
    | SendText
    | MessageSent
    | MessageFailed
    | InstanceStatusChanged
    | ContactOptedOut
    | ContactOptedIn
    | ConversationBlocked
    | AdminAlert
    | RequestOutreach
    | RequestPersonalisation
    | RoundStarted
    | RoundCompleted
    | RequestTurn,
    Field(discriminator="type"),
]
"""Every event and command Mirage puts on Kafka, discriminated by `type`."""

TOPIC_EVENTS: Final[dict[Topic, tuple[type[Envelope], ...]]] = {
    Topic.MESSAGE_RECEIVED: (MessageReceived,),
    Topic.REPLY_REQUESTED: (GenerateReply,),
    Topic.REPLY_GENERATED: (ReplyGenerated,),
    Topic.SEND_REQUESTED: (SendText,),
    Topic.MESSAGE_SENT: (MessageSent,),
    Topic.MESSAGE_FAILED: (MessageFailed,),
    Topic.INSTANCE_STATUS_CHANGED: (InstanceStatusChanged,),
    Topic.CONTACT_OPTED_OUT: (ContactOptedOut, ContactOptedIn),
    Topic.CONVERSATION_BLOCKED: (ConversationBlocked,),
    Topic.ADMIN_ALERT: (AdminAlert,),
    Topic.OUTREACH_REQUESTED: (RequestOutreach,),
    Topic.ROUND_STARTED: (RoundStarted,),
    Topic.ROUND_COMPLETED: (RoundCompleted,),
    Topic.TURN_REQUESTED: (RequestTurn,),
    Topic.PERSONALISE_REQUESTED: (RequestPersonalisation,),
}
"""The event types each topic carries."""

_TOPIC_OF_TYPE: Final[dict[type[Envelope], Topic]] = {
    event_type: topic for topic, types in TOPIC_EVENTS.items() for event_type in types
}

_ANY_EVENT: Final[TypeAdapter[Any]] = TypeAdapter(AnyEvent)


def topic_of(event: Envelope) -> Topic:
    """The topic an event is published on."""
    return _TOPIC_OF_TYPE[type(event)]


class UnexpectedEventError(ValueError):
    """A well-formed event arrived on a topic that does not carry its type."""


@cache
def topic_event_type(topic: Topic) -> Any:
    """The type of what travels on `topic`: its one event class, or their union discriminated by `type`.

    A consumer's handler is annotated with it, so the AsyncAPI document FastStream generates
    shows each topic's payload schema.
    """
    types = TOPIC_EVENTS[topic]
    if len(types) == 1:
        return types[0]
    return Annotated[Union[types], Field(discriminator="type")]  # noqa: UP007 - a runtime tuple of types


@cache
def _topic_adapter(topic: Topic) -> TypeAdapter[Any]:
    return TypeAdapter(topic_event_type(topic))


def parse_topic_event(raw: bytes | str, topic: Topic) -> Envelope:
    """Parse the wire form of an event that travels on `topic`.

    Raises `pydantic.ValidationError` for a malformed body or a type the topic does not carry.
    """
    event: Envelope = _topic_adapter(topic).validate_json(raw)
    return event


def parse_event(raw: bytes | str, topic: Topic | None = None) -> Envelope:
    """Parse the wire form of any event; with `topic`, refuse types that topic does not carry.

    Raises `pydantic.ValidationError` for a malformed body and `UnexpectedEventError`
    for a valid event on the wrong topic.
    """
    event: Envelope = _ANY_EVENT.validate_json(raw)
    if topic is not None and type(event) not in TOPIC_EVENTS[topic]:
        raise UnexpectedEventError(f"{event.type!r} does not travel on {topic!s}")
    return event


def partition_key(event: Envelope) -> bytes:
    """The Kafka key of an event: what must stay in order stays on one partition.

    - message flows (`message.received`, `reply.requested`, `reply.generated`,
      `conversation.blocked`): the conversation;
    - sends (`send.requested`, `message.sent`, `message.failed`): the conversation,
      or the instance and recipient when the send has no conversation yet;
    - `instance.status_changed` and `outreach.requested`: the instance (one
      number's state changes and outreach stay in order);
    - consent changes: the contact; admin alerts: the alert key;
    - warm-up (`round.*`, `turn.requested`): the instance pair;
    - `personalise.requested`: the instance and recipient, like the send it becomes.
    """
    match event:
        case MessageReceived() | GenerateReply() | ReplyGenerated() | ConversationBlocked():
            return event.data.conversation_id.bytes
        case SendText() | MessageSent() | MessageFailed():
            if event.data.conversation_id is not None:
                return event.data.conversation_id.bytes
            return f"{event.data.instance_id}:{event.data.to}".encode()
        case InstanceStatusChanged() | RequestOutreach():
            return event.data.instance_id.bytes
        case ContactOptedOut() | ContactOptedIn():
            return event.data.contact_id.bytes
        case AdminAlert():
            return f"{event.tenant_id}:{event.data.alert_key}".encode()
        case RoundStarted() | RoundCompleted() | RequestTurn():
            return event.data.pair_id.bytes
        case RequestPersonalisation():
            return f"{event.data.send.instance_id}:{event.data.send.to}".encode()
    raise TypeError(f"no partition key is defined for {type(event).__name__}")
