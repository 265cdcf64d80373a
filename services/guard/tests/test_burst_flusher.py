"""The flush loop's bookkeeping, with a fake claim store (the Redis side has its own tests)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from guard.burst_flusher import BurstFlusher
from guard.debounce import Claim, ClaimedBurst
from testkit import wait_until


class FakeClaims:
    def __init__(self, bursts: list[ClaimedBurst]) -> None:
        self.due = list(bursts)
        self.released: list[tuple[ClaimedBurst, str]] = []
        self.abandoned: list[tuple[ClaimedBurst, str, int]] = []
        self.claims = 0
        # What the store says of the next due burst after a claim (None: nothing scheduled).
        self.next_due_in_ms: int | None = None

    async def claim(self, owner: str, limit: int) -> Claim:
        self.claims += 1
        taken, self.due = self.due[:limit], self.due[limit:]
        return Claim(bursts=taken, next_due_in_ms=self.next_due_in_ms)

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
        store=store,
        answer=answer,
        repair=repair,
        poll_interval_s=0.01,
        idle_poll_interval_s=0.05,
        batch_size=2,
        repair_interval_s=60,
    )
    await flusher.start()
    try:
        await wait_until(lambda: len(answered) == 5, timeout=5, message="every burst answered")
        # Bursts nobody told this replica of are found by the next idle look.
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


async def test_with_nothing_scheduled_the_loop_looks_once_per_idle_interval() -> None:
    store = FakeClaims([])
    flusher = BurstFlusher(store=store, answer=_ignore, poll_interval_s=0.01, idle_poll_interval_s=0.25)
    await flusher.start()
    await asyncio.sleep(1.0)
    await flusher.stop()
    # A fixed 10 ms tick would have claimed ~100 times.
    assert 3 <= store.claims <= 6


async def test_a_burst_scheduled_here_wakes_the_loop_when_it_is_due() -> None:
    store = FakeClaims([])
    answered: list[float] = []
    loop = asyncio.get_running_loop()

    async def answer(conversation_id: uuid.UUID, message_ids: Sequence[uuid.UUID]) -> None:
        answered.append(loop.time())

    flusher = BurstFlusher(store=store, answer=answer, poll_interval_s=0.01, idle_poll_interval_s=30)
    await flusher.start()
    try:
        await wait_until(lambda: store.claims == 1, timeout=5, message="the first look")
        scheduled = loop.time()
        store.due.append(burst())
        flusher.due_in(150)
        await wait_until(lambda: answered, timeout=5, message="the scheduled burst")
    finally:
        await flusher.stop()
    assert 0.14 <= answered[0] - scheduled < 1.0, "woken when due, not at the 30 s idle look"
    assert store.claims == 2


async def test_the_loop_sleeps_until_the_next_due_burst_the_store_names() -> None:
    store = FakeClaims([])
    store.next_due_in_ms = 200
    answered: list[float] = []
    loop = asyncio.get_running_loop()

    async def answer(conversation_id: uuid.UUID, message_ids: Sequence[uuid.UUID]) -> None:
        answered.append(loop.time())

    flusher = BurstFlusher(store=store, answer=answer, poll_interval_s=0.01, idle_poll_interval_s=30)
    started = loop.time()
    await flusher.start()
    try:
        await wait_until(lambda: store.claims == 1, timeout=5, message="the first look")
        store.due.append(burst())  # due in 200 ms, scheduled by another replica
        store.next_due_in_ms = None
        await wait_until(lambda: answered, timeout=5, message="the burst the store named")
    finally:
        await flusher.stop()
    assert 0.19 <= answered[0] - started < 1.0


async def test_a_due_burst_held_by_another_replica_is_looked_at_again_after_the_poll_interval() -> None:
    store = FakeClaims([])
    store.next_due_in_ms = 0
    flusher = BurstFlusher(store=store, answer=_ignore, poll_interval_s=0.05, idle_poll_interval_s=30)
    await flusher.start()
    await asyncio.sleep(0.5)
    await flusher.stop()
    assert 6 <= store.claims <= 12


async def _ignore(conversation_id: uuid.UUID, message_ids: Sequence[uuid.UUID]) -> None:
    return None


async def test_the_next_due_time_counts_from_the_claim_not_from_the_end_of_the_flush() -> None:
    first, second = burst(), burst()
    store = FakeClaims([first])
    store.next_due_in_ms = 350  # the second burst, due 350 ms after the first claim
    loop = asyncio.get_running_loop()
    answered: dict[uuid.UUID, float] = {}

    async def answer(conversation_id: uuid.UUID, message_ids: Sequence[uuid.UUID]) -> None:
        if conversation_id == first.conversation_id:
            store.due.append(second)
            store.next_due_in_ms = None
            await asyncio.sleep(0.3)  # a slow flush
        answered[conversation_id] = loop.time()

    flusher = BurstFlusher(store=store, answer=answer, poll_interval_s=0.01, idle_poll_interval_s=30)
    started = loop.time()
    await flusher.start()
    try:
        await wait_until(lambda: second.conversation_id in answered, timeout=5, message="the second burst")
    finally:
        await flusher.stop()
    # 0.35 s after the claim; counting from the end of the flush would make it 0.65 s.
    assert 0.34 <= answered[second.conversation_id] - started < 0.55
