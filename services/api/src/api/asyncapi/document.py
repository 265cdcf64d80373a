"""Mirage's event interface as one AsyncAPI 3.0 document.

FastStream renders it from a broker on which every consumer group and every producer of
`messaging.topology` is declared the way the services declare them: a `KeyedConsumer` (a typed
subscriber whose payload is the topic's contract) per consumer group, a typed publisher per
producing service and topic. The broker is never connected. What FastStream does not know
about Mirage's records is added afterwards: the Kafka key of each topic and the headers every
record carries.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from faststream.specification import AsyncAPI

from contracts import Topic, topic_event_type
from messaging import (
    TOPOLOGY,
    KafkaSettings,
    KeyedConsumer,
    consumer_groups,
    create_broker,
)

TITLE = "Mirage events"

_BY_SEND = "the conversation id (16 bytes), or `<instance id>:<recipient>` (UTF-8) without one"
_KEYS: dict[Topic, str] = {
    Topic.MESSAGE_RECEIVED: "the conversation id (16 bytes of the UUID)",
    Topic.REPLY_REQUESTED: "the conversation id (16 bytes of the UUID)",
    Topic.REPLY_GENERATED: "the conversation id (16 bytes of the UUID)",
    Topic.CONVERSATION_BLOCKED: "the conversation id (16 bytes of the UUID)",
    Topic.SEND_REQUESTED: _BY_SEND,
    Topic.MESSAGE_SENT: _BY_SEND,
    Topic.MESSAGE_FAILED: _BY_SEND,
    Topic.INSTANCE_STATUS_CHANGED: "the instance id (16 bytes of the UUID)",
    Topic.OUTREACH_REQUESTED: "the instance id (16 bytes of the UUID)",
    Topic.CONTACT_OPTED_OUT: "the contact id (16 bytes of the UUID)",
    Topic.ADMIN_ALERT: "`<tenant id>:<alert key>` (UTF-8)",
    Topic.ROUND_STARTED: "the warm-up pair id (16 bytes of the UUID)",
    Topic.ROUND_COMPLETED: "the warm-up pair id (16 bytes of the UUID)",
    Topic.TURN_REQUESTED: "the warm-up pair id (16 bytes of the UUID)",
    Topic.PERSONALISE_REQUESTED: "`<instance id>:<recipient>` (UTF-8), like the campaign send it becomes",
}

HEADERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "x-mirage-correlation-id": {
            "type": "string",
            "format": "uuid",
            "description": "The correlation id of the event (the first event of its causal chain).",
        },
        "x-mirage-event-type": {
            "type": "string",
            "description": "The event's `type`, to route or filter without parsing the payload.",
        },
        "traceparent": {
            "type": "string",
            "description": "W3C trace context of the operation that produced the event (OpenTelemetry).",
        },
        "tracestate": {"type": "string", "description": "W3C trace state, when there is one."},
    },
}

_DESCRIPTION = """\
Every Kafka topic of Mirage is a public interface: these are the events, who publishes and
who consumes them. Each record's value is one JSON event (`event_id`, `type`, `version`,
`occurred_at`, `tenant_id`, `correlation_id`, `causation_id`, `data`); a topic carrying several
types tells them apart by `type`. Delivery is at least once: consume idempotently by
`event_id`. Records of one key keep their order. Each consumer group dead-letters what it
cannot process to `<topic>.dlq.<group>` (the reason in `x-dead-letter-*` headers).
"""


async def _document_only(event: Any) -> None:
    """Never called: the broker of the document is never started."""


def _key_binding(topic: str) -> dict[str, Any]:
    return {
        "kafka": {
            "key": {"type": "string", "format": "binary", "description": _KEYS.get(Topic(topic), "")},
            "bindingVersion": "0.5.0",
        }
    }


@cache
def _build(bootstrap_servers: str, topic_prefix: str, group_prefix: str) -> dict[str, Any]:
    settings = KafkaSettings(
        bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix, group_prefix=group_prefix
    )
    broker = create_broker(settings, client_id="mirage-asyncapi")
    for group in consumer_groups():
        KeyedConsumer(
            broker=broker,
            settings=settings,
            topic=group.topic,
            consumer=group.name,
            handler=_document_only,
            group=group.group,
        ).register()
    topic_of_channel: dict[str, Topic] = {
        f"{group.name}:{group.topic}": group.topic for group in consumer_groups()
    }
    for service in TOPOLOGY:
        for topic in service.produces:
            title = f"{service.service}:{topic}:publish"
            topic_of_channel[title] = topic
            broker.publisher(
                settings.topic(topic),
                title=title,
                description=f"`{service.service}` publishes to `{topic}` ({service.summary})",
                schema=topic_event_type(topic),
            )
    document: dict[str, Any] = (
        AsyncAPI(broker, title=TITLE, version="1.0.0", description=_DESCRIPTION, schema_version="3.0.0")
        .to_specification()
        .to_jsonable()
    )
    for name, message in document.get("components", {}).get("messages", {}).items():
        channel = name.rsplit(":", 1)[0]
        message["headers"] = HEADERS
        message["correlationId"] = {
            "description": "The event's correlation id, also in the payload.",
            "location": "$message.header#/x-mirage-correlation-id",
        }
        if channel in topic_of_channel:
            message["bindings"] = _key_binding(topic_of_channel[channel].value)
    return document


def asyncapi_document(settings: KafkaSettings) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every topic for this installation (its topic names)."""
    return _build(settings.bootstrap_servers, settings.topic_prefix, settings.group_prefix)
