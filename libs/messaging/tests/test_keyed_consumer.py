"""`KeyedConsumer` against fakes (unit tier): lanes, commits, retries, dead letters, stalls, revocation.

Records are handed to `KeyedConsumer.accept` as the FastStream subscriber hands them; a fake
aiokafka consumer answers `position` and records commits. `test_kafka_integration.py` proves
the same behaviour on a real broker.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from contracts import AdminAlert, AlertCause, MessageReceived, Topic, parse_event, partition_key
from messaging import (
    KafkaSettings,
    KeyedConsumer,
    MessagingMetrics,
    PermanentFailure,
    RetryPolicy,
    is_infrastructure_error,
)
from messaging.offsets import PartitionProgress
from testkit import wait_until

from .conftest import message_received

SETTINGS = KafkaSettings(
    bootstrap_servers="unused:9092",
    topic_prefix="unit.",
    group_prefix="unit.",
    commit_interval_ms=10,
    stall_alert_after_s=0.05,
    revoke_timeout_s=2.0,
)
TOPIC = "unit.message.received"
PARTITION = TopicPartition(TOPIC, 0)
FAST = RetryPolicy(attempts=3, base_delay_s=0.001, max_delay_s=0.005)


@dataclass
class FakeBroker:
    """Records what would have been published (dead letters, stall alerts)."""

    published: list[dict[str, Any]] = field(default_factory=list)

    async def publish(
        self, body: bytes, *, topic: str, key: bytes | None, headers: dict[str, str] | None = None
    ) -> None:
        self.published.append({"body": body, "topic": topic, "key": key, "headers": headers or {}})

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [item for item in self.published if item["topic"] == topic]


@dataclass
class FakeKafka:
    """The parts of `AIOKafkaConsumer` the runtime uses: positions, commits, high-water marks."""

    positions: dict[TopicPartition, int] = field(default_factory=dict)
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)

    async def position(self, partition: TopicPartition) -> int:
        return self.positions.get(partition, 1 << 62)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def highwater(self, partition: TopicPartition) -> int | None:
        return None

    def last_commit(self, partition: TopicPartition = PARTITION) -> int | None:
        for commit in reversed(self.commits):
            if partition in commit:
                offset: int = commit[partition]
                return offset
        return None


def record(offset: int, value: bytes, key: bytes | None, partition: int = 0) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=TOPIC,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value),
        headers=[],
    )


def event_record(offset: int, event: MessageReceived, partition: int = 0) -> ConsumerRecord[bytes, bytes]:
    return record(offset, event.to_json_bytes(), partition_key(event), partition)


def keyed_consumer(
    broker: FakeBroker,
    handler: Any,
    *,
    retry: RetryPolicy = FAST,
    settings: KafkaSettings = SETTINGS,
    max_concurrency: int | None = None,
) -> KeyedConsumer[MessageReceived]:
    return KeyedConsumer(
        broker=broker,  # type: ignore[arg-type]
        settings=settings,
        topic=Topic.MESSAGE_RECEIVED,
        consumer="unit",
        handler=handler,
        retry=retry,
        max_concurrency=max_concurrency,
        metrics=MessagingMetrics(),
    )


async def feed(
    consumer: KeyedConsumer[MessageReceived], kafka: FakeKafka, events: list[MessageReceived], start: int = 0
) -> None:
    for offset, event in enumerate(events, start=start):
        assert await consumer.accept(event_record(offset, event), event, kafka=kafka)


def metric(keyed: KeyedConsumer[Any], name: str, **labels: str) -> float | None:
    return keyed.metrics.registry.get_sample_value(name, labels)


async def test_keys_run_side_by_side_and_each_key_in_offset_order() -> None:
    conversations = [uuid.uuid4() for _ in range(4)]
    events = [message_received(c, text=str(seq)) for seq in range(3) for c in conversations]
    seen: dict[uuid.UUID, list[str]] = {c: [] for c in conversations}
    active = peak = 0

    async def handle(event: MessageReceived) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        seen[event.data.conversation_id].append(event.data.text or "")
        active -= 1

    kafka = FakeKafka()
    consumer = keyed_consumer(FakeBroker(), handle)
    await consumer.start()
    await feed(consumer, kafka, events)
    await wait_until(lambda: consumer.in_flight == 0, timeout=5, message="every record finished")
    await wait_until(lambda: kafka.last_commit() == len(events), timeout=5, message="the commit")
    await consumer.close()
    assert all(order == ["0", "1", "2"] for order in seen.values()), seen
    assert peak == 4, "one lane per key, all four keys at once"


@dataclass
class CountingKafka(FakeKafka):
    """Counts the committer's ticks: each one samples the lag (a high-water read per partition)."""

    lag_samples: int = 0

    def highwater(self, partition: TopicPartition) -> int | None:
        self.lag_samples += 1
        return None


async def test_an_idle_committer_sleeps_until_a_record_finishes() -> None:
    async def handle(event: MessageReceived) -> None:
        pass

    kafka = CountingKafka()
    consumer = keyed_consumer(FakeBroker(), handle)
    await consumer.start()
    await feed(consumer, kafka, [message_received(uuid.uuid4())])
    await wait_until(lambda: kafka.last_commit() == 1, timeout=5, message="the commit")
    await asyncio.sleep(0.05)  # the tick after the commit, if any
    commits, samples = len(kafka.commits), kafka.lag_samples
    # Thirty commit intervals (10 ms) with nothing finishing: no tick (the idle lag sample is
    # once a second).
    await asyncio.sleep(0.3)
    assert (len(kafka.commits), kafka.lag_samples) == (commits, samples)
    # A record finishing wakes it again: committed within an interval or so.
    await feed(consumer, kafka, [message_received(uuid.uuid4())], start=1)
    await wait_until(lambda: kafka.last_commit() == 2, timeout=5, message="the second commit")
    await consumer.close()


async def test_the_commit_never_passes_a_record_that_is_still_running() -> None:
    slow, fast = message_received(uuid.uuid4(), "slow"), message_received(uuid.uuid4(), "fast")
    release = asyncio.Event()

    async def handle(event: MessageReceived) -> None:
        if event is slow:
            await release.wait()

    kafka = FakeKafka()
    consumer = keyed_consumer(FakeBroker(), handle)
    await consumer.start()
    await feed(consumer, kafka, [slow, fast])
    await wait_until(lambda: consumer.in_flight == 1, timeout=5, message="the fast record finished")
    await asyncio.sleep(0.05)  # several commit intervals
    assert kafka.last_commit() is None, "offset 1 is done but offset 0 is not: nothing may be committed"
    release.set()
    await wait_until(lambda: kafka.last_commit() == 2, timeout=5, message="both committed")
    await consumer.close()


async def test_a_malformed_record_is_dead_lettered_in_its_lane_and_the_good_ones_are_kept() -> None:
    broker = FakeBroker()
    handled: list[uuid.UUID] = []

    async def handle(event: MessageReceived) -> None:
        handled.append(event.event_id)

    kafka = FakeKafka()
    consumer = keyed_consumer(broker, handle)
    await consumer.start()
    before, after = message_received(uuid.uuid4()), message_received(uuid.uuid4())
    await feed(consumer, kafka, [before])
    assert await consumer.accept(record(1, b"{not json", b"k"), None, kafka=kafka, unparseable="bad")
    await feed(consumer, kafka, [after], start=2)
    await wait_until(lambda: kafka.last_commit() == 3, timeout=5, message="all three committed")
    await consumer.close()
    assert handled == [before.event_id, after.event_id]
    [dead] = broker.on("unit.message.received.dlq.unit")
    assert dead["body"] == b"{not json"
    assert dead["key"] == b"k"
    assert dead["headers"]["x-dead-letter-reason"] == "unparseable"
    assert dead["headers"]["x-dead-letter-offset"] == "1"


async def test_a_permanent_failure_is_dead_lettered_at_once() -> None:
    broker = FakeBroker()
    calls = 0

    async def handle(event: MessageReceived) -> None:
        nonlocal calls
        calls += 1
        raise PermanentFailure("unknown tenant")

    kafka = FakeKafka()
    consumer = keyed_consumer(broker, handle)
    await consumer.start()
    await feed(consumer, kafka, [message_received(uuid.uuid4())])
    await wait_until(lambda: kafka.last_commit() == 1, timeout=5, message="the commit")
    await consumer.close()
    assert calls == 1
    [dead] = broker.on("unit.message.received.dlq.unit")
    assert dead["headers"]["x-dead-letter-reason"] == "rejected"
    assert (
        metric(
            consumer,
            "mirage_consumer_records_total",
            consumer="unit",
            topic="message.received",
            outcome="dead_lettered",
        )
        == 1
    )


async def test_a_handler_that_keeps_failing_gets_its_attempts_then_a_dead_letter() -> None:
    broker = FakeBroker()
    calls = 0

    async def handle(event: MessageReceived) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("cannot handle this one")

    kafka = FakeKafka()
    consumer = keyed_consumer(broker, handle)
    await consumer.start()
    await feed(consumer, kafka, [message_received(uuid.uuid4())])
    await wait_until(lambda: kafka.last_commit() == 1, timeout=5, message="the commit")
    await consumer.close()
    assert calls == 3
    [dead] = broker.on("unit.message.received.dlq.unit")
    assert dead["headers"]["x-dead-letter-reason"] == "handler_failed"
    assert "cannot handle this one" in dead["headers"]["x-dead-letter-error"]


@pytest.mark.parametrize(
    ("error", "infrastructure"),
    [
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (OSError("socket"), True),
        (ValueError("bad event"), False),
        (KeyError("missing"), False),
        (PermanentFailure("no"), False),
    ],
)
def test_infrastructure_errors_are_told_apart_by_type(error: BaseException, infrastructure: bool) -> None:
    assert is_infrastructure_error(error) is infrastructure


def test_driver_errors_are_infrastructure_by_their_families() -> None:
    import asyncpg  # noqa: PLC0415
    from aiokafka.errors import KafkaConnectionError, NotEnoughReplicasError, UnknownTopicOrPartitionError  # noqa: PLC0415
    from redis import exceptions as redis_errors  # noqa: PLC0415

    assert is_infrastructure_error(asyncpg.ConnectionDoesNotExistError("gone"))
    assert is_infrastructure_error(asyncpg.CannotConnectNowError("starting"))
    assert is_infrastructure_error(asyncpg.TooManyConnectionsError("full"))
    assert is_infrastructure_error(asyncpg.SerializationError("retry"))
    assert is_infrastructure_error(redis_errors.ConnectionError("down"))
    assert is_infrastructure_error(redis_errors.BusyLoadingError("loading"))
    assert is_infrastructure_error(KafkaConnectionError())
    assert is_infrastructure_error(NotEnoughReplicasError())
    assert not is_infrastructure_error(asyncpg.UniqueViolationError("dup"))
    assert not is_infrastructure_error(asyncpg.DataError("bad"))
    assert not is_infrastructure_error(redis_errors.ResponseError("WRONGTYPE"))
    assert (
        not is_infrastructure_error(UnknownTopicOrPartitionError()) or UnknownTopicOrPartitionError.retriable
    )


async def test_an_infrastructure_failure_waits_in_its_lane_raises_one_stall_alert_and_resolves_it() -> None:
    broker = FakeBroker()
    stuck = message_received(uuid.uuid4(), "stuck")
    other = message_received(uuid.uuid4(), "other")
    healthy = asyncio.Event()
    handled: list[str] = []

    async def handle(event: MessageReceived) -> None:
        if event is stuck and not healthy.is_set():
            raise ConnectionRefusedError("PostgreSQL is down")
        handled.append(event.data.text or "")

    kafka = FakeKafka()
    retry = RetryPolicy(attempts=1, base_delay_s=0.005, max_delay_s=0.01)
    consumer = keyed_consumer(broker, handle, retry=retry)
    await consumer.start()
    await feed(consumer, kafka, [stuck])
    await consumer.accept(event_record(0, other, partition=1), other, kafka=kafka)
    await wait_until(lambda: "other" in handled, timeout=5, message="the other partition moving")
    alerts_topic = "unit.admin.alert"
    await wait_until(lambda: broker.on(alerts_topic), timeout=5, message="the stall alert")
    await asyncio.sleep(0.1)  # many more failed attempts: still one alert
    [raised] = broker.on(alerts_topic)
    alert = parse_event(raised["body"])
    assert isinstance(alert, AdminAlert)
    assert alert.data.cause is AlertCause.CONSUMER_STALLED
    assert alert.tenant_id == stuck.tenant_id
    assert not alert.data.resolved
    labels = {"consumer": "unit", "topic": "message.received", "partition": "0"}
    assert metric(consumer, "mirage_consumer_stalled", **labels) == 1
    assert broker.on("unit.message.received.dlq.unit") == [], "never dead-lettered"
    assert kafka.last_commit(PARTITION) is None, "the stuck record holds its partition's commit"
    assert kafka.last_commit(TopicPartition(TOPIC, 1)) == 1, "the other partition commits"

    healthy.set()
    await wait_until(lambda: "stuck" in handled, timeout=5, message="the stuck record after recovery")
    await wait_until(lambda: len(broker.on(alerts_topic)) == 2, timeout=5, message="the resolution")
    resolution = parse_event(broker.on(alerts_topic)[1]["body"])
    assert isinstance(resolution, AdminAlert)
    assert resolution.data.resolved
    assert resolution.data.alert_key == alert.data.alert_key
    assert metric(consumer, "mirage_consumer_stalled", **labels) == 0
    await wait_until(lambda: kafka.last_commit(PARTITION) == 1, timeout=5, message="the commit")
    await consumer.close()


async def test_a_failing_lane_never_cancels_a_sibling_in_the_middle_of_its_external_call() -> None:
    """Lane isolation: the sibling's call runs to its end, whatever happens next door."""
    in_call = asyncio.Event()
    finish_call = asyncio.Event()
    outcomes: list[str] = []
    failing, calling = message_received(uuid.uuid4(), "failing"), message_received(uuid.uuid4(), "calling")
    failures = 0

    async def handle(event: MessageReceived) -> None:
        nonlocal failures
        if event is calling:
            in_call.set()
            try:
                await finish_call.wait()  # the "sendText" in flight
            except asyncio.CancelledError:
                outcomes.append("cancelled")
                raise
            outcomes.append("completed")
            return
        failures += 1
        if failures < 20:
            raise ConnectionResetError("Redis connection reset")
        outcomes.append("failing recovered")

    kafka = FakeKafka()
    consumer = keyed_consumer(
        FakeBroker(), handle, retry=RetryPolicy(attempts=3, base_delay_s=0.001, max_delay_s=0.002)
    )
    await consumer.start()
    await feed(consumer, kafka, [calling])
    await in_call.wait()
    await feed(consumer, kafka, [failing], start=1)
    await wait_until(
        lambda: "failing recovered" in outcomes, timeout=5, message="the failing lane to recover"
    )
    finish_call.set()
    await wait_until(lambda: consumer.in_flight == 0, timeout=5, message="both finished")
    await consumer.close()
    assert "cancelled" not in outcomes
    assert outcomes.count("completed") == 1


async def test_admission_waits_for_room_beyond_max_in_flight() -> None:
    release = asyncio.Event()

    async def handle(event: MessageReceived) -> None:
        await release.wait()

    kafka = FakeKafka()
    consumer = keyed_consumer(FakeBroker(), handle, settings=SETTINGS.model_copy(update={"max_in_flight": 2}))
    await consumer.start()
    await feed(consumer, kafka, [message_received(uuid.uuid4()) for _ in range(2)])
    third = message_received(uuid.uuid4())
    admission = asyncio.create_task(consumer.accept(event_record(2, third), third, kafka=kafka))
    await asyncio.sleep(0.05)
    assert not admission.done(), "the third record waits while two are in flight"
    release.set()
    assert await asyncio.wait_for(admission, timeout=5)
    await wait_until(lambda: consumer.in_flight == 0, timeout=5, message="all finished")
    await consumer.close()


async def test_a_record_fetched_before_a_rebalance_is_not_admitted() -> None:
    kafka = FakeKafka(positions={PARTITION: 5})
    consumer = keyed_consumer(FakeBroker(), lambda event: asyncio.sleep(0))
    event = message_received(uuid.uuid4())
    # aiokafka's position (5) has not passed offset 7: it was fetched under an older assignment.
    assert not await consumer.accept(event_record(7, event), event, kafka=kafka)
    assert await consumer.accept(event_record(4, event), event, kafka=kafka)
    await wait_until(lambda: consumer.in_flight == 0, timeout=5, message="the admitted record")


async def test_a_revocation_gives_back_waiting_records_finishes_the_running_one_and_commits_it() -> None:
    conversation = uuid.uuid4()
    events = [message_received(conversation, text=str(i)) for i in range(5)]
    started = asyncio.Event()
    release = asyncio.Event()
    handled: list[str] = []

    async def handle(event: MessageReceived) -> None:
        if event.data.text == "1":
            started.set()
            await release.wait()
        handled.append(event.data.text or "")

    kafka = FakeKafka()
    consumer = keyed_consumer(FakeBroker(), handle)
    await consumer.start()
    await feed(consumer, kafka, events)
    await started.wait()
    revocation = asyncio.create_task(consumer.partitions_revoked({PARTITION}))
    await asyncio.sleep(0.05)
    assert not revocation.done(), "the running record is allowed to finish first"
    release.set()
    await asyncio.wait_for(revocation, timeout=5)
    assert handled == ["0", "1"], "records 2-4 were given back, not run"
    assert kafka.last_commit() == 2, "committed up to the last finished record before the handover"
    assert consumer.in_flight == 0
    # Until the next assignment nothing is admitted; afterwards the partition starts afresh.
    waiting = asyncio.create_task(consumer.accept(event_record(2, events[2]), events[2], kafka=kafka))
    await asyncio.sleep(0.02)
    assert not waiting.done()
    consumer.partitions_assigned({PARTITION})
    assert await asyncio.wait_for(waiting, timeout=5)
    await wait_until(lambda: handled[-1:] == ["2"], timeout=5, message="the redelivered record")
    await consumer.close()


async def test_a_lane_that_overruns_the_revocation_timeout_is_stopped_and_not_committed() -> None:
    never = asyncio.Event()

    async def handle(event: MessageReceived) -> None:
        await never.wait()

    kafka = FakeKafka()
    consumer = keyed_consumer(
        FakeBroker(), handle, settings=SETTINGS.model_copy(update={"revoke_timeout_s": 0.05})
    )
    await consumer.start()
    await feed(consumer, kafka, [message_received(uuid.uuid4())])
    await asyncio.sleep(0.02)
    await asyncio.wait_for(consumer.partitions_revoked({PARTITION}), timeout=5)
    assert kafka.last_commit() is None
    assert consumer.in_flight == 0
    await consumer.close()


async def test_close_finishes_running_records_gives_back_the_rest_and_commits() -> None:
    conversation = uuid.uuid4()
    started = asyncio.Event()
    release = asyncio.Event()
    handled: list[str] = []

    async def handle(event: MessageReceived) -> None:
        if event.data.text == "0":
            started.set()
            await release.wait()
        handled.append(event.data.text or "")

    kafka = FakeKafka()
    consumer = keyed_consumer(FakeBroker(), handle)
    await consumer.start()
    await feed(consumer, kafka, [message_received(conversation, text=str(i)) for i in range(3)])
    await started.wait()
    closing = asyncio.create_task(consumer.close())
    await asyncio.sleep(0.02)
    release.set()
    await asyncio.wait_for(closing, timeout=5)
    assert handled == ["0"]
    assert kafka.last_commit() == 1
    late = message_received(uuid.uuid4())
    assert not await consumer.accept(event_record(3, late), late, kafka=kafka)


class CoordinatorGone(FakeKafka):
    """aiokafka's commit with no group coordinator to be found: it waits for one for ever."""

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await asyncio.Event().wait()


async def test_close_does_not_wait_for_ever_on_a_commit_the_coordinator_never_answers() -> None:
    handled: list[str] = []

    async def handle(event: MessageReceived) -> None:
        handled.append(event.data.text or "")

    kafka = CoordinatorGone()
    consumer = keyed_consumer(
        FakeBroker(), handle, settings=SETTINGS.model_copy(update={"graceful_timeout_s": 0.2})
    )
    await consumer.start()
    await feed(consumer, kafka, [message_received(uuid.uuid4(), text="done")])
    await wait_until(lambda: handled == ["done"], timeout=5, message="the record handled")
    # Not committed: the next owner of the partition redoes the record (handlers are idempotent).
    await asyncio.wait_for(consumer.close(), timeout=5)


async def test_events_of_other_types_on_the_topic_are_skipped_and_committed() -> None:
    from contracts import ConsentChangeData, ContactOptedIn, ContactOptedOut  # noqa: PLC0415

    seen: list[str] = []

    async def handle(event: ContactOptedOut) -> None:
        seen.append(event.type)

    kafka = FakeKafka()
    consumer: KeyedConsumer[ContactOptedOut] = KeyedConsumer(
        broker=FakeBroker(),  # type: ignore[arg-type]
        settings=SETTINGS,
        topic=Topic.CONTACT_OPTED_OUT,
        consumer="unit",
        handler=handle,
        accepts=(ContactOptedOut,),
        metrics=MessagingMetrics(),
    )
    await consumer.start()
    data = ConsentChangeData(
        contact_id=uuid.uuid4(), jid="5511@s.whatsapp.net", keyword="PARE", source="test"
    )
    out = ContactOptedOut(tenant_id=uuid.uuid4(), correlation_id=uuid.uuid4(), data=data)
    back = ContactOptedIn(tenant_id=uuid.uuid4(), correlation_id=uuid.uuid4(), data=data)
    partition = TopicPartition("unit.contact.opted_out", 0)
    for offset, event in enumerate([back, out]):
        raw = ConsumerRecord(
            topic="unit.contact.opted_out",
            partition=0,
            offset=offset,
            timestamp=0,
            timestamp_type=0,
            key=b"c",
            value=event.to_json_bytes(),
            checksum=None,
            serialized_key_size=1,
            serialized_value_size=0,
            headers=[],
        )
        assert await consumer.accept(raw, event, kafka=kafka)
    await wait_until(lambda: kafka.last_commit(partition) == 2, timeout=5, message="both committed")
    await consumer.close()
    assert seen == ["contact.opted_out"]


def test_partition_progress_commits_only_a_finished_run() -> None:
    progress = PartitionProgress()
    for offset in (10, 11, 12, 13):
        progress.handed_out(offset)
    steps: list[int | None] = []
    progress.finished(12)
    steps.append(progress.uncommitted)
    progress.finished(10)
    steps.append(progress.uncommitted)
    progress.finished(11)
    steps.append(progress.uncommitted)
    progress.committed = 13
    steps.append(progress.uncommitted)
    assert progress.pending == 1
    progress.finished(13)
    steps.append(progress.uncommitted)
    assert steps == [None, 11, 13, None, 14]
