"""Group commit: concurrent events share a transaction; a failed one fails all its handlers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest

from analytics.batching import GroupCommit
from analytics.projection import Change
from analytics.repository import Applied


def _change() -> Change:
    return Change(event_id=uuid.uuid4(), topic="message.sent")


async def test_events_handled_together_are_written_in_one_batch_and_wait_for_it() -> None:
    batches: list[int] = []
    release = asyncio.Event()

    async def write(changes: Sequence[Change]) -> Applied:
        batches.append(len(changes))
        await release.wait()
        return Applied(events=len(changes), counted=len(changes), duplicates=0, rows=0)

    commit = GroupCommit(write, max_batch=100, linger_s=0.01)
    handlers = [asyncio.create_task(commit.submit(_change())) for _ in range(30)]
    await asyncio.sleep(0.05)
    assert batches == [30]
    assert not any(handler.done() for handler in handlers), "a handler returned before its commit"
    # Events arriving while a batch is written form the next one.
    later = [asyncio.create_task(commit.submit(_change())) for _ in range(5)]
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.gather(*handlers, *later)
    assert batches == [30, 5]
    await commit.close()


async def test_batches_are_capped() -> None:
    batches: list[int] = []

    async def write(changes: Sequence[Change]) -> Applied:
        batches.append(len(changes))
        return Applied(events=len(changes), counted=0, duplicates=0, rows=0)

    commit = GroupCommit(write, max_batch=4, linger_s=0.01)
    await asyncio.gather(*(commit.submit(_change()) for _ in range(10)))
    assert batches == [4, 4, 2]
    await commit.close()


async def test_a_failed_transaction_fails_every_handler_of_its_batch_and_the_next_batch_goes_on() -> None:
    calls = 0

    async def write(changes: Sequence[Change]) -> Applied:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionResetError("database went away")
        return Applied(events=len(changes), counted=0, duplicates=0, rows=0)

    commit = GroupCommit(write, max_batch=100, linger_s=0.01)
    results = await asyncio.gather(*(commit.submit(_change()) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(result, ConnectionResetError) for result in results)
    await commit.submit(_change())  # the writer is still alive
    await commit.close()


async def test_close_cancels_what_is_still_waiting() -> None:
    started = asyncio.Event()

    async def write(changes: Sequence[Change]) -> Applied:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    commit = GroupCommit(write, max_batch=1, linger_s=0)
    first = asyncio.create_task(commit.submit(_change()))
    second = asyncio.create_task(commit.submit(_change()))
    await started.wait()
    await commit.close()
    for handler in (first, second):
        with pytest.raises(asyncio.CancelledError):
            await handler
