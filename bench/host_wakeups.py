"""What this machine charges a process for waking up: the context for every CPU number after it.

Not a goal: a description of the host, printed first by `make bench`. On the 2-vCPU
virtual machines the benchmarks run on, a process that went idle pays far more CPU to
run again than the work it wakes up for (caches and TLB cold, the hypervisor's halt and
resume), and that, more than any code, sets the pipeline's CPU per message and its
swings from run to run (docs/benchmarks.md, "What a wake-up costs on this machine").

- `loop_wakeup_us`: CPU of one `asyncio.sleep(PACE_S)` on uvloop, the services' loop,
  against `loop_busy_us` for `asyncio.sleep(0)` (no sleep at all).
- `pg_*_us`: one trivial statement through asyncpg (`SELECT $1::int + 1`), back to back
  (`tight`) and one every `PACE_S` (`paced`, the loop's own wake-up subtracted), in the
  client and in its PostgreSQL backend (from `/proc/<pid>/schedstat`; `nan` when the
  backend runs elsewhere, as in Docker).
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import uvloop

from bench.harness import bench_line, infrastructure
from bench.process_cpu import scheduled_cpu_s

PACE_S = 0.0125  # one message every 12.5 ms: the pipeline benchmarks' 80 msg/s
PACED_ROUNDS = 240  # 3 s
TIGHT_ROUNDS = 3_000
STATEMENT = "SELECT $1::int + 1"


def _backend_cpu_us(pid: int) -> float:
    """CPU time a local process has run, in microseconds (nan when it is not on this machine)."""
    try:
        return scheduled_cpu_s(pid) * 1e6
    except (OSError, ValueError, IndexError):
        return float("nan")


async def _loop_cost_us(pace_s: float, rounds: int) -> float:
    started = time.process_time()
    for _ in range(rounds):
        await asyncio.sleep(pace_s)
    return (time.process_time() - started) * 1e6 / rounds


async def _statements_us(
    conn: asyncpg.Connection, pid: int, pace_s: float, rounds: int
) -> tuple[float, float]:
    """(client CPU, backend CPU) per statement, each in microseconds; the pacing sleeps included."""
    client, backend = time.process_time(), _backend_cpu_us(pid)
    for number in range(rounds):
        await conn.fetchval(STATEMENT, number)
        if pace_s:
            await asyncio.sleep(pace_s)
    return (
        (time.process_time() - client) * 1e6 / rounds,
        (_backend_cpu_us(pid) - backend) / rounds,
    )


async def measure(
    dsn: str, *, paced_rounds: int = PACED_ROUNDS, tight_rounds: int = TIGHT_ROUNDS
) -> dict[str, float]:
    """Every value of the line but the ratio, in microseconds of CPU."""
    loop_busy = await _loop_cost_us(0, tight_rounds)
    loop_wakeup = await _loop_cost_us(PACE_S, paced_rounds)
    conn = await asyncpg.connect(dsn)
    try:
        pid = int(await conn.fetchval("SELECT pg_backend_pid()"))
        await _statements_us(conn, pid, 0, 200)  # prepared, warm
        tight_client, tight_backend = await _statements_us(conn, pid, 0, tight_rounds)
        paced_client, paced_backend = await _statements_us(conn, pid, PACE_S, paced_rounds)
    finally:
        await conn.close()
    return {
        "loop_busy_us": loop_busy,
        "loop_wakeup_us": loop_wakeup,
        "pg_tight_client_us": tight_client,
        "pg_paced_client_us": paced_client - loop_wakeup,
        "pg_tight_backend_us": tight_backend,
        "pg_paced_backend_us": paced_backend,
    }


async def main() -> list[str]:
    """One BENCH line describing the host."""
    async with infrastructure() as infra:
        # Measured on the services' own loop (uvloop), in a thread of its own.
        values = await asyncio.to_thread(_run_on_uvloop, infra.postgres_admin_dsn)
    return [
        bench_line(
            "host_wakeups",
            pace_ms=PACE_S * 1000,
            **values,
            paced_to_tight_backend=values["pg_paced_backend_us"] / values["pg_tight_backend_us"],
        )
    ]


def _run_on_uvloop(dsn: str) -> dict[str, float]:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(measure(dsn))


if __name__ == "__main__":
    asyncio.run(main())
