"""Who consumes and who produces each topic: the one declaration the AsyncAPI document is built
from, held to the services' real wiring by a test (`services/api/tests/asyncapi`).

Services cannot import each other, and the api (which serves the document) cannot look
inside the other services' composition roots. So the topology is declared here, next to
the runtime that wires consumers, and:

- the analytics service wires its consumers from it (`consumer_groups_of("analytics")`);
- the api renders the AsyncAPI document from it (`api.asyncapi`);
- a test builds every service's app, records the `KeyedConsumer`s and the produced topics it
  wires, and fails when they differ from what is declared here. Adding a consumer to a
  service without declaring it here fails that test.

Consumer group names are logical (`KafkaSettings.group` adds the installation's prefix).
A consumer name on several topics shares one group across them, unless its service declares
`group_per_topic`: then each topic gets a group of its own (`<name>.<topic>`). Every member of
a group takes part in each of its rebalances, so one group over all fifteen topics (analytics)
made every start, restart and join stop all of them for one rebalance per member (a rebuild's
start took 25 s on one broker); separate groups join at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from contracts import Topic

ANALYTICS_CONSUMER = "analytics"


@dataclass(frozen=True)
class ConsumerGroup:
    """One consumer group of one service on one topic (a `KeyedConsumer`)."""

    service: str
    name: str
    topic: Topic
    # The logical group id (`name`, or `name.topic` for a service with `group_per_topic`).
    group: str


@dataclass(frozen=True)
class ServiceTopology:
    """What one service consumes (by consumer group) and which topics it publishes to."""

    service: str
    consumes: tuple[tuple[str, Topic], ...] = ()
    produces: tuple[Topic, ...] = ()
    # What the service does, for the document's readers.
    summary: str = ""
    # Each (name, topic) in a consumer group of its own (see the module doc).
    group_per_topic: bool = False


TOPOLOGY: Final[tuple[ServiceTopology, ...]] = (
    ServiceTopology(
        "ingest",
        produces=(Topic.MESSAGE_RECEIVED, Topic.INSTANCE_STATUS_CHANGED),
        summary="Receives Evolution API webhooks and publishes what they tell.",
    ),
    ServiceTopology(
        "guard",
        consumes=(("guard", Topic.MESSAGE_RECEIVED),),
        produces=(
            Topic.REPLY_REQUESTED,
            Topic.CONVERSATION_BLOCKED,
            Topic.CONTACT_OPTED_OUT,
            Topic.ADMIN_ALERT,
        ),
        summary="Anti-loop, opt-out and debounce: decides which messages get a reply.",
    ),
    ServiceTopology(
        "generator",
        consumes=(
            ("generator", Topic.REPLY_REQUESTED),
            ("generator-turns", Topic.TURN_REQUESTED),
            ("generator-personalise", Topic.PERSONALISE_REQUESTED),
        ),
        produces=(Topic.REPLY_GENERATED, Topic.SEND_REQUESTED),
        summary=(
            "Writes replies, warm-up turns and personalised campaign messages with the persona"
            " through an OpenAI-compatible model."
        ),
    ),
    ServiceTopology(
        "sender",
        consumes=(("sender", Topic.SEND_REQUESTED),),
        produces=(Topic.MESSAGE_SENT, Topic.MESSAGE_FAILED, Topic.ADMIN_ALERT),
        summary="Sends through Evolution API, once per send id.",
    ),
    ServiceTopology(
        "api",
        consumes=(
            ("api-alerts", Topic.ADMIN_ALERT),
            ("api-lifecycle-alerts", Topic.INSTANCE_STATUS_CHANGED),
        ),
        produces=(
            Topic.INSTANCE_STATUS_CHANGED,
            Topic.ADMIN_ALERT,
            Topic.SEND_REQUESTED,
            Topic.OUTREACH_REQUESTED,
        ),
        summary="The control plane; it also delivers admin alerts to the admin's WhatsApp number.",
    ),
    ServiceTopology(
        "outreach",
        consumes=(
            ("outreach", Topic.OUTREACH_REQUESTED),
            ("outreach-outcomes", Topic.MESSAGE_SENT),
            ("outreach-outcomes", Topic.MESSAGE_FAILED),
            ("outreach-consent", Topic.CONTACT_OPTED_OUT),
        ),
        produces=(Topic.SEND_REQUESTED, Topic.OUTREACH_REQUESTED, Topic.PERSONALISE_REQUESTED),
        summary="Campaign targets under the tenant's Redis quotas, one send per number at a time.",
    ),
    ServiceTopology(
        "scheduler",
        consumes=(("scheduler", Topic.MESSAGE_RECEIVED),),
        produces=(Topic.ROUND_STARTED, Topic.ROUND_COMPLETED, Topic.TURN_REQUESTED, Topic.ADMIN_ALERT),
        summary="Warm-up rounds between the tenant's own numbers, in their weekly windows.",
    ),
    ServiceTopology(
        ANALYTICS_CONSUMER,
        consumes=tuple((ANALYTICS_CONSUMER, topic) for topic in Topic),
        summary="Statistics: the only writer of the stats tables and views.",
        group_per_topic=True,
    ),
)
"""Every service that consumes or produces events, as wired today."""


def service_topology(service: str) -> ServiceTopology:
    """The declaration of one service."""
    for declared in TOPOLOGY:
        if declared.service == service:
            return declared
    raise KeyError(service)


def consumer_groups(services: tuple[ServiceTopology, ...] = TOPOLOGY) -> Iterator[ConsumerGroup]:
    """Every declared consumer group on every topic, service by service."""
    for declared in services:
        for name, topic in declared.consumes:
            group = f"{name}.{topic}" if declared.group_per_topic else name
            yield ConsumerGroup(declared.service, name, topic, group)


def consumer_groups_of(service: str) -> tuple[ConsumerGroup, ...]:
    """The consumer groups one service runs."""
    return tuple(consumer_groups((service_topology(service),)))


def producers_of(topic: Topic) -> tuple[str, ...]:
    """The services that publish to `topic`."""
    return tuple(declared.service for declared in TOPOLOGY if topic in declared.produces)
