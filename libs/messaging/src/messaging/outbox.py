"""The transactional outbox: events are staged in PostgreSQL with the state change
that caused them, then published to Kafka by a relay.

A service never publishes from a handler directly: if it did, a crash between
its database commit and the publish would lose the event, and a crash between
the publish and the commit would publish an event for a change that never
happened. Instead it calls `Outbox.stage` inside its transaction. After the
commit it hands the staged rows to its `OutboxRelay`, which publishes them at
once (the fast path) and deletes them. Rows the fast path could not publish
(Kafka down, process killed) are picked up by the relay's sweep, in any replica,
with `FOR UPDATE SKIP LOCKED`. Publication is at-least-once; consumers are
idempotent by event id.

The relay publishes through its own idempotent `acks=all` aiokafka producer
rather than through the FastStream broker: the trace context was captured in
the staged headers when the event was staged, so consumers continue the
producer's trace, and a relay publish costs a fraction of a broker publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaProducer

from contracts import Envelope, partition_key, topic_of
from database import Connection, Pool
from messaging.settings import KafkaSettings
from messaging.trace_headers import current_trace_headers

log = structlog.get_logger(__name__)

CORRELATION_HEADER = "x-mirage-correlation-id"
EVENT_TYPE_HEADER = "x-mirage-event-type"


@dataclass(frozen=True)
class StagedEvent:
    """An event written to the outbox, waiting to be published."""

    id: int
    topic: str
    key: bytes | None
    payload: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class PreparedEvents:
    """Events encoded as the column arrays of an outbox insert (see `Outbox.INSERT_SQL`)."""

    topics: list[str]
    keys: list[bytes]
    payloads: list[bytes]
    headers: list[dict[str, str]]

    @property
    def header_texts(self) -> list[str]:
        """The headers as JSON text, the form the insert takes them in."""
        return [json.dumps(header) for header in self.headers]

    def staged(self, ids: Sequence[int]) -> list[StagedEvent]:
        """The staged rows, once the insert returned their ids (in order)."""
        return [
            StagedEvent(id=row_id, topic=topic, key=key, payload=payload, headers=header)
            for row_id, topic, key, payload, header in zip(
                ids, self.topics, self.keys, self.payloads, self.headers, strict=True
            )
        ]


class Outbox:
    """Stages a producer's events in the caller's transaction."""

    # Parameters: producer, topics, keys, payloads, header texts (arrays of equal length).
    # A service may embed this statement in a larger one (as a CTE) to save round trips.
    INSERT_SQL = (
        "INSERT INTO outbox (producer, topic, key, payload, headers)"
        " SELECT $1, t, k, p, h::jsonb"
        " FROM unnest($2::text[], $3::bytea[], $4::bytea[], $5::text[])"
        " WITH ORDINALITY AS x(t, k, p, h, n) ORDER BY n"
        " RETURNING id"
    )

    def __init__(self, producer: str, *, namespace: str = "") -> None:
        # The `producer` column: the service's name behind its topic prefix, so installations
        # (or tests) sharing a database never relay each other's events.
        self.producer = f"{namespace}{producer}"

    def prepare(self, events: Sequence[Envelope]) -> PreparedEvents:
        """Encode `events` with their topic, partition key and the current trace context."""
        trace_headers = current_trace_headers()
        return PreparedEvents(
            topics=[str(topic_of(event)) for event in events],
            keys=[partition_key(event) for event in events],
            payloads=[event.to_json_bytes() for event in events],
            headers=[
                {
                    **trace_headers,
                    CORRELATION_HEADER: str(event.correlation_id),
                    EVENT_TYPE_HEADER: event.type,
                }
                for event in events
            ],
        )

    async def stage(self, conn: Connection, events: Sequence[Envelope]) -> list[StagedEvent]:
        """Insert `events`, in order, into the outbox, inside the state change's transaction."""
        if not events:
            return []
        prepared = self.prepare(events)
        rows = await conn.fetch(
            self.INSERT_SQL,
            self.producer,
            prepared.topics,
            prepared.keys,
            prepared.payloads,
            prepared.header_texts,
        )
        return prepared.staged([row["id"] for row in rows])


class OutboxRelay:
    """Publishes one producer's staged events to Kafka and deletes them once acknowledged."""

    def __init__(
        self,
        *,
        pool: Pool,
        settings: KafkaSettings,
        producer: str,
        sweep_interval_s: float = 1.0,
        sweep_after_s: float = 5.0,
        batch_size: int = 500,
    ) -> None:
        self.pool = pool
        self.settings = settings
        # The rows this relay owns: its producer's, in its topic namespace (see `Outbox`).
        self.producer = f"{settings.topic_prefix}{producer}"
        self.sweep_interval_s = sweep_interval_s
        self.sweep_after_s = sweep_after_s
        self.batch_size = batch_size
        self.kafka = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=f"mirage-{producer}-outbox",
            acks="all",
            enable_idempotence=True,
            linger_ms=settings.linger_ms,
            request_timeout_ms=settings.request_timeout_ms,
        )
        self._pending: list[StagedEvent] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[int] = set()
        self._stopping = False
        self.published = 0
        self.last_error: str | None = None

    def notify(self, staged: Iterable[StagedEvent]) -> None:
        """Hand rows committed by the caller to the fast path (no I/O, never fails)."""
        self._pending.extend(staged)
        self._wake.set()

    async def start(self) -> None:
        """Connect the producer and start the relay loop."""
        await self.kafka.start()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.producer}")

    async def stop(self) -> None:
        """Publish what the fast path holds (best effort), then stop; the sweep keeps the rest."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=self.settings.graceful_timeout_s)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        await self.kafka.stop()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + self.sweep_interval_s
        while True:
            timeout = max(0.0, next_sweep - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            self._wake.clear()
            if self._pending:
                batch, self._pending = self._pending, []
                await self._publish_fast(batch)
            if self._stopping:
                return
            if loop.time() >= next_sweep:
                try:
                    while await self.sweep() == self.batch_size:
                        pass
                except Exception as error:  # noqa: BLE001 - the loop must outlive outages
                    self.last_error = f"{type(error).__name__}: {error}"
                    log.warning("outbox sweep failed", producer=self.producer, error=self.last_error)
                next_sweep = loop.time() + self.sweep_interval_s

    async def _publish_fast(self, batch: list[StagedEvent]) -> None:
        ids = [item.id for item in batch]
        self._in_flight.update(ids)
        try:
            await self._publish(batch)
            async with self.pool.acquire() as conn:
                await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", ids)
        except Exception as error:  # noqa: BLE001 - the sweep publishes what this could not
            self.last_error = f"{type(error).__name__}: {error}"
            log.warning(
                "outbox fast path failed; the sweep will retry",
                producer=self.producer,
                events=len(batch),
                error=self.last_error,
            )
        finally:
            self._in_flight.difference_update(ids)

    async def sweep(self) -> int:
        """Publish and delete staged rows older than `sweep_after_s`; returns how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, topic, key, payload, headers FROM outbox"
                " WHERE producer = $1 AND created_at < now() - make_interval(secs => $2)"
                " AND NOT (id = ANY($3::bigint[]))"
                " ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED",
                self.producer,
                self.sweep_after_s,
                list(self._in_flight),
                self.batch_size,
            )
            if not rows:
                return 0
            batch = [
                StagedEvent(
                    id=row["id"],
                    topic=row["topic"],
                    key=row["key"],
                    payload=row["payload"],
                    headers=dict(row["headers"]),
                )
                for row in rows
            ]
            await self._publish(batch)
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [item.id for item in batch])
        log.info("outbox sweep published", producer=self.producer, events=len(batch))
        return len(batch)

    async def _publish(self, batch: Sequence[StagedEvent]) -> None:
        """Publish in order per key (sequential enqueue), across keys concurrently."""
        lanes: dict[bytes | None, list[StagedEvent]] = {}
        for item in batch:
            lanes.setdefault(item.key, []).append(item)

        async def lane(items: list[StagedEvent]) -> list[asyncio.Future[object]]:
            # `send` returns once the record is queued in order; its future resolves on the ack.
            return [
                await self.kafka.send(
                    self.settings.topic(item.topic),
                    item.payload,
                    key=item.key,
                    headers=[(name, value.encode()) for name, value in item.headers.items()],
                )
                for item in items
            ]

        enqueued = await asyncio.gather(*(lane(items) for items in lanes.values()))
        await asyncio.gather(*(future for futures in enqueued for future in futures))
        self.published += len(batch)
