"""`make run`: migrate, then run every Mirage service plus the simulator, in the foreground.

- With no real Evolution API configured (`MIRAGE_EVOLUTION__BASE_URL` unset), the
  simulator is started on :8002 and every service talks to it.
- With no model key or base URL, the generator uses its offline generator.
- The api seeds the demo tenant, persona and the connected instances `demo-1` and
  `demo-2` on first start (development mode only).

Each service's output is shown with its name in front. Ctrl+C (or SIGTERM) stops
them all gracefully, in reverse order. If one exits on its own, the others are
stopped too and the exit code says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
COLOURS = ["36", "32", "33", "35", "34", "91", "92", "93", "96"]


@dataclass
class Service:
    """One process of the local system."""

    name: str
    module: str
    port: int
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None


def services(use_simulator: bool) -> list[Service]:
    """The processes to run, in start order."""
    ingest_port = int(os.environ.get("MIRAGE_INGEST_RUNTIME__PORT", "8001"))
    scheduler_port = int(os.environ.get("MIRAGE_SCHEDULER_RUNTIME__PORT", "8007"))
    api_env = {
        "MIRAGE_API_INGEST_PUBLIC_URL": os.environ.get(
            "MIRAGE_API_INGEST_PUBLIC_URL", f"http://127.0.0.1:{ingest_port}"
        ),
        # `POST /warmup/pairs/{id}/tick` runs the scheduler's decision through its control route.
        "MIRAGE_API_SCHEDULER__URL": os.environ.get(
            "MIRAGE_API_SCHEDULER__URL", f"http://127.0.0.1:{scheduler_port}"
        ),
    }
    guard_env: dict[str, str] = {}
    if use_simulator and not os.environ.get("MIRAGE_GUARD_TRANSCRIPTION__BASE_URL"):
        # The demo's voice notes are transcribed by the simulator (docs/media.md).
        sim_port = os.environ.get("MIRAGE_SIM_RUNTIME__PORT", "8002")
        guard_env["MIRAGE_GUARD_TRANSCRIPTION__BASE_URL"] = f"http://127.0.0.1:{sim_port}/v1"
    listed = [
        Service("ingest", "ingest.main", ingest_port),
        Service(
            "guard", "guard.main", int(os.environ.get("MIRAGE_GUARD_RUNTIME__PORT", "8003")), env=guard_env
        ),
        Service("generator", "generator.main", int(os.environ.get("MIRAGE_GENERATOR_RUNTIME__PORT", "8004"))),
        Service("sender", "sender.main", int(os.environ.get("MIRAGE_SENDER_RUNTIME__PORT", "8005"))),
        Service("outreach", "outreach.main", int(os.environ.get("MIRAGE_OUTREACH_RUNTIME__PORT", "8006"))),
        Service("scheduler", "scheduler.main", scheduler_port),
        Service("api", "api.main", int(os.environ.get("MIRAGE_API_RUNTIME__PORT", "8000")), env=api_env),
        Service(
            "analytics",
            "analytics.main",
            int(os.environ.get("MIRAGE_ANALYTICS_RUNTIME__PORT", "8008")),
            # The demo's statistics move within a minute; production keeps the 15-minute default.
            env={
                "MIRAGE_ANALYTICS_REFRESH__INTERVAL_S": os.environ.get(
                    "MIRAGE_ANALYTICS_REFRESH__INTERVAL_S", "60"
                )
            },
        ),
    ]
    if use_simulator:
        listed.insert(
            0, Service("simulator", "simulator.main", int(os.environ.get("MIRAGE_SIM_RUNTIME__PORT", "8002")))
        )
    return listed


async def pump(service: Service, colour: str) -> None:
    """Copy a service's output to ours with its name in front."""
    assert service.process is not None
    assert service.process.stdout is not None
    prefix = f"\033[{colour}m{service.name:>9} |\033[0m " if sys.stdout.isatty() else f"{service.name:>9} | "
    async for line in service.process.stdout:
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()


async def wait_ready(service: Service, timeout_s: float = 90.0) -> None:
    """Wait for `/readyz`; fail if the process exits first."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            assert service.process is not None
            if service.process.returncode is not None:
                raise RuntimeError(
                    f"{service.name} exited with code {service.process.returncode} during start-up"
                )
            with contextlib.suppress(httpx.HTTPError):
                response = await client.get(f"http://127.0.0.1:{service.port}/readyz")
                if response.status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise RuntimeError(f"{service.name} did not become ready on :{service.port} within {timeout_s:g}s")


async def migrate() -> None:
    """Apply the database migrations before any service starts."""
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "database.migrate", "upgrade")
    if await process.wait() != 0:
        raise RuntimeError("database migration failed")


async def stop_all(started: list[Service]) -> None:
    """SIGTERM in reverse start order, each given time to finish gracefully."""
    for service in reversed(started):
        process = service.process
        if process is None or process.returncode is not None:
            continue
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=30)
        except TimeoutError:
            process.kill()
            await process.wait()


async def main() -> int:
    """Run the whole system until interrupted."""
    use_simulator = not os.environ.get("MIRAGE_EVOLUTION__BASE_URL")
    env = {
        **os.environ,
        # Human-readable lines in a terminal; JSON stays the default everywhere else.
        "MIRAGE_RUNTIME__LOG_JSON": os.environ.get("MIRAGE_RUNTIME__LOG_JSON", "false"),
        "PYTHONUNBUFFERED": "1",
    }
    await migrate()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    started: list[Service] = []
    pumps: list[asyncio.Task[None]] = []
    exit_code = 0
    try:
        # The simulator and ingest first (the api's demo seeding needs both), then the rest at once.
        listed = services(use_simulator)
        stages = [
            [s for s in listed if s.name in ("simulator", "ingest")],
            [s for s in listed if s.name not in ("simulator", "ingest")],
        ]
        for stage in stages:
            for service in stage:
                service.process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    service.module,
                    env={**env, **service.env},
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                )
                started.append(service)
                pumps.append(asyncio.create_task(pump(service, COLOURS[len(started) % len(COLOURS)])))
            await asyncio.gather(*(wait_ready(service) for service in stage))
        print(  # noqa: T201
            "\nMirage is up: API http://127.0.0.1:8000  ingest http://127.0.0.1:8001"
            + ("  simulator http://127.0.0.1:8002" if use_simulator else "")
            + "\nTry: curl -s -X POST http://127.0.0.1:8002/_sim/instances/demo-1/inbound "
            '-H \'content-type: application/json\' -d \'{"from": "5511999990001", "text": "oi", '
            '"push_name": "Ana"}\'\n     curl -s http://127.0.0.1:8002/_sim/sent\n',
            flush=True,
        )
        exits = [asyncio.create_task(s.process.wait()) for s in started if s.process is not None]
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *exits], return_when=asyncio.FIRST_COMPLETED)
        if stopper not in done:
            dead = [s.name for s in started if s.process is not None and s.process.returncode is not None]
            print(f"\n{', '.join(dead)} stopped unexpectedly; stopping the rest", file=sys.stderr)  # noqa: T201
            exit_code = 1
        stopper.cancel()
    except RuntimeError as error:
        print(f"\nmake run: {error}", file=sys.stderr)  # noqa: T201
        exit_code = 1
    finally:
        await stop_all(started)
        for task in pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=5)
    return exit_code


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
