"""`serve`: a service process freezes what start-up built, serves, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

import httpx

from testkit import free_port
from testkit.processes import ServiceProcess

_SERVICE = textwrap.dedent(
    """
    import gc, os
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

        await serve(app, RuntimeSettings(port=int(os.environ["UNIT_PORT"]), graceful_timeout_s=2))

    if __name__ == "__main__":
        run_service("unit", main)
    """
)


async def test_start_ups_objects_are_frozen_out_of_the_collectors_reach_and_sigterm_stops_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "unit_service.py").write_text(_SERVICE)
    port = free_port()
    service = ServiceProcess(
        name="unit",
        module="unit_service",
        env={
            "UNIT_PORT": str(port),
            "OTEL_SDK_DISABLED": "true",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
        },
        log_path=tmp_path / "service.log",
        ready_url=f"http://127.0.0.1:{port}/readyz",
    )
    service.start()
    try:
        await service.wait_ready()
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.get(f"http://127.0.0.1:{port}/gc")
        assert answer.status_code == 200
        counts = answer.json()
        assert counts["frozen_before"] == 0
        # Modules, classes and what start-up opened: a full collection no longer walks them.
        assert counts["frozen"] > 10_000, counts
        # uvicorn shuts down, then re-raises the signal it captured: the exit is SIGTERM's own.
        assert service.terminate() in (0, -signal.SIGTERM), service.log_tail()
        assert "Traceback" not in service.log_tail()
    finally:
        service.kill()
