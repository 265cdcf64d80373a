"""The benchmarks' reading of CPU steal from `/proc/stat`."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.process_cpu import MachineTicks


def test_steal_is_the_share_of_the_machines_time_between_two_readings() -> None:
    before = MachineTicks(total=1_000, steal=50)
    after = MachineTicks(total=1_400, steal=150)

    assert before.steal_pct(after) == pytest.approx(25.0)


def test_no_time_passed_means_no_steal() -> None:
    reading = MachineTicks(total=1_000, steal=50)

    assert reading.steal_pct(reading) == 0.0


def test_reads_this_machine() -> None:
    if not Path("/proc/stat").exists():
        pytest.skip("no /proc on this system")
    first = MachineTicks.now()
    second = MachineTicks.now()

    assert 0 <= first.steal <= first.total
    assert second.total >= first.total
    assert 0.0 <= first.steal_pct(second) <= 100.0
