"""`serve`: a service process freezes what start-up built, serves, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

from testkit import free_port

_SERVICE = textwrap.dedent(
    """
    import gc, sys
    from service_runtime import MirageSettings, RuntimeSettings, ServiceHost, run_service, serve

    async def main() -> None:
        host = ServiceHost("unit", MirageSettings)
        started = {}

        async def startup() -> None:
            started["frozen_before"] = gc.get_freeze_count()

        app = host.create_app(title="unit", startup=startup)

        @app.get("/gc")
        async def collector() -> dict[str, int]:
            return {"frozen_before": started["frozen_before"], "frozen": gc.get_freeze_count()}

        await serve(app, RuntimeSettings(port=int(sys.argv[1]), graceful_timeout_s=2))

    run_service("unit", main)
    """
)


def test_start_ups_objects_are_frozen_out_of_the_collectors_reach_and_sigterm_stops_it(
    tmp_path: Path,
) -> None:
    port = free_port()
    output = tmp_path / "service.log"
    with output.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _SERVICE, str(port)],
            env={**os.environ, "OTEL_SDK_DISABLED": "true"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, output.read_text()
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/gc", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the service did not answer"
                time.sleep(0.1)
        assert answer.status_code == 200
        counts = answer.json()
        assert counts["frozen_before"] == 0
        # Modules, classes and what start-up opened: a full collection no longer walks them.
        assert counts["frozen"] > 10_000, counts
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down, then re-raises the signal it captured: the exit is SIGTERM's own.
        assert process.wait(timeout=30) in (0, -signal.SIGTERM), output.read_text()
        assert "Traceback" not in output.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
