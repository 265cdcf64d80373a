"""The Kafka broker factory: every producer durable, every consumer at-least-once."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from messaging.settings import KafkaSettings


def create_broker(settings: KafkaSettings, *, client_id: str) -> KafkaBroker:
    """A FastStream Kafka broker with Mirage's safe defaults.

    - producers wait for every in-sync replica (`acks=all`) and are idempotent,
      so a retried send never duplicates or reorders within a partition;
    - topics are created explicitly (`messaging.admin.ensure_topics`), never by
      a typo in a subscriber;
    - no FastStream logging or telemetry middleware: consumers hand records to
      their lanes and return at once (`messaging.consumer`), so the runtime logs
      and traces the work itself, around each record's processing (the trace
      context travels in the records' headers);
    - no dependency injection (`apply_types=False`): a handler is called with what
      the consumer's decoder returned, the already validated event. FastStream still
      reads the handler's annotations for the AsyncAPI document. Injection would
      validate every event a second time and resolve context in a worker thread.
    """
    return KafkaBroker(
        settings.bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.linger_ms,
        request_timeout_ms=settings.request_timeout_ms,
        graceful_timeout=settings.graceful_timeout_s,
        allow_auto_create_topics=False,
        logger=None,
        apply_types=False,
    )
