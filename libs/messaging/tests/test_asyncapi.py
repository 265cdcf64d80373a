"""FastStream's AsyncAPI document describes every consumer's topic with the contract's schema."""

from __future__ import annotations

from typing import Any

from faststream.specification import AsyncAPI

from contracts import ContactOptedOut, MessageReceived, Topic
from messaging import KafkaSettings, KeyedConsumer, create_broker

SETTINGS = KafkaSettings(bootstrap_servers="unused:9092", topic_prefix="doc.", group_prefix="doc.")


async def _ignore(event: Any) -> None:
    """Nothing to do: only the declaration matters here."""


def test_each_consumer_names_its_topic_with_the_event_schema_and_its_dead_letters() -> None:
    broker = create_broker(SETTINGS, client_id="asyncapi-test")
    for topic, consumer in ((Topic.MESSAGE_RECEIVED, "guard"), (Topic.CONTACT_OPTED_OUT, "outreach")):
        KeyedConsumer(
            broker=broker, settings=SETTINGS, topic=topic, consumer=consumer, handler=_ignore
        ).register()

    document = AsyncAPI(broker, schema_version="3.0.0").to_specification().to_jsonable()

    channels = document["channels"]
    assert channels["guard:message.received"]["address"] == "doc.message.received"
    assert "message.received.dlq.guard" in channels["guard:message.received"]["description"]
    messages = document["components"]["messages"]
    schemas = document["components"]["schemas"]
    guard_message = messages["guard:message.received:SubscribeMessage"]
    assert guard_message["payload"] == {"$ref": "#/components/schemas/MessageReceived"}
    received = schemas["MessageReceived"]
    for field in ("event_id", "type", "version", "occurred_at", "tenant_id", "correlation_id", "data"):
        assert field in received["properties"], field
    data_fields = set(schemas["MessageReceivedData"]["properties"])
    assert set(MessageReceived.model_fields["data"].annotation.model_fields) <= data_fields  # type: ignore[union-attr]

    # A topic that carries several event types documents all of them, told apart by `type`.
    payload_ref = messages["outreach:contact.opted_out:SubscribeMessage"]["payload"]["$ref"]
    consent = schemas[payload_ref.rsplit("/", 1)[1]]
    assert consent["discriminator"] == "type"
    refs = {option["$ref"].rsplit("/", 1)[1] for option in consent["oneOf"]}
    assert refs == {"ContactOptedOut", "ContactOptedIn"}, consent
    assert ContactOptedOut.__name__ in schemas
