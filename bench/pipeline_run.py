"""The reply pipeline under a steady load, as the pipeline benchmarks drive it.

Every service runs as its own process (`python -m <service>.main`) on the real
Kafka, PostgreSQL and Redis; the webhooks come from the Go load generator
(`bench/loadgen`, open loop: each request on its fixed schedule), so the load
itself costs the shared machine little; the simulator stands in for Evolution API and the
model, answering at once; human-like delays, presence and the debounce window
are off, logs at WARNING and tracing off, so the benchmarks measure the
pipeline's own work. Each message comes from a different person, so its reply
is recognised by the recipient number in the simulator's `/_sim/sent` (read
incrementally with `?offset=`); latency runs from the moment the webhook was
*scheduled* (a late sender cannot hide queueing) to the moment the simulator
accepted the reply's `sendText`.

The simulator delivers Evolution's `send.message` echo and the delivery ack of
every reply back to ingest, so ingest handles three webhooks per message, as it
does in production.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.harness import LOG_DIR, fresh_database, infrastructure, run_loadgen, webhook_template
from bench.pipeline_history import seed_history
from bench.process_cpu import CpuSample, MachineTicks, postmaster_pid, sample
from testkit import wait_until
from testkit.infra import REPO_ROOT
from testkit.stack import Instance, MirageStack

MIRAGE_SERVICES = ("ingest", "guard", "generator", "sender")
LOCAL_DIR = REPO_ROOT / ".local"


def percentile(values: list[float], fraction: float) -> float:
    """The `fraction` quantile of `values` (nearest rank), NaN when empty."""
    ordered = sorted(values)
    return ordered[int(fraction * (len(ordered) - 1))] if ordered else float("nan")


@dataclass
class RunResult:
    """What one steady run at a fixed rate measured."""

    rate: float
    messages: int
    # webhook scheduled → sendText accepted, per message that got its reply (ms)
    latencies_ms: list[float]
    # the webhook's own HTTP round trip (ms), median and 99th percentile
    ack_p50_ms: float
    ack_p99_ms: float
    cpu_ms_per_msg: dict[str, float] = field(default_factory=dict)
    commits_per_msg: float = float("nan")
    replied: int = 0
    # CPU the hypervisor gave to other guests during the run, % of the machine's (/proc/stat)
    steal_pct: float = 0.0

    @property
    def p50_ms(self) -> float:
        """Median latency."""
        return percentile(self.latencies_ms, 0.5)

    @property
    def p99_ms(self) -> float:
        """99th percentile latency."""
        return percentile(self.latencies_ms, 0.99)


@dataclass
class PipelineBench:
    """A running pipeline stack with one connected instance, ready to take load."""

    stack: MirageStack
    instance: Instance
    sim: httpx.AsyncClient
    dsn: str
    template: Path
    _next_base: int = 5511700000000
    _replies: list[dict[str, Any]] = field(default_factory=list)

    def send_at_rate(self, rate: float, duration_s: float) -> tuple[dict[str, float], dict[str, Any]]:
        """Webhooks at `rate` for `duration_s`, each from a new number: when each was scheduled,
        by number (epoch seconds), and the generator's summary."""
        base = self._next_base
        summary = run_loadgen(
            url=f"{self.stack.ingest_url}/webhook/evolution",
            template=self.template,
            mode="open",
            rate=rate,
            duration=f"{duration_s}s",
            warmup="0s",
            concurrency=16,
            auth="jwt",
            secret=self.instance.secret,
            id_prefix=f"P{base % 10**7:07d}",
            phone_base=base,
        )
        first, count = int(summary["first_index"]), int(summary["requests"])
        self._next_base = base + first + count + 1
        start, interval = int(summary["start_unix_ns"]), int(summary["interval_ns"])
        scheduled = {
            str(base + n): (start + (n - first) * interval) / 1e9 for n in range(first, first + count)
        }
        return scheduled, summary

    async def replies(self) -> list[dict[str, Any]]:
        """Every sendText the simulator accepted for this instance (new ones fetched since last time)."""
        response = await self.sim.get(
            "/_sim/sent", params={"instance": self.instance.name, "offset": len(self._replies)}
        )
        response.raise_for_status()
        self._replies.extend(response.json())
        return self._replies

    async def wait_replies(self, count: int, timeout: float) -> list[dict[str, Any]]:
        """Wait until the simulator accepted `count` replies in all."""

        async def enough() -> list[dict[str, Any]] | None:
            rows = await self.replies()
            return rows if len(rows) >= count else None

        rows: list[dict[str, Any]] = await wait_until(
            enough, timeout=timeout, interval=1.0, message=f"{count} replies"
        )
        return rows

    def cpu_pids(self) -> tuple[dict[str, int], dict[str, int]]:
        """Processes to account: the stack's own, Kafka's JVM, PostgreSQL's postmaster tree."""
        pids = {
            name: proc.process.pid
            for name, proc in self.stack.processes.items()
            if proc.process is not None and proc.running
        }
        trees: dict[str, int] = {}
        kafka_pid = LOCAL_DIR / "kafka" / "kafka.pid"
        if kafka_pid.exists():
            pids["kafka"] = int(kafka_pid.read_text().strip())
        recorded = LOCAL_DIR / "postgres.dir"  # deploy/local/stack.sh records where the cluster lives
        pg_data = (
            Path(recorded.read_text().strip()) if recorded.exists() else LOCAL_DIR / "postgres"
        ) / "data"
        if (pg_data / "postmaster.pid").exists():
            trees["postgres"] = postmaster_pid(pg_data)
        return pids, trees

    async def commits(self) -> int:
        """Transactions committed in the benchmark's database so far."""
        conn = await asyncpg.connect(self.dsn)
        try:
            database = await conn.fetchval("SELECT current_database()")
            # Statistics are flushed by backends at most once a second (PostgreSQL 15).
            value: int = await conn.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", database
            )
            return value
        finally:
            await conn.close()

    async def run(self, rate: float, duration_s: float, *, drain_timeout_s: float = 180) -> RunResult:
        """Send `rate` messages/s for `duration_s`, wait for every reply, measure it all."""
        expected = len(await self.replies())
        pids, trees = self.cpu_pids()
        await asyncio.sleep(1.1)  # the statistics collector's flush interval
        commits_before = await self.commits()
        cpu_before: CpuSample = sample(pids, trees)
        machine_before = MachineTicks.now()
        sent_at, summary = await asyncio.to_thread(self.send_at_rate, rate, duration_s)
        count = len(sent_at)
        try:
            rows = await self.wait_replies(expected + count, timeout=drain_timeout_s)
        except AssertionError:
            rows = await self.replies()
        cpu_after = sample(pids, trees)
        machine_after = MachineTicks.now()
        await asyncio.sleep(1.1)
        commits_after = await self.commits()
        latencies = [
            (datetime.fromisoformat(row["at"].replace("Z", "+00:00")).timestamp() - sent_at[row["number"]])
            * 1000
            for row in rows
            if row["number"] in sent_at
        ]
        return RunResult(
            rate=rate,
            messages=count,
            latencies_ms=latencies,
            ack_p50_ms=float(summary["p50_ms"]),
            ack_p99_ms=float(summary["p99_ms"]),
            cpu_ms_per_msg=cpu_before.per_message_ms(cpu_after, count),
            commits_per_msg=(commits_after - commits_before) / count,
            replied=len(latencies),
            steal_pct=machine_before.steal_pct(machine_after),
        )


def _quiet(overrides: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Per-message INFO logs cost CPU the benchmark should not measure."""
    services = ("simulator", *MIRAGE_SERVICES)
    return {name: {"MIRAGE_RUNTIME__LOG_LEVEL": "WARNING", **overrides.get(name, {})} for name in services}


@asynccontextmanager
async def pipeline(name: str, *, warmup: int = 100, warmup_rate: float = 50) -> AsyncIterator[PipelineBench]:
    """The whole reply pipeline as processes, on a database holding an installation's earlier
    conversations (`bench.pipeline_history`), warmed up (connections, caches, assignments)."""
    async with infrastructure() as infra:
        dsn = await fresh_database(infra, name)
        stack = MirageStack(
            infra=infra,
            database_dsn=dsn,
            log_dir=Path(LOG_DIR),
            overrides=_quiet(
                {
                    "guard": {"MIRAGE_GUARD_POLICY__DEBOUNCE_WINDOW_MS": "0"},
                    "generator": {"MIRAGE_GENERATOR_TYPING__HUMAN_DELAYS": "false"},
                    "sender": {"MIRAGE_SENDER_PRESENCE__ENABLED": "false"},
                }
            ),
        )
        try:
            await stack.start()
            instance = await stack.create_instance()
            await seed_history(
                dsn, tenant_id=instance.tenant_id, instance_id=instance.id, instance_name=instance.name
            )
            template = Path(tempfile.mkstemp(suffix=".json")[1])
            template.write_text(webhook_template(instance.name))
            async with httpx.AsyncClient(base_url=stack.simulator_url, timeout=30) as sim:
                bench = PipelineBench(stack, instance, sim, dsn, template)
                if warmup:
                    await bench.run(warmup_rate, warmup / warmup_rate, drain_timeout_s=120)
                yield bench
        finally:
            stack.stop()
