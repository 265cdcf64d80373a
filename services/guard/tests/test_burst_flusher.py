"""The flush loop's bookkeeping, with a fake claim store (the Redis side has its own tests)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from guard.burst_flusher import BurstFlusher
from guard.debounce import ClaimedBurst
from testkit import wait_until


class FakeClaims:
    def __init__(self, bursts: list[ClaimedBurst]) -> None:
        self.due = list(bursts)
        self.released: list[tuple[ClaimedBurst, str]] = []
        self.abandoned: list[tuple[ClaimedBurst, str, int]] = []

    async def claim_due(self, owner: str, limit: int) -> list[ClaimedBurst]:
        taken, self.due = self.due[:limit], self.due[limit:]
        return taken

    async def release(self, burst: ClaimedBurst, owner: str) -> None:
        self.released.append((burst, owner))

    async def abandon(self, burst: ClaimedBurst, owner: str, retry_delay_ms: int) -> None:
        self.abandoned.append((burst, owner, retry_delay_ms))


def burst() -> ClaimedBurst:
    return ClaimedBurst(uuid.uuid4(), (uuid.uuid4(), uuid.uuid4()))


async def test_answered_bursts_are_released_and_failed_ones_abandoned_for_a_retry() -> None:
    good, bad = burst(), burst()
    store = FakeClaims([good, bad])
    answered: list[uuid.UUID] = []

    async def answer(conversation_id: uuid.UUID, message_ids: Sequence[uuid.UUID]) -> None:
        if conversation_id == bad.conversation_id:
            raise ConnectionError("database went away")
        answered.append(conversation_id)

    flusher = BurstFlusher(store=store, answer=answer, retry_delay_ms=250, owner="replica-a")
    assert await flusher.flush_once() == 2
    assert answered == [good.conversation_id]
    assert store.released == [(good, "replica-a")]
    assert store.abandoned == [(bad, "replica-a", 250)]
    assert await flusher.flush_once() == 0


async def test_the_loop_polls_until_stopped_and_repairs_at_start() -> None:
    store = FakeClaims([burst() for _ in range(5)])
    repairs: list[int] = []
    answered: list[uuid.UUID] = []

    async def answer(conversation_id: uuid.UUID, message_ids: Sequence[uuid.UUID]) -> None:
        answered.append(conversation_id)

    async def repair() -> int:
        repairs.append(1)
        return 0

    flusher = BurstFlusher(
        store=store, answer=answer, repair=repair, poll_interval_s=0.01, batch_size=2, repair_interval_s=60
    )
    await flusher.start()
    try:
        await wait_until(lambda: len(answered) == 5, timeout=5, message="every burst answered")
        # Bursts that become due later are found by the next polls.
        late = burst()
        store.due.append(late)
        await wait_until(lambda: late.conversation_id in answered, timeout=5, message="the late burst")
    finally:
        await flusher.stop()
    assert repairs == [1]
    assert flusher.flushed == 6


async def test_stop_waits_for_the_burst_in_hand() -> None:
    store = FakeClaims([burst()])
    started = asyncio.Event()
    finished: list[bool] = []

    async def answer(conversation_id: uuid.UUID, message_ids: Sequence[uuid.UUID]) -> None:
        started.set()
        await asyncio.sleep(0.2)
        finished.append(True)

    flusher = BurstFlusher(store=store, answer=answer, poll_interval_s=0.01)
    await flusher.start()
    await asyncio.wait_for(started.wait(), timeout=5)
    await flusher.stop()
    assert finished == [True]
    assert len(store.released) == 1
