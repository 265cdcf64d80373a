"""At-least-once consumers that process a fetched batch concurrently across keys.

FastStream's Kafka default acknowledges a message *before* the handler runs
(at-most-once): a crash loses it. Mirage never uses that. A `KeyedConsumer`
subscribes in batch mode with `AckPolicy.NACK_ON_ERROR`:

- a fetched batch is split by record key; keys run concurrently, the records
  of one key run one after another in offset order (one conversation stays in
  order while many are in flight);
- the offsets are committed only after every record of the batch was handled
  or dead-lettered, i.e. its work is durable;
- a record that cannot be parsed, or whose handler keeps failing, goes to the
  consumer's dead-letter topic with the reason in its headers;
- an infrastructure failure (database, Redis or Kafka unreachable) fails the
  whole batch instead: nothing is committed, the consumer rewinds and the batch
  comes again after a pause. Handlers are idempotent by event id, so the
  records that had already succeeded are skipped the second time.
"""

from __future__ import annotations

import asyncio
import random
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, Generic, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.message import KafkaMessage as KafkaStreamMessage
from faststream.middlewares import AckPolicy
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import ValidationError

from contracts import Envelope, Topic, UnexpectedEventError, parse_event
from messaging.settings import KafkaSettings
from messaging.trace_headers import context_from_headers, decode_record_headers

EventT = TypeVar("EventT", bound=Envelope)

log = structlog.get_logger(__name__)
tracer = trace.get_tracer("mirage.messaging")


class PermanentFailure(Exception):  # noqa: N818 - reads as what the handler reports
    """A handler's verdict that retrying this event cannot help: dead-letter it now."""


def is_infrastructure_error(error: BaseException) -> bool:
    """True for failures of a dependency (retry the batch later), not of one event."""
    if isinstance(error, OSError | ConnectionError | TimeoutError | KafkaError):
        return True
    # Imported lazily so this module does not force every driver on every service.
    names = {cls.__module__.split(".")[0] + "." + cls.__name__ for cls in type(error).__mro__}
    return bool(
        names
        & {
            "asyncpg.PostgresConnectionError",
            "asyncpg.ConnectionDoesNotExistError",
            "asyncpg.InterfaceError",
            "asyncpg.CannotConnectNowError",
            "asyncpg.TooManyConnectionsError",
            "asyncpg.AdminShutdownError",
            "redis.ConnectionError",
            "redis.TimeoutError",
            "redis.BusyLoadingError",
        }
    )


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing event is retried in-process before it is dead-lettered."""

    attempts: int = 3
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0
    # Pause before an infrastructure failure makes the batch come again.
    batch_retry_delay_s: float = 2.0

    def delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter for the `attempt`-th retry (1-based)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not crypto


@dataclass(frozen=True)
class Delivery:
    """Where an event came from, for handlers that need more than the event."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: dict[str, str]


Handler = Callable[[EventT, Delivery], Awaitable[None]]


def _keep_raw(message: KafkaStreamMessage) -> None:
    """A decoder that decodes nothing."""


class KeyedConsumer(Generic[EventT]):
    """One consumer group on one topic, processing batches concurrently across keys."""

    def __init__(
        self,
        *,
        broker: KafkaBroker,
        settings: KafkaSettings,
        topic: Topic,
        consumer: str,
        accepts: Sequence[type[EventT]],
        handler: Handler[EventT],
        retry: RetryPolicy | None = None,
        max_concurrency: int | None = None,
    ) -> None:
        self.broker = broker
        self.settings = settings
        self.topic = topic
        self.consumer = consumer
        self.accepts = tuple(accepts)
        self.handler = handler
        self.retry = retry or RetryPolicy()
        # Bounds how many keys of one batch run at once (None: all of them).
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self.physical_topic = settings.topic(topic)
        self.dead_letter_topic = settings.dead_letter(topic, consumer)
        self.group_id = settings.group(consumer)
        self.in_flight = 0

    @property
    def topics(self) -> tuple[str, str]:
        """The physical topics this consumer needs: its input and its dead letters."""
        return (self.physical_topic, self.dead_letter_topic)

    def register(self) -> None:
        """Attach the subscriber to the broker (call before the broker starts)."""
        subscriber = self.broker.subscriber(
            self.physical_topic,
            group_id=self.group_id,
            batch=True,
            max_records=self.settings.max_batch,
            batch_timeout_ms=self.settings.batch_timeout_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            session_timeout_ms=self.settings.session_timeout_ms,
            heartbeat_interval_ms=self.settings.heartbeat_interval_ms,
            max_poll_interval_ms=self.settings.max_poll_interval_ms,
            # Records are parsed by `process_batch`, never by FastStream: a malformed
            # body must reach the dead-letter topic, not fail the whole batch.
            decoder=_keep_raw,
            title=f"{self.consumer}:{self.topic}",
            description=f"Consumer group `{self.consumer}` on `{self.topic}`.",
        )

        async def fetch(consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord[bytes, bytes], ...]:
            # FastStream's batch fetch sleeps another `batch_timeout_ms` after an empty poll:
            # up to that much latency on every hop of a quiet pipeline. aiokafka's `getmany`
            # already waits for records and returns the moment some arrive.
            batches = await consumer.getmany(
                timeout_ms=self.settings.batch_timeout_ms, max_records=self.settings.max_batch
            )
            return tuple(chain.from_iterable(batches.values()))

        subscriber.get_msg = fetch  # type: ignore[method-assign]

        async def on_batch(
            body: Any,
            message: KafkaMessage,
        ) -> None:
            await self.process_batch(message.raw_message)

        subscriber(on_batch)

    async def process_batch(self, records: Any) -> None:
        """Handle one fetched batch; returns only when every record is durable."""
        batch: tuple[ConsumerRecord[bytes, bytes], ...] = (
            records if isinstance(records, tuple) else (records,)
        )
        by_key: dict[object, list[ConsumerRecord[bytes, bytes]]] = {}
        for record in batch:
            # Records without a key keep their own lane.
            lane: object = record.key if record.key is not None else (record.partition, record.offset)
            by_key.setdefault(lane, []).append(record)
        self.in_flight += len(batch)
        try:
            async with asyncio.TaskGroup() as group:
                for lane_records in by_key.values():
                    group.create_task(self._process_lane(lane_records))
        except BaseExceptionGroup as failure:
            infrastructure = [e for e in failure.exceptions if is_infrastructure_error(e)]
            first = infrastructure[0] if infrastructure else failure.exceptions[0]
            log.warning(
                "batch failed, it will be consumed again",
                consumer=self.consumer,
                topic=self.physical_topic,
                records=len(batch),
                error=f"{type(first).__name__}: {first}",
            )
            await asyncio.sleep(self.retry.batch_retry_delay_s)
            raise first from failure
        finally:
            self.in_flight -= len(batch)

    async def _process_lane(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        if self._slots is None:
            for record in records:
                await self._process_record(record)
            return
        async with self._slots:
            for record in records:
                await self._process_record(record)

    async def _process_record(self, record: ConsumerRecord[bytes, bytes]) -> None:
        headers = decode_record_headers(record.headers)
        delivery = Delivery(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            headers=headers,
        )
        try:
            event = parse_event(record.value or b"", self.topic)
        except (ValidationError, UnexpectedEventError) as error:
            await self._dead_letter(record, headers, reason="unparseable", error=str(error))
            return
        if not isinstance(event, self.accepts):
            log.info(
                "skipping event type this consumer does not handle",
                consumer=self.consumer,
                type=event.type,
                event_id=str(event.event_id),
            )
            return
        with (
            tracer.start_as_current_span(
                f"{self.topic} process",
                context=context_from_headers(headers),
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.destination.name": record.topic,
                    "messaging.consumer.group.name": self.group_id,
                    "messaging.message.id": str(event.event_id),
                    "messaging.kafka.offset": record.offset,
                    "mirage.correlation_id": str(event.correlation_id),
                },
            ) as span,
            structlog.contextvars.bound_contextvars(
                event_id=str(event.event_id),
                event_type=event.type,
                correlation_id=str(event.correlation_id),
            ),
        ):
            await self._handle_with_retries(event, delivery, record, headers, span)

    async def _handle_with_retries(
        self,
        event: EventT,
        delivery: Delivery,
        record: ConsumerRecord[bytes, bytes],
        headers: dict[str, str],
        span: trace.Span,
    ) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.handler(event, delivery)
            except PermanentFailure as error:
                span.set_status(Status(StatusCode.ERROR, str(error)))
                await self._dead_letter(record, headers, reason="rejected", error=str(error))
                return
            except Exception as error:
                span.record_exception(error)
                if attempt < self.retry.attempts:
                    log.warning(
                        "handler failed, retrying",
                        attempt=attempt,
                        consumer=self.consumer,
                        error=f"{type(error).__name__}: {error}",
                    )
                    await asyncio.sleep(self.retry.delay(attempt))
                    continue
                if is_infrastructure_error(error):
                    raise
                span.set_status(Status(StatusCode.ERROR, str(error)))
                await self._dead_letter(
                    record,
                    headers,
                    reason="handler_failed",
                    error="".join(traceback.format_exception_only(error)).strip(),
                )
                return
            else:
                return

    async def _dead_letter(
        self,
        record: ConsumerRecord[bytes, bytes],
        headers: dict[str, str],
        *,
        reason: str,
        error: str,
    ) -> None:
        log.error(
            "dead-lettering a record",
            consumer=self.consumer,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
            error=error[:500],
        )
        dead_letter_headers = {
            **{k: v for k, v in headers.items() if not k.startswith("x-dead-letter-")},
            "x-dead-letter-reason": reason,
            "x-dead-letter-error": error[:2000],
            "x-dead-letter-consumer": self.consumer,
            "x-dead-letter-topic": record.topic,
            "x-dead-letter-partition": str(record.partition),
            "x-dead-letter-offset": str(record.offset),
        }
        # Awaited: the offset is committed only once the dead letter is durable.
        await self.broker.publish(
            record.value or b"",
            topic=self.dead_letter_topic,
            key=record.key,
            headers=dead_letter_headers,
        )
