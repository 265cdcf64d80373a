"""A service process that fails its start-up leaves no open log file behind (the chaos run
restarts killed workers until they come up; every failed attempt used to leak one)."""

from __future__ import annotations

import gc
import warnings
from pathlib import Path

import pytest

from testkit.processes import ServiceProcess
from testkit.stack import MirageStack


def _exits_at_once(tmp_path: Path) -> ServiceProcess:
    # `python -m this` prints and exits 0: a "service" that dies before it is ever ready.
    return ServiceProcess(
        name="doomed",
        module="this",
        env={},
        log_path=tmp_path / "doomed.log",
        ready_url="http://127.0.0.1:9/readyz",
    )


async def test_a_start_up_that_fails_closes_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = object.__new__(MirageStack)
    stack.processes = {}
    monkeypatch.setattr(MirageStack, "_process", lambda self, name: _exits_at_once(tmp_path))

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        for _ in range(2):
            with pytest.raises(AssertionError, match="exited during start-up"):
                await stack.start_service("doomed")
            process = stack.processes["doomed"]
            assert not process.running
            assert process._log_file is None
        gc.collect()
    assert "Beautiful is better than ugly" in (tmp_path / "doomed.log").read_text()


def test_starting_again_closes_the_previous_log(tmp_path: Path) -> None:
    process = _exits_at_once(tmp_path)
    process.start()
    first = process._log_file
    assert process.process is not None
    process.process.wait()
    process.start()
    assert first is not None
    assert first.closed
    process.kill()
    assert process._log_file is None
