"""Kafka wiring with safe defaults, in one place: durable producers, at-least-once
consumers running records in per-key lanes, dead letters, and the transactional outbox."""

from messaging.admin import (
    KafkaUnavailableError,
    cluster_metadata,
    delete_topics_with_prefixes,
    ensure_topics,
)
from messaging.backoff import RetryPolicy, backoff_delay_s
from messaging.broker import create_broker
from messaging.consumer import Handler, KeyedConsumer
from messaging.errors import PermanentFailure, is_infrastructure_error
from messaging.ledger import claim_event
from messaging.metrics import MessagingMetrics
from messaging.outbox import Outbox, OutboxRelay, PreparedEvents, StagedEvent, StagedEventSink
from messaging.runtime import MessagingRuntime
from messaging.settings import KafkaSettings
from messaging.topology import (
    ANALYTICS_CONSUMER,
    TOPOLOGY,
    ConsumerGroup,
    ServiceTopology,
    consumer_groups,
    consumer_groups_of,
    producers_of,
    service_topology,
)
from messaging.trace_headers import context_from_headers, current_trace_headers

__all__ = [
    "ANALYTICS_CONSUMER",
    "TOPOLOGY",
    "ConsumerGroup",
    "Handler",
    "KafkaSettings",
    "KafkaUnavailableError",
    "KeyedConsumer",
    "MessagingMetrics",
    "MessagingRuntime",
    "Outbox",
    "OutboxRelay",
    "PermanentFailure",
    "PreparedEvents",
    "RetryPolicy",
    "ServiceTopology",
    "StagedEvent",
    "StagedEventSink",
    "backoff_delay_s",
    "claim_event",
    "cluster_metadata",
    "consumer_groups",
    "consumer_groups_of",
    "context_from_headers",
    "create_broker",
    "current_trace_headers",
    "delete_topics_with_prefixes",
    "ensure_topics",
    "is_infrastructure_error",
    "producers_of",
    "service_topology",
]
