"""A throwaway Apache Kafka broker of a test's own, to kill and bring back.

Tests that take Kafka away (an outage in the middle of a stream) must not take
it from everybody else: this starts one KRaft broker from the jars the native
stack already resolved (`.local/kafka/libs`, `deploy/local/stack.sh`) with the
stack's own server template, on free ports and a data folder of its own.
`kill()` is a SIGKILL (no clean shutdown); `start()` again brings the same
broker back with its data, as after a crash.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

from testkit.infra import REPO_ROOT
from testkit.ports import free_port

TEMPLATE = REPO_ROOT / "deploy" / "local" / "kafka" / "server.properties.template"
LOG4J = REPO_ROOT / "deploy" / "local" / "kafka" / "log4j2.xml"


class ThrowawayKafka:
    """One single-node KRaft broker under `.local/`, on ports of its own."""

    def __init__(self, local_dir: Path | None = None) -> None:
        base = local_dir or REPO_ROOT / ".local"
        self.libs = base / "kafka" / "libs"
        self.dir = base / f"kafka-throwaway-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.controller_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """Where clients connect."""
        return f"127.0.0.1:{self.port}"

    def _java(self, *args: str, heap: str = "256m") -> list[str]:
        return [
            "java",
            f"-Xmx{heap}",
            "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.dir / 'logs'}",
            f"-Dlog4j2.configurationFile={LOG4J}",
            "-cp",
            f"{self.libs}/*",
            *args,
        ]

    def _configure(self) -> Path:
        if not self.libs.is_dir():
            raise RuntimeError(
                f"no Kafka jars in {self.libs}: run `make up` (deploy/local/stack.sh up) first"
            )
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        properties = self.dir / "server.properties"
        text = (
            TEMPLATE.read_text()
            .replace("@KAFKA_PORT@", str(self.port))
            .replace("@CONTROLLER_PORT@", str(self.controller_port))
            .replace("@DATA_DIR@", str(self.dir / "data"))
        )
        properties.write_text(text)
        if not (self.dir / "data" / "meta.properties").exists():
            cluster_id = subprocess.run(
                self._java("kafka.tools.StorageTool", "random-uuid"),
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            subprocess.run(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-t",
                    cluster_id,
                    "-c",
                    str(properties),
                ),
                check=True,
                capture_output=True,
            )
        return properties

    def start(self, timeout_s: float = 120.0) -> None:
        """Start (or restart after `kill`) and wait until the broker says it started."""
        properties = self._configure()
        log = self.dir / "logs" / "server.log"
        if log.exists():
            log.replace(self.dir / "logs" / f"server.log.{time.time_ns()}")
        with (self.dir / "logs" / "stdout.log").open("ab") as out:
            self.process = subprocess.Popen(
                self._java("kafka.Kafka", str(properties)),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the throwaway Kafka exited with {self.process.returncode}")
            if log.exists() and "Kafka Server started" in log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"the throwaway Kafka did not start within {timeout_s:g}s")

    def kill(self) -> None:
        """SIGKILL the broker: the crash a clean shutdown never sees."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def remove(self) -> None:
        """Kill the broker and delete its data."""
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
