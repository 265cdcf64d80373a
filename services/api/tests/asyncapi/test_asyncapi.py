"""The AsyncAPI document: every topic and every contract field, who publishes and consumes what
(as the services really wire it), the Kafka key and headers; served as JSON and as a page."""

from __future__ import annotations

import copy
import importlib
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from api.app import create_app
from api.asyncapi.document import HEADERS, asyncapi_document
from api.asyncapi.page import render_page
from api.settings import ApiSettings
from contracts import TOPIC_EVENTS, Envelope, Topic
from messaging import TOPOLOGY, KafkaSettings, KeyedConsumer, MessagingRuntime, consumer_groups, producers_of

SETTINGS = KafkaSettings(bootstrap_servers="kafka:9092", topic_prefix="prod.", group_prefix="prod.")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document(SETTINGS)


def _schema_fields(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def _payload_models(event: type[Envelope]) -> list[type[BaseModel]]:
    """The event's envelope and every payload model under `data`, recursively."""
    found: list[type[BaseModel]] = [event]
    annotation = event.model_fields["data"].annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    return found


def _missing(document: dict[str, Any]) -> list[str]:
    """Topics and contract fields the document does not have."""
    missing = []
    addresses = {channel["address"] for channel in document["channels"].values()}
    missing += [f"topic {topic}" for topic in Topic if SETTINGS.topic(topic) not in addresses]
    schemas = document["components"]["schemas"]
    for events in TOPIC_EVENTS.values():
        for event in events:
            for model in _payload_models(event):
                documented = set(schemas.get(model.__name__, {}).get("properties", {}))
                missing += [f"{model.__name__}.{name}" for name in sorted(_schema_fields(model) - documented)]
    return missing


def test_every_topic_and_every_field_of_the_contracts_is_in_the_document(document: dict[str, Any]) -> None:
    assert _missing(document) == []


def test_a_missing_topic_or_field_is_reported(document: dict[str, Any]) -> None:
    """The check can fail: take a topic's channels and a field away from a copy of the document."""
    broken = copy.deepcopy(document)
    broken["channels"] = {
        name: channel
        for name, channel in broken["channels"].items()
        if channel["address"] != SETTINGS.topic(Topic.ROUND_COMPLETED)
    }
    del broken["components"]["schemas"]["ReplyGeneratedData"]["properties"]["prompt_tokens"]
    assert _missing(broken) == ["topic round.completed", "ReplyGeneratedData.prompt_tokens"]


def test_each_topic_names_its_producers_and_consumer_groups(document: dict[str, Any]) -> None:
    channels = document["channels"]
    operations = document["operations"]
    for group in consumer_groups():
        name = f"{group.name}:{group.topic}"
        assert channels[name]["address"] == SETTINGS.topic(group.topic)
        assert operations[name]["action"] == "receive"
    for topic in Topic:
        for service in producers_of(topic):
            name = f"{service}:{topic}:publish"
            assert channels[name]["address"] == SETTINGS.topic(topic)
            assert operations[name]["action"] == "send"
    # Analytics reads every topic.
    assert {group.topic for group in consumer_groups() if group.service == "analytics"} == set(Topic)


def test_every_message_documents_the_kafka_key_and_the_headers(document: dict[str, Any]) -> None:
    messages = document["components"]["messages"]
    assert messages
    for name, message in messages.items():
        assert message["headers"] == HEADERS, name
        for header in ("x-mirage-correlation-id", "x-mirage-event-type", "traceparent"):
            assert header in message["headers"]["properties"], (name, header)
        key = message["bindings"]["kafka"]["key"]
        assert key["description"], name
        assert message["correlationId"]["location"] == "$message.header#/x-mirage-correlation-id"


def test_the_page_is_self_contained_and_lists_every_topic(document: dict[str, Any]) -> None:
    page = render_page(document)
    for topic in Topic:
        assert f'id="{SETTINGS.topic(topic)}"' in page, topic
    # Nothing is fetched from elsewhere: no script, stylesheet, image or font by URL.
    assert not re.search(r"<script|<link|<img|@import|url\(|src=", page)
    assert "ReplyGeneratedData" in page
    assert "prompt_tokens" in page


async def test_the_api_serves_both_without_a_key() -> None:
    app = create_app(ApiSettings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        as_json = await client.get("/asyncapi.json")
        assert as_json.status_code == 200
        assert as_json.json()["asyncapi"] == "3.0.0"
        as_page = await client.get("/asyncapi")
        assert as_page.status_code == 200
        assert as_page.headers["content-type"].startswith("text/html")
        assert "message.received" in as_page.text


# --- the topology is what the services really wire ----------------------------------------


@dataclass
class _Wiring:
    # (consumer name, topic, logical group)
    consumers: set[tuple[str, Topic, str]] = field(default_factory=set)
    produces: set[Topic] = field(default_factory=set)


_SERVICES = {
    "guard": ("guard.app", "guard.settings", "GuardSettings"),
    "generator": ("generator.app", "generator.settings", "GeneratorSettings"),
    "sender": ("sender.app", "sender.settings", "SenderSettings"),
    "api": ("api.app", "api.settings", "ApiSettings"),
    "analytics": ("analytics.app", "analytics.settings", "AnalyticsSettings"),
    "outreach": ("outreach.app", "outreach.settings", "OutreachSettings"),
    "scheduler": ("scheduler.app", "scheduler.settings", "SchedulerSettings"),
}


def _wiring(service: str, monkeypatch: pytest.MonkeyPatch) -> _Wiring:
    """Build the service's app and record the consumers and produced topics it declares."""
    app_module, settings_module, settings_class = _SERVICES[service]
    module = importlib.import_module(app_module)
    wiring = _Wiring()

    def register(consumer: KeyedConsumer[Any]) -> None:
        wiring.consumers.add((consumer.consumer, consumer.topic, consumer.group))

    class RecordingRuntime(MessagingRuntime):
        def __post_init__(self) -> None:
            wiring.produces.update(self.produces)

    monkeypatch.setattr(KeyedConsumer, "register", register)
    if hasattr(module, "MessagingRuntime"):
        monkeypatch.setattr(module, "MessagingRuntime", RecordingRuntime)
    settings = getattr(importlib.import_module(settings_module), settings_class)()
    module.create_app(settings)
    return wiring


@pytest.mark.parametrize("service", sorted(_SERVICES))
def test_the_topology_matches_what_each_service_wires(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    wired = _wiring(service, monkeypatch)
    declared = next((entry for entry in TOPOLOGY if entry.service == service), None)
    groups = consumer_groups((declared,)) if declared else iter(())
    declared_consumers = {(group.name, group.topic, group.group) for group in groups}
    declared_produces = set(declared.produces) if declared else set()
    assert wired.consumers == declared_consumers, (
        f"{service} wires consumer groups {sorted(wired.consumers)} but messaging.topology declares"
        f" {sorted(declared_consumers)}: update messaging/topology.py"
    )
    if wired.produces:  # ingest-style services declare their producer only at start-up
        assert wired.produces == declared_produces, (
            f"{service} produces {sorted(wired.produces)} but messaging.topology declares"
            f" {sorted(declared_produces)}: update messaging/topology.py"
        )
