"""`deploy/local/stack.sh` (what `make up` runs) on a second, throwaway stack.

A second `up` is harmless and leaves every server alone; a killed Kafka is brought
back by the next `up`; `down` stops everything. Runs on its own ports and data
folder, so the stack the rest of the suite uses is never touched.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from messaging import KafkaSettings, cluster_metadata
from testkit import free_port, wait_until
from testkit.infra import INFRA_MODE_ENV, REPO_ROOT, STACK_SCRIPT

pytestmark = pytest.mark.skipif(
    os.environ.get(INFRA_MODE_ENV, "native") != "native", reason="the native stack script only"
)


class Stack:
    def __init__(self, local_dir: Path) -> None:
        self.local_dir = local_dir
        self.kafka_port = free_port()
        self.env = {
            **os.environ,
            "MIRAGE_LOCAL_DIR": str(local_dir),
            "MIRAGE_KAFKA_PORT": str(self.kafka_port),
            "MIRAGE_KAFKA_CONTROLLER_PORT": str(free_port()),
            "MIRAGE_PG_PORT": str(free_port()),
            "MIRAGE_REDIS_PORT": str(free_port()),
            "MIRAGE_KAFKA_HEAP": "384m",
            "MIRAGE_STACK_WAIT_SECONDS": "180",
        }

    def run(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # blocking: tests call it through `asyncio.to_thread`
            [str(STACK_SCRIPT), action],
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
        )

    async def up(self) -> subprocess.CompletedProcess[str]:
        result = await asyncio.to_thread(self.run, "up")
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    @property
    def postgres_dir(self) -> Path:
        return Path((self.local_dir / "postgres.dir").read_text().strip())

    def pids(self) -> dict[str, int]:
        return {
            "kafka": int((self.local_dir / "kafka" / "kafka.pid").read_text()),
            "postgres": int((self.postgres_dir / "data" / "postmaster.pid").read_text().split()[0]),
            "redis": int((self.local_dir / "redis" / "redis.pid").read_text()),
        }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def second_stack() -> Iterator[Stack]:
    # Under the project folder, not /tmp: PostgreSQL runs as `postgres` and must reach its data.
    local_dir = REPO_ROOT / ".local" / f"stack-test-{uuid.uuid4().hex[:8]}"
    stack = Stack(local_dir)
    try:
        yield stack
    finally:
        stack.run("down")
        shutil.rmtree(local_dir, ignore_errors=True)


async def test_up_twice_is_harmless_a_killed_kafka_comes_back_and_down_stops_all(
    second_stack: Stack,
) -> None:
    first = await second_stack.up()
    assert first.stdout.count(" up ") == 3, first.stdout
    started = second_stack.pids()

    again = await second_stack.up()
    for server in ("Kafka", "PostgreSQL", "Redis"):
        assert f"{server} already running" in again.stderr, again.stderr
    assert second_stack.pids() == started, "a second `up` must leave running servers alone"

    os.kill(started["kafka"], signal.SIGKILL)
    await wait_until(lambda: not _alive(started["kafka"]), timeout=30, message="the killed broker to be gone")

    revived = await second_stack.up()
    assert "starting Apache Kafka" in revived.stderr, revived.stderr
    now = second_stack.pids()
    assert now["kafka"] != started["kafka"]
    assert _alive(now["kafka"])
    assert {k: now[k] for k in ("postgres", "redis")} == {k: started[k] for k in ("postgres", "redis")}
    metadata = await cluster_metadata(KafkaSettings(bootstrap_servers=f"127.0.0.1:{second_stack.kafka_port}"))
    assert metadata["brokers"]

    down = await asyncio.to_thread(second_stack.run, "down")
    assert down.returncode == 0, down.stderr
    status = (await asyncio.to_thread(second_stack.run, "status")).stdout
    assert status.count(" down") == 3, status


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def private_stack() -> Iterator[Stack]:
    """A stack whose checkout data lives in a directory only root can enter (`/root/mirage`, 700)."""
    if os.geteuid() != 0:
        pytest.skip("the private-directory case is about running as root (PostgreSQL runs as postgres)")
    private = Path(tempfile.mkdtemp(prefix="mirage-private-", dir="/root"))
    private.chmod(0o700)
    stack = Stack(private / ".local")
    try:
        yield stack
    finally:
        stack.run("down")
        recorded = stack.local_dir / "postgres.dir"
        if recorded.exists():
            shutil.rmtree(recorded.read_text().strip(), ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)


async def test_a_checkout_in_a_private_directory_comes_up_as_root(private_stack: Stack) -> None:
    """`make run`/`make test` from `/root/mirage` (mode 700): PostgreSQL's cluster moves where
    the postgres user can reach it; everything else stays in the checkout."""
    result = await private_stack.up()
    assert result.stdout.count(" up ") == 3, result.stdout + result.stderr
    assert "postgres cannot reach" in result.stderr
    cluster = private_stack.postgres_dir
    assert not cluster.is_relative_to(private_stack.local_dir.parent), cluster
    assert (cluster / "data" / "PG_VERSION").exists()
    assert _alive(private_stack.pids()["postgres"])
    again = await private_stack.up()
    assert "PostgreSQL already running" in again.stderr, "the recorded location is found again"
    down = await asyncio.to_thread(private_stack.run, "down")
    assert down.returncode == 0, down.stderr
    status = (await asyncio.to_thread(private_stack.run, "status")).stdout
    assert status.count(" down") == 3, status


async def test_a_failed_postgresql_step_stops_before_anything_else_starts(private_stack: Stack) -> None:
    unreachable = private_stack.local_dir.parent / "not-for-postgres"
    unreachable.mkdir()
    private_stack.env["MIRAGE_PG_DIR"] = str(unreachable / "cluster")
    result = await asyncio.to_thread(private_stack.run, "up")
    assert result.returncode != 0
    assert "MIRAGE_PG_DIR" in result.stderr, "the message says what to do"
    assert "starting Apache Kafka" not in result.stderr
    assert not _port_open(private_stack.kafka_port), "nothing else was started"
