"""What every benchmark needs: a fresh database, processes, the load generator, BENCH lines."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx

from testkit.databases import create_database, drop_database, prepare_template
from testkit.infra import Infra, native_infra, running_kafka_version
from testkit.namespaces import issued_namespaces, remove_namespaces

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
BUILD_DIR = BENCH_DIR / ".build"
LOG_DIR = ROOT / ".local" / "bench-logs"


def bench_line(name: str, **values: Any) -> str:
    """Print and return one `BENCH <name> key=value …` line (PRODUCT §10)."""
    parts = []
    for key, value in values.items():
        if isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, float):
            text = f"{value:.3f}".rstrip("0").rstrip(".") if value == value else "nan"
        else:
            text = str(value)
        parts.append(f"{key}={text}")
    line = f"BENCH {name} " + " ".join(parts)
    print(line, flush=True)
    return line


_databases: set[str] = set()


@asynccontextmanager
async def infrastructure() -> AsyncIterator[Infra]:
    """The native stack (brought up if needed); the run's topics, keys and databases are removed after."""
    with native_infra() as infra:
        try:
            yield infra
        finally:
            await remove_namespaces(infra.kafka_bootstrap, infra.redis_url, issued_namespaces())
            for name in sorted(_databases):
                await drop_database(infra.postgres_admin_dsn, name)
            _databases.clear()


async def fresh_database(infra: Infra, name: str) -> str:
    """A migrated database for one benchmark run (dropped when `infrastructure()` closes)."""
    template = await prepare_template(infra.postgres_admin_dsn)
    database = f"bench_{name}_{os.getpid()}"
    _databases.add(database)
    return await create_database(infra.postgres_admin_dsn, database, template)


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Measure in-process work with this process's heap frozen out of the collector's reach.

    Every service process freezes what its start-up built (`service_runtime.serve`), so a full
    collection walks only what its work keeps alive. The benchmark process holds every
    benchmark's imports; without the same freeze, work measured in it (a baseline, or a
    service's code called in-process) pays full collections over all of them that the
    service would not.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def process(name: str, argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A process for the duration of a benchmark; its output goes to .local/bench-logs/."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with (LOG_DIR / f"{name}.log").open("wb") as log:
        proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def python_module(module: str) -> list[str]:
    """argv that runs a module with this interpreter."""
    return [sys.executable, "-m", module]


async def wait_http(
    url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60, method: str = "GET"
) -> None:
    """Wait until `url` answers below 500 (the process must stay alive)."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
            try:
                response = await client.request(method, url)
                if response.status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s:g}s")


def go_tool(name: str) -> Path:
    """Build (once) and return one of the Go tools under bench/ (`loadgen`, `modelstub`)."""
    binary = BUILD_DIR / name
    sources = BENCH_DIR / name / "main.go"
    if not binary.exists() or binary.stat().st_mtime < sources.stat().st_mtime:
        BUILD_DIR.mkdir(exist_ok=True)
        subprocess.run(["go", "build", "-o", str(binary), "."], cwd=BENCH_DIR / name, check=True)
    return binary


def run_loadgen(**flags: Any) -> dict[str, Any]:
    """Run the load generator with `-flag value` pairs; its JSON summary."""
    argv = [str(go_tool("loadgen"))]
    for key, value in flags.items():
        argv += [f"-{key.replace('_', '-')}", str(value)]
    result = subprocess.run(argv, check=True, capture_output=True, text=True)
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def webhook_template(instance: str) -> str:
    """A `messages.upsert` envelope; the load generator fills the {{…}} placeholders per request."""
    return json.dumps(
        {
            "event": "messages.upsert",
            "instance": instance,
            "data": {
                "key": {"remoteJid": "{{PHONE}}@s.whatsapp.net", "fromMe": False, "id": "{{ID}}"},
                "pushName": "Cliente {{SEQ}}",
                "status": "DELIVERY_ACK",
                "message": {"conversation": "Olá, gostaria de saber o preço do produto {{SEQ}}, por favor."},
                "messageType": "conversation",
                "messageTimestamp": "{{TS}}",
                "instanceId": "7a1f0d7e-0000-4000-8000-000000000001",
                "source": "android",
            },
            "destination": "http://127.0.0.1/webhook/evolution",
            "date_time": "2026-11-28T12:00:00.000Z",
            "server_url": "http://127.0.0.1:8002",
            "apikey": None,
        },
        ensure_ascii=False,
    )


def run_id() -> str:
    """A short token unique to this benchmark run."""
    return uuid.uuid4().hex[:8]


def kafka_description() -> str:
    """Which broker the run used."""
    return f"Apache Kafka {running_kafka_version() or 'unknown'}"
