"""The periodic task every sweep and scan runs on: a failed run never ends the loop."""

from __future__ import annotations

import asyncio

from service_runtime import PeriodicTask


async def test_failures_of_any_kind_are_survived_and_the_next_run_comes() -> None:
    runs: list[int] = []

    async def work() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise ConnectionRefusedError("postgres is down")  # a dependency: a warning
        if len(runs) == 2:
            raise RuntimeError("a bug")  # anything else: logged with its traceback

    task = PeriodicTask("test-loop", work, interval_s=0.01)
    task.start()
    for _ in range(200):
        if len(runs) >= 4:
            break
        await asyncio.sleep(0.01)
    await task.stop()
    assert len(runs) >= 4, "the loop went on after both failures"
    stopped_at = len(runs)
    await asyncio.sleep(0.05)
    assert len(runs) == stopped_at, "nothing runs once stopped"


async def test_a_first_delay_holds_the_first_run_back() -> None:
    runs: list[float] = []

    async def work() -> None:
        runs.append(asyncio.get_running_loop().time())

    task = PeriodicTask("test-delay", work, interval_s=10, first_delay_s=0.2)
    task.start()
    await asyncio.sleep(0.05)
    assert runs == []
    await asyncio.sleep(0.3)
    await task.stop()
    assert len(runs) == 1
