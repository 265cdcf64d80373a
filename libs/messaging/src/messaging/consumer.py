"""At-least-once Kafka consumers whose records run in per-key lanes.

A `KeyedConsumer` is one FastStream subscriber, declared through FastStream's
public API: a typed handler (so the AsyncAPI document shows the topic's event
schema), `AckPolicy.MANUAL` (FastStream never acknowledges for us), a custom
decoder and a rebalance listener. The handler hands each record to the lane of
its key and returns, so FastStream fetches the next record at once:

- **order per key, concurrency across keys**: a lane runs its records one after
  another in offset order; lanes run side by side (bounded by `max_concurrency`),
  so one slow conversation never holds up the others;
- **commit after the work is durable**: a partition's offset advances only past
  a run of records that are all finished (`offsets.PartitionProgress`), and is
  committed every `commit_interval_ms`, at every revocation and at shutdown;
- **backpressure**: at most `max_in_flight` records are admitted and unfinished;
  beyond it the handler waits, and so does the fetch;
- **lanes are isolated**: a lane's failure is handled inside that lane. Nothing
  ever cancels a sibling lane in the middle of its work (an external call);
- **failures by class**: a malformed record, or one whose handler raised
  `PermanentFailure` or kept failing, goes to the consumer's dead-letter topic
  with the reason in its headers. An infrastructure failure (`errors`) is retried
  in its lane until the dependency is back: the partition's commit waits, other
  partitions and keys keep moving, and a record stuck longer than
  `stall_alert_after_s` raises one admin alert and the `consumer_stalled` metric;
- **rebalance**: when partitions are revoked, the lanes of those partitions give
  back the records they had not started, finish the one they are running
  (bounded by `revoke_timeout_s`), and their finished offsets are committed
  before the handover. A record fetched before a rebalance is never handed to a
  lane after it (aiokafka's position says whether it was fetched under the
  current assignment).

Handlers are idempotent by event id, so a record redelivered after a crash (or
given back at a revocation) is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from faststream.exceptions import SkipMessage
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from opentelemetry import trace
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, SpanKind, Status, StatusCode
from pydantic import ValidationError

from contracts import (
    AdminAlert,
    AdminAlertData,
    AlertCause,
    AlertSeverity,
    Envelope,
    Topic,
    dead_letter_topic,
    parse_topic_event,
    partition_key,
    stable_id,
    topic_event_type,
)
from messaging.backoff import RetryPolicy
from messaging.errors import PermanentFailure, is_infrastructure_error
from messaging.metrics import MessagingMetrics
from messaging.offsets import OffsetBook
from messaging.settings import KafkaSettings
from messaging.trace_headers import context_from_headers, decode_record_headers

EventT = TypeVar("EventT", bound=Envelope)

# How often an idle consumer (no record finishing) samples its lag; busy, it samples at every commit.
_IDLE_LAG_SAMPLE_S = 1.0

Handler = Callable[[EventT], Awaitable[None]]

log = structlog.get_logger(__name__)
tracer = trace.get_tracer("mirage.messaging")


class _LaneStopped(Exception):  # noqa: N818 - control flow inside a lane, never escapes it
    """The lane was told to stop between two attempts (revocation or shutdown)."""


@dataclass(slots=True)
class _Job:
    """One record on its way through a lane."""

    record: ConsumerRecord[bytes, bytes]
    partition: TopicPartition
    event: Envelope | None
    # Why the record could not be parsed (then `event` is None).
    unparseable: str | None = None
    admitted_at: float = field(default_factory=time.perf_counter)


@dataclass(eq=False)
class _Lane:
    """The records of one key, run one after another."""

    key: tuple[int, object]
    partition: TopicPartition
    jobs: deque[_Job] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    running: _Job | None = None
    # Set to make the lane stop between two attempts, and to wake it from a backoff.
    stop: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Stall:
    """A partition whose current record keeps failing for infrastructure reasons."""

    since: float
    alerted: bool = False
    tenant: Any = None


class _RevocationListener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Hands revocations and assignments to the consumer (FastStream's `listener` option)."""

    def __init__(self, consumer: KeyedConsumer[Any]) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._consumer.partitions_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._consumer.partitions_assigned(set(assigned))


def _tracing_on() -> bool:
    return not isinstance(trace.get_tracer_provider(), NoOpTracerProvider | ProxyTracerProvider)


class KeyedConsumer(Generic[EventT]):
    """One consumer group on one topic, its records run in per-key lanes (see the module doc)."""

    def __init__(
        self,
        *,
        broker: KafkaBroker,
        settings: KafkaSettings,
        topic: Topic,
        consumer: str,
        handler: Handler[EventT],
        accepts: Sequence[type[EventT]] | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int | None = None,
        metrics: MessagingMetrics | None = None,
        group: str | None = None,
    ) -> None:
        self.broker = broker
        self.settings = settings
        self.topic = topic
        self.consumer = consumer
        self.handler = handler
        # Records reach the handler only once `accepts` (or the topic's contract) admitted their type.
        self._call = cast("Callable[[Envelope], Awaitable[None]]", handler)
        # Events of the topic this consumer handles; others are skipped (and committed).
        self.accepts: tuple[type[Envelope], ...] = tuple(accepts) if accepts else ()
        self.retry = retry or RetryPolicy()
        self.physical_topic = settings.topic(topic)
        self.dead_letter_topic = settings.dead_letter(topic, consumer)
        # The logical group: the consumer's name unless it reads several topics in groups of
        # their own (`messaging.topology`); the name still names dead letters and metrics.
        self.group = group or consumer
        self.group_id = settings.group(self.group)
        self.metrics = metrics or MessagingMetrics()
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self._lanes: dict[tuple[int, object], _Lane] = {}
        self._book = OffsetBook()
        self._stalls: dict[TopicPartition, _Stall] = {}
        self.in_flight = 0
        self._room = asyncio.Event()
        self._room.set()
        # Cleared from a revocation until the next assignment: no record is admitted meanwhile.
        self._assigned = asyncio.Event()
        self._assigned.set()
        self._closing = False
        self._kafka: AIOKafkaConsumer | None = None
        self._committer: asyncio.Task[None] | None = None
        # Set when a record finishes: the committer sleeps until then instead of ticking.
        self._finished = asyncio.Event()
        self._tracing: bool | None = None
        self._decoded: StreamMessage[Any] | None = None
        labels = (consumer, topic.value)
        self._in_flight_gauge = self.metrics.in_flight.labels(*labels)
        self._lanes_gauge = self.metrics.lanes.labels(*labels)
        self._latency = self.metrics.handler_seconds.labels(*labels)
        self._outcomes = {
            outcome: self.metrics.records.labels(*labels, outcome)
            for outcome in ("handled", "skipped", "dead_lettered")
        }

    # --- wiring -------------------------------------------------------------------

    @property
    def topics(self) -> tuple[str, str]:
        """The physical topics this consumer needs: its input and its dead letters."""
        return (self.physical_topic, self.dead_letter_topic)

    def register(self) -> None:
        """Declare the subscriber on the broker (before the broker starts)."""
        subscriber = self.broker.subscriber(
            self.physical_topic,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            listener=_RevocationListener(self),
            decoder=self._decode,
            session_timeout_ms=self.settings.session_timeout_ms,
            heartbeat_interval_ms=self.settings.heartbeat_interval_ms,
            max_poll_interval_ms=self.settings.max_poll_interval_ms,
            consumer_timeout_ms=self.settings.fetcher_idle_check_ms,
            title=f"{self.consumer}:{self.topic}",
            description=f"Consumer group `{self.group}` on `{self.topic}`; "
            f"dead letters go to `{dead_letter_topic(self.topic, self.consumer)}`.",
        )

        async def receive(event: Any) -> None:
            await self._receive(event)

        # The payload annotation is the topic's contract: the AsyncAPI document names its schema.
        receive.__annotations__ = {"event": topic_event_type(self.topic), "return": None}
        receive.__name__ = receive.__qualname__ = f"{self.consumer}_{self.topic.value.replace('.', '_')}"
        receive.__doc__ = f"`{self.topic}` records, each run in its key's lane by `{self.consumer}`."
        subscriber(receive)

    async def start(self) -> None:
        """Start the periodic offset commits (call before the broker starts consuming)."""
        self._closing = False
        self._committer = asyncio.create_task(self._commit_periodically(), name=f"commits-{self.group_id}")

    async def close(self) -> None:
        """Stop admitting, let every lane finish the record it runs, commit (before the consumer stops)."""
        self._closing = True
        self._room.set()
        self._assigned.set()
        await self._stop_lanes(list(self._lanes.values()), timeout_s=self.settings.graceful_timeout_s)
        if self._committer is not None:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
            self._committer = None
        try:
            # Bounded: with the coordinator gone, aiokafka's commit waits for it for ever. Not
            # committing only means the next owner redoes these records (handlers are idempotent).
            await asyncio.wait_for(
                self._commit(self._book.to_commit()), timeout=self.settings.graceful_timeout_s
            )
        except TimeoutError:
            log.warning("offsets not committed before stopping", consumer=self.consumer, topic=self.topic)

    # --- from FastStream -----------------------------------------------------------

    async def _decode(self, message: StreamMessage[Any]) -> Envelope:
        """Parse one record; a malformed one goes to its lane to be dead-lettered in order.

        FastStream calls the handler right after its decoder, for one record at a time, so
        the record the handler's event came from is kept here for it.
        """
        try:
            event = parse_topic_event(message.body, self.topic)
        except ValidationError as error:
            await self.accept(
                message.raw_message, None, kafka=_consumer_of(message), unparseable=_first_line(error)
            )
            raise SkipMessage from error
        self._decoded = message
        return event

    async def _receive(self, event: Envelope) -> None:
        message, self._decoded = self._decoded, None
        if message is None:
            raise RuntimeError("a record reached the handler without passing the consumer's decoder")
        await self.accept(message.raw_message, event, kafka=_consumer_of(message))

    async def accept(
        self,
        record: ConsumerRecord[bytes, bytes],
        event: Envelope | None,
        *,
        kafka: AIOKafkaConsumer | None = None,
        unparseable: str | None = None,
    ) -> bool:
        """Admit one record to its key's lane (what the subscriber does with every record).

        `event` is the parsed record, or None with `unparseable` saying why it could not be
        parsed; `kafka` is the consumer that fetched it. Waits for room and for a rebalance
        to end; False when the record was not admitted (shutting down, or fetched before a
        rebalance: it is fetched again by the partition's owner).
        """
        if kafka is not None:
            self._kafka = kafka
        partition = TopicPartition(record.topic, record.partition)
        if not await self._admit(partition, record.offset):
            return False
        self._dispatch(_Job(record, partition, event, unparseable))
        return True

    async def _admit(self, partition: TopicPartition, offset: int) -> bool:
        """Wait for room and for any rebalance to end; False when the record is no longer ours."""
        while True:
            if self._closing:
                return False
            if not self._assigned.is_set():
                await self._assigned.wait()
                continue
            if self.in_flight >= self.settings.max_in_flight:
                self._room.clear()
                await self._room.wait()
                continue
            return await self._fetched_under_current_assignment(partition, offset)

    async def _fetched_under_current_assignment(self, partition: TopicPartition, offset: int) -> bool:
        """False for a record fetched before a rebalance: it will be fetched again by its owner.

        aiokafka resets positions when partitions are (re)assigned, and its position passes a
        record only once that record was returned under the current assignment.
        """
        kafka = self._kafka
        if kafka is None:
            return True  # FastStream's in-memory test broker: no assignments
        try:
            position: int = await kafka.position(partition)
        except IllegalStateError:
            return False  # not assigned to this consumer any more
        return position > offset

    def _dispatch(self, job: _Job) -> None:
        record = job.record
        key = (record.partition, record.key if record.key is not None else record.offset)
        self._book.progress(job.partition).handed_out(record.offset)
        self.in_flight += 1
        self._in_flight_gauge.set(self.in_flight)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(key, job.partition)
            self._lanes_gauge.set(len(self._lanes))
        lane.jobs.append(job)
        if lane.task is None:
            lane.task = asyncio.create_task(self._run_lane(lane))

    # --- lanes -----------------------------------------------------------------------

    async def _run_lane(self, lane: _Lane) -> None:
        failures = 0
        try:
            while lane.jobs and not lane.stop.is_set():
                job = lane.running = lane.jobs.popleft()
                try:
                    outcome = await self._process(job, lane)
                except (_LaneStopped, asyncio.CancelledError):
                    # Stopped between attempts, or cancelled after the revocation timeout: the
                    # record is not finished, so its offset holds the commit and it comes again.
                    lane.running = None
                    self._give_back([job])
                    raise
                except Exception:
                    # A bug, not an event failure (those end in a dead letter): keep the record at
                    # the head of its lane and try again later, so nothing after it overtakes it.
                    failures += 1
                    log.exception("lane failed unexpectedly; the record is retried", consumer=self.consumer)
                    lane.jobs.appendleft(job)
                    lane.running = None
                    await self._pause(lane, self.retry.delay(failures))
                    continue
                failures = 0
                lane.running = None
                self._finish(job, outcome)
        except _LaneStopped:
            pass
        finally:
            lane.task = None
            if lane.stop.is_set() and lane.jobs:
                self._give_back(list(lane.jobs))
                lane.jobs.clear()
            if self._lanes.get(lane.key) is lane and not lane.jobs:
                del self._lanes[lane.key]
                self._lanes_gauge.set(len(self._lanes))

    def _finish(self, job: _Job, outcome: str) -> None:
        self._book.finished(job.partition, job.record.offset)
        self._finished.set()
        self._release(1)
        self._outcomes[outcome].inc()
        self._latency.observe(time.perf_counter() - job.admitted_at)

    def _give_back(self, jobs: Sequence[_Job]) -> None:
        """Records handed back unfinished: their offsets hold the commit; they come again."""
        if jobs:
            self._release(len(jobs))
            self.metrics.dropped.labels(self.consumer, self.topic.value).inc(len(jobs))

    def _release(self, count: int) -> None:
        self.in_flight -= count
        self._in_flight_gauge.set(self.in_flight)
        if self.in_flight < self.settings.max_in_flight:
            self._room.set()

    async def _process(self, job: _Job, lane: _Lane) -> str:
        """Take one record to a durable outcome; the outcome's name."""
        headers = decode_record_headers(job.record.headers)
        if job.event is None:
            await self._dead_letter(job, headers, lane, reason="unparseable", error=job.unparseable or "")
            return "dead_lettered"
        event = job.event
        if self.accepts and not isinstance(event, self.accepts):
            return "skipped"
        if self._tracing is None:
            self._tracing = _tracing_on()
        with structlog.contextvars.bound_contextvars(
            event_id=str(event.event_id), event_type=event.type, correlation_id=str(event.correlation_id)
        ):
            if not self._tracing:
                return await self._handle(job, event, headers, lane, None)
            with tracer.start_as_current_span(
                f"{self.topic} process",
                context=context_from_headers(headers),
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.destination.name": job.record.topic,
                    "messaging.consumer.group.name": self.group_id,
                    "messaging.message.id": str(event.event_id),
                    "messaging.kafka.offset": job.record.offset,
                    "mirage.correlation_id": str(event.correlation_id),
                },
            ) as span:
                return await self._handle(job, event, headers, lane, span)

    async def _handle(
        self, job: _Job, event: Envelope, headers: dict[str, str], lane: _Lane, span: trace.Span | None
    ) -> str:
        failures = 0
        infrastructure_retries = 0
        while True:
            try:
                if self._slots is None:
                    await self._call(event)
                else:
                    async with self._slots:
                        await self._call(event)
            except PermanentFailure as error:
                await self._unstalled(job.partition)
                if span is not None:
                    span.set_status(Status(StatusCode.ERROR, str(error)))
                await self._dead_letter(job, headers, lane, reason="rejected", error=str(error))
                return "dead_lettered"
            except Exception as error:  # noqa: BLE001 - classified below: wait, retry or dead-letter
                if span is not None:
                    span.record_exception(error)
                if is_infrastructure_error(error):
                    infrastructure_retries += 1
                    self.metrics.infrastructure_retries.labels(self.consumer, self.topic.value).inc()
                    await self._stalling(job.partition, event, error)
                    log.warning(
                        "a dependency failed; the record waits in its lane",
                        consumer=self.consumer,
                        partition=job.record.partition,
                        offset=job.record.offset,
                        retry=infrastructure_retries,
                        error=f"{type(error).__name__}: {error}",
                    )
                    await self._pause(lane, self.retry.delay(infrastructure_retries))
                    continue
                failures += 1
                if failures < self.retry.attempts:
                    log.warning(
                        "handler failed, retrying",
                        attempt=failures,
                        consumer=self.consumer,
                        error=f"{type(error).__name__}: {error}",
                    )
                    await self._pause(lane, self.retry.delay(failures))
                    continue
                await self._unstalled(job.partition)
                if span is not None:
                    span.set_status(Status(StatusCode.ERROR, str(error)))
                await self._dead_letter(
                    job,
                    headers,
                    lane,
                    reason="handler_failed",
                    error="".join(traceback.format_exception_only(error)).strip(),
                )
                return "dead_lettered"
            else:
                await self._unstalled(job.partition)
                return "handled"

    @staticmethod
    async def _pause(lane: _Lane, delay_s: float) -> None:
        """Wait before the next attempt; a lane told to stop stops here, never mid-attempt."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lane.stop.wait(), timeout=delay_s)
        if lane.stop.is_set():
            raise _LaneStopped

    async def _dead_letter(
        self, job: _Job, headers: dict[str, str], lane: _Lane, *, reason: str, error: str
    ) -> None:
        record = job.record
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
        retries = 0
        while True:
            try:
                # Awaited: the offset is committed only once the dead letter is durable.
                await self.broker.publish(
                    record.value or b"",
                    topic=self.dead_letter_topic,
                    key=record.key,
                    headers=dead_letter_headers,
                )
            except Exception as failure:
                if not is_infrastructure_error(failure):
                    raise
                retries += 1
                log.warning("dead letter not published yet; retrying", error=str(failure))
                await self._pause(lane, self.retry.delay(retries))
            else:
                return

    # --- stalls ----------------------------------------------------------------------

    async def _stalling(self, partition: TopicPartition, event: Envelope, error: BaseException) -> None:
        now = time.monotonic()
        stall = self._stalls.get(partition)
        if stall is None:
            stall = self._stalls[partition] = _Stall(since=now, tenant=event.tenant_id)
        if stall.alerted or now - stall.since < self.settings.stall_alert_after_s:
            return
        self.metrics.stalled.labels(self.consumer, self.topic.value, str(partition.partition)).set(1)
        stalled_s = now - stall.since
        log.error(
            "consumer stalled: a record keeps failing for infrastructure reasons",
            consumer=self.consumer,
            partition=partition.partition,
            stalled_s=round(stalled_s),
            error=f"{type(error).__name__}: {error}",
        )
        stall.alerted = await self._publish_stall_alert(
            partition,
            event,
            resolved=False,
            detail=f"{type(error).__name__}: {error}"[:300] + f" (for {stalled_s:.0f}s)",
        )

    async def _unstalled(self, partition: TopicPartition) -> None:
        stall = self._stalls.pop(partition, None)
        if stall is None:
            return
        self.metrics.stalled.labels(self.consumer, self.topic.value, str(partition.partition)).set(0)
        if stall.alerted:
            log.info("consumer moving again", consumer=self.consumer, partition=partition.partition)
            await self._publish_stall_alert(partition, None, resolved=True, tenant=stall.tenant)

    async def _publish_stall_alert(
        self,
        partition: TopicPartition,
        event: Envelope | None,
        *,
        resolved: bool,
        detail: str = "",
        tenant: Any = None,
    ) -> bool:
        """One `admin.alert` (or its resolution), straight to Kafka; False when it could not go."""
        tenant_id = event.tenant_id if event is not None else tenant
        key = f"{AlertCause.CONSUMER_STALLED}:{self.consumer}:{self.topic}:{partition.partition}"
        alert = AdminAlert(
            event_id=stable_id(key, "resolved" if resolved else "raised", time.time_ns()),
            tenant_id=tenant_id,
            correlation_id=event.correlation_id if event is not None else stable_id(key),
            data=AdminAlertData(
                cause=AlertCause.CONSUMER_STALLED,
                severity=AlertSeverity.INFO if resolved else AlertSeverity.CRITICAL,
                alert_key=key,
                title=(
                    f"Processing of {self.topic} resumed"
                    if resolved
                    else f"Processing of {self.topic} is stalled: a dependency is unreachable"
                ),
                detail=detail,
                context={
                    "consumer": self.consumer,
                    "topic": self.topic.value,
                    "partition": str(partition.partition),
                },
                resolved=resolved,
            ),
        )
        try:
            await self.broker.publish(
                alert.to_json_bytes(),
                topic=self.settings.topic(Topic.ADMIN_ALERT),
                key=partition_key(alert),
            )
        except Exception as error:  # noqa: BLE001 - Kafka may be the dependency that is down
            log.warning("stall alert not published", error=f"{type(error).__name__}: {error}")
            return False
        return True

    # --- rebalance and shutdown -----------------------------------------------------

    async def partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Before the handover: stop the lanes of revoked partitions, commit what they finished."""
        self._assigned.clear()
        mine = {partition for partition in revoked if partition.topic == self.physical_topic}
        if not mine:
            return
        self.metrics.rebalances.labels(self.consumer, self.topic.value).inc()
        lanes = [lane for lane in self._lanes.values() if lane.partition in mine]
        await self._stop_lanes(lanes, timeout_s=self.settings.revoke_timeout_s)
        await self._commit(self._book.to_commit(mine))
        self._book.forget(mine)
        for partition in mine:
            self._stalls.pop(partition, None)
            self.metrics.stalled.labels(self.consumer, self.topic.value, str(partition.partition)).set(0)
        log.info(
            "partitions revoked",
            consumer=self.consumer,
            partitions=sorted(partition.partition for partition in mine),
            lanes_stopped=len(lanes),
        )

    def partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """After the handover: records may be admitted again (synchronous: nothing to wait for)."""
        self._assigned.set()
        log.info(
            "partitions assigned",
            consumer=self.consumer,
            partitions=sorted(p.partition for p in assigned if p.topic == self.physical_topic),
        )

    async def _stop_lanes(self, lanes: Sequence[_Lane], *, timeout_s: float) -> None:
        """Give back every waiting record, let the running ones finish, then stop the lanes."""
        tasks = []
        for lane in lanes:
            waiting = list(lane.jobs)
            lane.jobs.clear()
            self._give_back(waiting)
            lane.stop.set()
            if lane.task is not None:
                tasks.append(lane.task)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        if pending:
            log.error(
                "lanes did not finish their record in time; stopping them",
                consumer=self.consumer,
                lanes=len(pending),
                timeout_s=timeout_s,
            )
            for task in pending:
                task.cancel()
            await asyncio.wait(pending)
        for lane in lanes:
            if self._lanes.get(lane.key) is lane:
                del self._lanes[lane.key]
        self._lanes_gauge.set(len(self._lanes))

    # --- commits -----------------------------------------------------------------------

    async def _commit_periodically(self) -> None:
        """Commit what finished at most every `commit_interval_ms`; an idle consumer sleeps.

        Under load this ticks as before (a commit per interval). With nothing finishing it wakes
        only to sample the lag every `_IDLE_LAG_SAMPLE_S` instead of every interval: each
        wake-up of an idle process costs CPU an operator pays for (docs/benchmarks.md).
        """
        interval = self.settings.commit_interval_ms / 1000
        idle_s = max(interval, _IDLE_LAG_SAMPLE_S)
        while True:
            try:
                # `asyncio.timeout`, not `wait_for`: on 3.11 `wait_for` swallows a cancellation
                # that lands as the event is set, and `close` would wait for ever.
                async with asyncio.timeout(idle_s):
                    await self._finished.wait()
            except TimeoutError:
                self._sample_lag()
                continue
            await asyncio.sleep(interval)
            # Cleared before the offsets are read: a record finishing during the commit sets it
            # again and is committed on the next tick.
            self._finished.clear()
            if self._assigned.is_set():
                await self._commit(self._book.to_commit())
            self._sample_lag()

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        kafka = self._kafka
        if not offsets or kafka is None:
            return
        try:
            await kafka.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            # The group moved on (this member lost the partitions): the next owner redoes them.
            log.info(
                "offsets not committed: the assignment changed", consumer=self.consumer, error=str(error)
            )
        except KafkaError as error:
            log.warning("offset commit failed; it is retried", consumer=self.consumer, error=str(error))
        else:
            self._book.committed(offsets)

    def _sample_lag(self) -> None:
        kafka = self._kafka
        if kafka is None:
            return
        for partition in self._book.partitions:
            end = kafka.highwater(partition)
            if end is None:
                continue
            progress = self._book.progress(partition)
            position = progress.committed if progress.committed is not None else progress.next_offset
            if position is not None:
                self.metrics.lag.labels(self.consumer, self.topic.value, str(partition.partition)).set(
                    max(0, end - position)
                )


def _consumer_of(message: Any) -> AIOKafkaConsumer | None:
    """The aiokafka consumer that fetched a FastStream message (none in FastStream's test broker)."""
    kafka = getattr(message, "consumer", None)
    return kafka if isinstance(kafka, AIOKafkaConsumer) else None


def _first_line(error: ValidationError) -> str:
    errors = error.errors()
    if not errors:
        return str(error)
    first = errors[0]
    location = ".".join(str(part) for part in first.get("loc", ()))
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{location}: {first.get('msg', '')}{more}"
