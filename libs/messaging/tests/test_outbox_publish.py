"""How the outbox relay hands records to the producer: in id order, and nothing forgotten on a refusal."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError

from messaging import KafkaSettings, OutboxRelay, StagedEvent


class _Producer:
    """Queues every record and acknowledges none, or refuses the record at `refuse_at`."""

    def __init__(self, refuse_at: int | None = None) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.futures: list[asyncio.Future[object]] = []
        self.refuse_at = refuse_at

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None, headers: Any
    ) -> asyncio.Future[object]:
        if len(self.sent) == self.refuse_at:
            raise KafkaTimeoutError("buffer full")
        self.sent.append((topic, key, value))
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


async def _relay(producer: _Producer) -> OutboxRelay:
    relay = OutboxRelay(pool=None, settings=KafkaSettings(topic_prefix="t."), producer="unit")  # type: ignore[arg-type]
    await relay.kafka.stop()  # never started: closed so that it can be replaced
    relay.kafka = producer
    relay._publish_timeout_s = 0.05
    return relay


def _batch() -> list[StagedEvent]:
    keys = [b"a", b"b", b"a", b"c", b"b", b"a"]
    return [
        StagedEvent(id=n, topic="message.received", key=key, payload=str(n).encode(), headers={"h": "v"})
        for n, key in enumerate(keys, start=1)
    ]


async def test_every_record_is_queued_in_id_order_so_each_key_keeps_its_order() -> None:
    producer = _Producer()
    relay = await _relay(producer)

    async def acknowledge() -> None:
        while len(producer.futures) < 6:
            await asyncio.sleep(0)
        for future in producer.futures:
            future.set_result(None)

    await asyncio.gather(relay._publish(_batch()), acknowledge())
    assert [value for _, _, value in producer.sent] == [b"1", b"2", b"3", b"4", b"5", b"6"]
    assert {topic for topic, _, _ in producer.sent} == {"t.message.received"}
    assert relay.published == 6


async def test_records_queued_before_a_refusal_are_remembered_as_outstanding() -> None:
    producer = _Producer(refuse_at=3)
    relay = await _relay(producer)
    with pytest.raises(KafkaTimeoutError):
        await relay._publish(_batch())
    # Kafka may still deliver the three queued records: recovery must wait for them before it
    # sweeps, or a swept copy of a later row could overtake them.
    assert relay._outstanding == set(producer.futures)
    assert len(relay._outstanding) == 3
    assert relay.published == 0
