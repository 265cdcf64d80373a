"""The transactional outbox: events are staged in PostgreSQL with the state change
that caused them, then published to Kafka by a relay.

A service never publishes from a handler directly: if it did, a crash between
its database commit and the publish would lose the event, and a crash between
the publish and the commit would publish an event for a change that never
happened. Instead it calls `Outbox.stage` inside its transaction. After the
commit it hands the staged rows to its `OutboxRelay`, which publishes them at
once (the fast path); published rows are deleted in bulk a moment later.

**Order per key survives failures.** When a fast-path publish fails (Kafka is
down), the relay switches to *recovery*: nothing more goes through the fast
path, and sweeps publish every row of the producer in id order (within a key,
id order is the order the rows were staged in) until the outbox is drained;
only then does the fast path resume. A relay also starts in recovery, so rows
an earlier process left behind (it was stopped or killed before publishing
them) go out before anything new. So a later row of a key never overtakes an
earlier one that failed. A sweep also never publishes a row while an older row
of the same key is still waiting elsewhere (locked by another replica's sweep,
or in this relay's fast path). A record Kafka did not acknowledge in time stays
with the producer, which retries it; recovery waits for it before sweeping.

Rows a crashed process left behind are picked up by the periodic sweep of any
replica (rows older than `sweep_after_s`, `FOR UPDATE SKIP LOCKED`).
Publication is at-least-once; consumers are idempotent by event id.

The relay publishes through its own idempotent `acks=all` aiokafka producer:
the trace context was captured in the staged headers when the event was
staged, so consumers continue the producer's trace.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson
import structlog
from aiokafka import AIOKafkaProducer

from contracts import Envelope, partition_key, topic_of
from database import Connection, Pool
from messaging.metrics import MessagingMetrics
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
    # Every event has the same topic and the same headers (`Outbox.prepare_encoded`): the insert
    # then sends them once instead of once per row.
    uniform: bool = False

    @property
    def header_texts(self) -> list[str]:
        """The headers as JSON text, the form the insert takes them in."""
        # Events staged in bulk share one headers dict: encode each distinct dict once.
        texts: dict[int, str] = {}
        encoded = []
        for header in self.headers:
            text = texts.get(id(header))
            if text is None:
                text = texts[id(header)] = orjson.dumps(header).decode()
            encoded.append(text)
        return encoded

    def staged(self, ids: Sequence[int]) -> list[StagedEvent]:
        """The staged rows, once the insert returned their ids (in order)."""
        return [
            StagedEvent(id=row_id, topic=topic, key=key, payload=payload, headers=header)
            for row_id, topic, key, payload, header in zip(
                ids, self.topics, self.keys, self.payloads, self.headers, strict=True
            )
        ]


class StagedEventSink(Protocol):
    """Where committed outbox rows go to be published (the `OutboxRelay`)."""

    def notify(self, staged: Iterable[StagedEvent]) -> None:
        """Publish rows the caller has committed."""


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

    # `INSERT_SQL` for events of one topic with one set of headers (a bulk campaign): producer,
    # topic, keys, payloads, header text.
    UNIFORM_INSERT_SQL = (
        "INSERT INTO outbox (producer, topic, key, payload, headers)"
        " SELECT $1, $2, k, p, $5::jsonb"
        " FROM unnest($3::bytea[], $4::bytea[]) WITH ORDINALITY AS x(k, p, n) ORDER BY n"
        " RETURNING id"
    )

    def __init__(self, producer: str, *, namespace: str = "") -> None:
        # The `producer` column: the service's name behind its topic prefix, so installations
        # (or tests) sharing a database never relay each other's events.
        self.producer = f"{namespace}{producer}"

    @staticmethod
    def staging_cte(name: str, first_parameter: int, *, when: str = "true") -> str:
        """`<name> AS (INSERT INTO outbox … RETURNING id)`: staging as one CTE of a larger statement.

        Takes `staging_arguments` as the five parameters from `$first_parameter`, and inserts
        only when the SQL condition `when` holds (`EXISTS (SELECT 1 FROM claimed)`), so one
        round trip can change a service's state and stage its events atomically.
        """
        p = first_parameter
        # Only the caller's constant names and parameter numbers go into the text.
        return (
            f"{name} AS (INSERT INTO outbox (producer, topic, key, payload, headers)"  # noqa: S608
            f" SELECT ${p}, t, k, pl, h::jsonb"
            f" FROM unnest(${p + 1}::text[], ${p + 2}::bytea[], ${p + 3}::bytea[], ${p + 4}::text[])"
            f" WITH ORDINALITY AS x(t, k, pl, h, n) WHERE {when} ORDER BY n RETURNING id)"
        )

    def staging_arguments(self, prepared: PreparedEvents) -> tuple[object, ...]:
        """The five parameters of `staging_cte`, in order."""
        return (self.producer, prepared.topics, prepared.keys, prepared.payloads, prepared.header_texts)

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

    @staticmethod
    def prepare_encoded(
        topic: str, event_type: str, correlation_id: str, encoded: Sequence[tuple[bytes, bytes]]
    ) -> PreparedEvents:
        """Events of one type the caller already encoded as `(key, payload)` pairs.

        For bulk staging (a 100,000-row campaign) where building a model per row costs more
        than the rows' insert; the caller's test holds its payloads to the contract.
        """
        headers = {
            **current_trace_headers(),
            CORRELATION_HEADER: correlation_id,
            EVENT_TYPE_HEADER: event_type,
        }
        return PreparedEvents(
            topics=[topic] * len(encoded),
            keys=[key for key, _ in encoded],
            payloads=[payload for _, payload in encoded],
            headers=[headers] * len(encoded),
            uniform=True,
        )

    async def stage_prepared(self, conn: Connection, prepared: PreparedEvents) -> list[StagedEvent]:
        """Insert prepared events, in order, inside the state change's transaction."""
        if not prepared.payloads:
            return []
        if prepared.uniform:
            rows = await conn.fetch(
                self.UNIFORM_INSERT_SQL,
                self.producer,
                prepared.topics[0],
                prepared.keys,
                prepared.payloads,
                orjson.dumps(prepared.headers[0]).decode(),
            )
        else:
            rows = await conn.fetch(self.INSERT_SQL, *self.staging_arguments(prepared))
        return prepared.staged([row["id"] for row in rows])

    async def stage(self, conn: Connection, events: Sequence[Envelope]) -> list[StagedEvent]:
        """Insert `events`, in order, into the outbox, inside the state change's transaction."""
        if not events:
            return []
        return await self.stage_prepared(conn, self.prepare(events))


# Rows of the producer, oldest first, that nobody else holds and whose key has no older row
# still waiting (in this relay's fast path, or locked by another replica's sweep).
# $1 producer, $2 minimum age (s), $3 ids to leave alone (in flight here, or published and
# not deleted yet), $4 batch size, $5 ids already published by this relay.
_SWEEP_SQL = """
WITH picked AS (
    SELECT id FROM outbox
    WHERE producer = $1 AND created_at <= now() - make_interval(secs => $2)
      AND NOT (id = ANY($3::bigint[]))
    ORDER BY id LIMIT $4
    FOR UPDATE SKIP LOCKED
)
SELECT o.id, o.topic, o.key, o.payload, o.headers
FROM outbox o JOIN picked USING (id)
WHERE NOT EXISTS (
    SELECT 1 FROM outbox older
    WHERE older.producer = $1 AND older.key = o.key AND older.id < o.id
      AND NOT (older.id = ANY($5::bigint[]))
      AND older.id NOT IN (SELECT id FROM picked)
)
ORDER BY o.id
"""


# The sweep's first look, one statement outside any transaction: the depth and age metrics, and
# whether any row waits for the sweep at all (almost never: the fast path publishes them).
_SWEEP_PROBE_SQL = """
SELECT count(*) AS depth,
       extract(epoch FROM now() - min(created_at)) AS age,
       count(*) FILTER (
           WHERE created_at <= now() - make_interval(secs => $2) AND NOT (id = ANY($3::bigint[]))
       ) AS waiting
FROM outbox WHERE producer = $1
"""


class OutboxRelay:
    """Publishes one producer's staged events to Kafka, in order per key, and deletes them."""

    def __init__(
        self,
        *,
        pool: Pool,
        settings: KafkaSettings,
        producer: str,
        metrics: MessagingMetrics | None = None,
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
        self.metrics = metrics or MessagingMetrics()
        self.kafka = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=f"mirage-{producer}-outbox",
            acks="all",
            enable_idempotence=True,
            linger_ms=settings.linger_ms,
            request_timeout_ms=settings.request_timeout_ms,
        )
        self._pending: list[StagedEvent] = []
        # Records handed to the producer whose delivery outlived a publish's patience: aiokafka
        # keeps retrying them, so recovery waits for them before it publishes anything else.
        self._outstanding: set[asyncio.Future[object]] = set()
        self._publish_timeout_s = settings.request_timeout_ms / 1000
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[int] = set()
        # Published, waiting for the next bulk delete.
        self._published: list[int] = []
        self._stopping = False
        self._stop_requested = asyncio.Event()
        # True from a failed publish until a sweep found the outbox drained.
        self.recovering = False
        self._notifications = 0
        self.published = 0
        self.last_error: str | None = None
        self._fast = self.metrics.outbox_published.labels(self.producer, "fast")
        self._swept = self.metrics.outbox_published.labels(self.producer, "sweep")

    def notify(self, staged: Iterable[StagedEvent]) -> None:
        """Hand rows committed by the caller to the relay (no I/O, never fails)."""
        self._notifications += 1
        if not self.recovering:
            self._pending.extend(staged)
        self._wake.set()

    async def start(self) -> None:
        """Connect the producer and start the relay loop."""
        await self.kafka.start()
        self._stopping = False
        self._stop_requested.clear()
        # Rows an earlier process left behind (it stopped or crashed before publishing them)
        # go out before anything of this one: the same keys may be staged again right away.
        self.recovering = True
        self._wake.set()
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.producer}")

    async def stop(self) -> None:
        """Publish what the fast path holds (best effort), delete what was published, then stop."""
        self._stopping = True
        self._stop_requested.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=self.settings.graceful_timeout_s)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self._delete_published()
        try:
            # With Kafka down, the producer would wait for ever to flush: the rows are still in
            # the outbox, and the next start (or another replica's sweep) publishes them.
            await asyncio.wait_for(self.kafka.stop(), timeout=self.settings.graceful_timeout_s)
        except TimeoutError:
            log.warning("outbox producer did not flush before stopping", producer=self.producer)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        delete_interval = self.settings.outbox_delete_interval_ms / 1000
        next_sweep = loop.time() + self.sweep_interval_s
        next_delete = loop.time() + delete_interval
        while True:
            deadline = min(next_sweep, next_delete) if self._published else next_sweep
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, deadline - loop.time()))
            self._wake.clear()
            if self._pending:
                batch, self._pending = self._pending, []
                if not self.recovering:
                    await self._publish_fast(batch)
            if self.recovering and not self._stopping:
                await self._recover()
            if self._stopping:
                return
            now = loop.time()
            if self._published and now >= next_delete:
                try:
                    await self._delete_published()
                except Exception as error:  # noqa: BLE001 - the ids stay queued for the next try
                    log.warning("outbox delete failed", producer=self.producer, error=str(error))
                next_delete = now + delete_interval
            if now >= next_sweep:
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
        except Exception as error:  # noqa: BLE001 - the rows are in the outbox; recovery publishes them
            self.last_error = f"{type(error).__name__}: {error}"
            self.recovering = True
            log.warning(
                "outbox publish failed; later events wait until the outbox is drained in order",
                producer=self.producer,
                events=len(batch),
                error=self.last_error,
            )
        else:
            self._published.extend(ids)
            self._fast.inc(len(batch))
        finally:
            self._in_flight.difference_update(ids)

    async def _recover(self) -> None:
        """Publish every waiting row in order until none is left; then the fast path resumes."""
        while self.recovering and not self._stopping:
            if self._outstanding:
                # Kafka still has earlier copies to deliver: they go first, or they would land
                # behind (and be overtaken by) what the sweep publishes now.
                done, _ = await asyncio.wait(self._outstanding, timeout=self.sweep_interval_s)
                for future in done:
                    future.exception()  # retrieved: delivered or given up, the sweep covers both
                self._outstanding.difference_update(done)
                continue
            seen = self._notifications
            try:
                swept = await self.sweep(min_age_s=0.0)
            except Exception as error:  # noqa: BLE001 - Kafka or PostgreSQL still down: try again
                self.last_error = f"{type(error).__name__}: {error}"
                log.info("outbox recovery waiting", producer=self.producer, error=self.last_error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_requested.wait(), timeout=self.sweep_interval_s)
                continue
            if swept == 0 and seen == self._notifications:
                self.recovering = False
                self._pending.clear()
                log.info("outbox drained; publishing directly again", producer=self.producer)
                return
            if swept == 0:
                # Rows were committed meanwhile: give their commit a moment, then look again.
                await asyncio.sleep(min(0.05, self.sweep_interval_s))

    async def _delete_published(self) -> None:
        if not self._published:
            return
        ids, self._published = self._published, []
        try:
            async with self.pool.acquire() as conn:
                await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", ids)
        except BaseException:
            self._published[:0] = ids
            raise

    async def sweep(self, *, min_age_s: float | None = None) -> int:
        """Publish and delete waiting rows (older than `sweep_after_s` by default); returns how many."""
        age = self.sweep_after_s if min_age_s is None else min_age_s
        leave_alone = [*self._in_flight, *self._published]
        async with self.pool.acquire() as conn:
            # One round trip when nothing waits (the common case) instead of a transaction's four.
            probe = await conn.fetchrow(_SWEEP_PROBE_SQL, self.producer, age, leave_alone)
            assert probe is not None  # an aggregate always returns its row
            self.metrics.outbox_depth.labels(self.producer).set(probe["depth"])
            self.metrics.outbox_age.labels(self.producer).set(float(probe["age"] or 0.0))
            if not probe["waiting"]:
                return 0
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                _SWEEP_SQL, self.producer, age, leave_alone, self.batch_size, list(self._published)
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
        self._swept.inc(len(batch))
        log.info("outbox sweep published", producer=self.producer, events=len(batch))
        return len(batch)

    async def _publish(self, batch: Sequence[StagedEvent]) -> None:
        """Publish in order: every record is enqueued in id order, so each key's order holds.

        Raises when a record is refused, or is not acknowledged within the request timeout
        (a broker that is down: aiokafka keeps such records and retries them, so they are
        remembered as outstanding rather than abandoned).
        """
        # `send` returns once the record is queued (it waits only when the producer's buffer is
        # full); its future resolves on the broker's ack. One loop, no task per key: enqueueing
        # costs microseconds, and the acks of every key are awaited together below.
        futures: list[asyncio.Future[object]] = []
        try:
            for item in batch:
                futures.append(  # noqa: PERF401 - on a refusal, what was queued must be known
                    await self.kafka.send(
                        self.settings.topic(item.topic),
                        item.payload,
                        key=item.key,
                        headers=[(name, value.encode()) for name, value in item.headers.items()],
                    )
                )
        except BaseException:
            # What was queued before the refusal may still be delivered: recovery waits for it.
            self._outstanding.update(future for future in futures if not future.done())
            raise
        done, pending = await asyncio.wait(futures, timeout=self._publish_timeout_s)
        if pending:
            self._outstanding.update(pending)
            raise TimeoutError(
                f"Kafka did not acknowledge {len(pending)} records in {self._publish_timeout_s:g}s"
            )
        for future in done:
            future.result()
        self.published += len(batch)
