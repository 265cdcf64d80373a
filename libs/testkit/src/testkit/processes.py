"""Mirage services run as real processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from testkit.waiting import wait_until


@dataclass
class ServiceProcess:
    """One service started with `python -m <module>` and its own environment."""

    name: str
    module: str
    env: dict[str, str]
    log_path: Path
    ready_url: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log_file: IO[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        """Spawn the process (its output goes to `log_path`)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._close_log()
        self._log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env={**os.environ, **self.env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    @property
    def running(self) -> bool:
        """True while the process has not exited."""
        return self.process is not None and self.process.poll() is None

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until `/readyz` answers 200; fail early when the process dies."""
        if self.ready_url is None:
            return

        async with httpx.AsyncClient(timeout=2.0) as client:

            async def ready() -> bool:
                if not self.running:
                    raise AssertionError(f"{self.name} exited during start-up:\n{self.log_tail()}")
                try:
                    response = await client.get(self.ready_url or "")
                except httpx.HTTPError:
                    return False
                return response.status_code == 200

            try:
                await wait_until(ready, timeout=timeout, interval=0.2, message=f"{self.name} ready")
            except AssertionError as error:
                raise AssertionError(f"{error}\n--- {self.name} log ---\n{self.log_tail()}") from None

    def request_stop(self) -> None:
        """SIGTERM without waiting: the graceful shutdown starts (`terminate` waits for it)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def terminate(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then wait for a graceful exit (SIGKILL after `timeout`)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.request_stop()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_log()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: the crash a graceful shutdown never sees."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, lines: int = 60) -> str:
        """The last lines the process wrote."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
