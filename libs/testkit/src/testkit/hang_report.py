"""Shortly before pytest-timeout fails a test, print where every asyncio task of the running
event loop waits.

pytest-timeout dumps the threads' stacks, and a hung async test's main thread is only ever
in the selector: the coroutine that waits for ever is not on any thread's stack. This report
names it (each task's suspended frames), so a hang that happens once in a full run can be
diagnosed from that run's output.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

# Seconds before the test's timeout at which the tasks are reported.
MARGIN_S = 15.0


def _timeout_of(item: pytest.Item) -> float | None:
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    try:
        value = item.config.getini("timeout")
    except ValueError:
        return None
    return float(value) if value else None


def _running_loops() -> list[asyncio.AbstractEventLoop]:
    return [
        obj for obj in gc.get_objects() if isinstance(obj, asyncio.AbstractEventLoop) and obj.is_running()
    ]


def _await_chain(task: asyncio.Task[object]) -> Iterator[str]:
    """`file:line in function` of each coroutine the task awaits through, outermost first
    (`Task.print_stack` shows only the outermost frame of a suspended task)."""
    awaited: object = task.get_coro()
    for _ in range(64):
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            if awaited is not None:
                yield f"    awaiting {awaited!r}"[:300]
            return
        code = frame.f_code
        yield f"    {code.co_filename}:{frame.f_lineno} in {code.co_name}"
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)


def _report(loop: asyncio.AbstractEventLoop, test: str) -> None:
    """Runs on the loop's own thread (`call_soon_threadsafe`): its tasks are safe to read."""
    tasks = asyncio.all_tasks(loop)
    lines = [f"\n+++ {test} is about to time out; {len(tasks)} asyncio tasks wait:"]
    for task in sorted(tasks, key=lambda task: task.get_name()):
        lines.append(f"--- task {task.get_name()}")
        lines.extend(_await_chain(task))
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


@contextmanager
def report_before_timeout(item: pytest.Item) -> Iterator[None]:
    """Around one test's call: a timer that reports the tasks `MARGIN_S` before its timeout."""
    timeout = _timeout_of(item)
    if timeout is None or timeout <= 2 * MARGIN_S:
        yield
        return

    def fire() -> None:
        for loop in _running_loops():
            loop.call_soon_threadsafe(_report, loop, item.nodeid)

    timer = threading.Timer(timeout - MARGIN_S, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
