"""The chaos run (see `chaos_harness`): nothing lost, nothing sent twice, the backlog drained.

`make test` runs a reduced run (400 messages at 8/s with every fault but the broker's SIGKILL,
about a minute and a half with the chaos stack's start); `make chaos` the full one (10,000 messages,
every fault) through `MIRAGE_CHAOS_MESSAGES`, `MIRAGE_CHAOS_RATE` and `MIRAGE_CHAOS_FULL=1`.
The result ends in `BENCH chaos messages=… lost=… duplicate_sends=… ambiguous=… drain_s=…`,
also written to `.local/chaos/last-report.txt`.
"""

from __future__ import annotations

import os

import pytest

from .chaos_harness import CHAOS_DIR, ChaosRun, describe

FULL = bool(os.environ.get("MIRAGE_CHAOS_FULL"))
MESSAGES = int(os.environ.get("MIRAGE_CHAOS_MESSAGES", "10000" if FULL else "400"))
RATE = float(os.environ.get("MIRAGE_CHAOS_RATE", "25" if FULL else "8"))
REDUCED_FAULTS = (
    "kill_ingest",
    "kill_guard",
    "link_latency",
    "kill_generator",
    "redis_stop",
    "link_resets",
    "kill_sender",
    "postgres_restart",
    "send_500s",
    "send_timeouts",
)
FULL_FAULTS = (*REDUCED_FAULTS, "kafka_sigkill")


@pytest.mark.timeout(3600 if FULL else 600)
async def test_nothing_is_lost_or_sent_twice_and_the_backlog_drains_under_faults() -> None:
    run = ChaosRun(
        messages=MESSAGES,
        rate=RATE,
        faults=FULL_FAULTS if FULL else REDUCED_FAULTS,
    )
    try:
        await run.start()
        report = await run.run()
    finally:
        await run.stop()
    text = describe(run, report)
    CHAOS_DIR.mkdir(parents=True, exist_ok=True)
    (CHAOS_DIR / "last-report.txt").write_text(text + "\n")
    print(text)
    assert report.lost == [], text
    # A duplicate is allowed only as a recorded ambiguous send, and only as often as a kill of
    # the sender could have landed inside its HTTP call.
    assert report.duplicate_sends == report.ambiguous_duplicates, text
    assert report.duplicate_sends <= report.worker_kills.get("sender", 0), text
    assert report.exhausted_without_one_dead_letter == [], text
    assert report.exhausted_without_one_alert == [], text
    assert report.drain_s <= 120, text
    assert report.replied + sum(report.recorded_reasons.values()) == report.messages, text
