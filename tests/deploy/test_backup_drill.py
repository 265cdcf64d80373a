"""The point-in-time recovery drill (`make backup-drill`) as a test: about 40 s on a throwaway cluster."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

# The first test of a fresh machine waits for the one-time tool builds (Helm: minutes).
pytestmark = [pytest.mark.deploy, pytest.mark.backup_drill, pytest.mark.timeout(1800)]

DRILL = Path(__file__).resolve().parents[2] / "deploy" / "backup" / "drill.sh"


def test_restore_to_a_point_in_time_brings_back_exactly_the_data_before_it() -> None:
    result = subprocess.run(
        ["nice", "-n", "19", str(DRILL)], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    bench = re.search(
        r"^BENCH backup_drill restored=true rpo_s=([\d.]+) rto_s=([\d.]+) ", result.stdout, re.M
    )
    assert bench, result.stdout
    rpo_s, rto_s = float(bench.group(1)), float(bench.group(2))
    # archive_timeout is 2 s in the drill: the last commit must reach the archive within a few seconds.
    assert rpo_s < 30, rpo_s
    assert rto_s < 300, rto_s
    # What the drill proved, in its own words (the script exits non-zero if any of it fails).
    assert "restored: before-backup=1000 before-t=500; contacts=50" in result.stderr
    assert re.search(r"retention deleted \S+ and kept the archive \S+", result.stderr), result.stderr
