"""CPU per message of every process on the reply path, read from `/proc` over a steady run.

The pipeline (`bench/pipeline_run.py`) carries `RATE` messages/s for `DURATION_S`
seconds after a warm-up; each process's CPU time over the run is divided by the
messages sent. `mirage_ms_per_msg` is the sum of Mirage's own four processes
(ingest, guard, generator, sender); the simulator (Evolution and the model),
PostgreSQL (every backend) and Kafka (the JVM) are printed beside them, with the
PostgreSQL transactions committed per message.

Goals: Mirage's four processes <= 8 ms per message in total, PostgreSQL <= 4 ms.
"""

from __future__ import annotations

import asyncio
import os

from bench.harness import bench_line
from bench.pipeline_run import MIRAGE_SERVICES, pipeline

RATE = float(os.environ.get("BENCH_PIPELINE_CPU_RATE", "80"))
DURATION_S = float(os.environ.get("BENCH_PIPELINE_CPU_DURATION_S", "60"))
GOAL_MIRAGE_MS = 8.0
GOAL_POSTGRES_MS = 4.0


async def main() -> list[str]:
    """One steady run; one BENCH line."""
    async with pipeline("cpu") as bench:
        result = await bench.run(RATE, DURATION_S)
    cpu = result.cpu_ms_per_msg
    mirage = sum(cpu.get(name, 0.0) for name in MIRAGE_SERVICES)
    postgres = cpu.get("postgres", float("nan"))
    return [
        bench_line(
            "pipeline_cpu",
            rate=RATE,
            messages=result.messages,
            replied=result.replied,
            **{f"{name}_ms_per_msg": cpu.get(name, float("nan")) for name in MIRAGE_SERVICES},
            simulator_ms_per_msg=cpu.get("simulator", float("nan")),
            postgres_ms_per_msg=postgres,
            kafka_ms_per_msg=cpu.get("kafka", float("nan")),
            mirage_ms_per_msg=mirage,
            commits_per_msg=result.commits_per_msg,
            p50_ms=result.p50_ms,
            steal_pct=round(result.steal_pct, 1),
            goal_mirage_ms=GOAL_MIRAGE_MS,
            goal_postgres_ms=GOAL_POSTGRES_MS,
            **{
                "pass": mirage <= GOAL_MIRAGE_MS
                and postgres <= GOAL_POSTGRES_MS
                and result.replied == result.messages
            },
        )
    ]


if __name__ == "__main__":
    asyncio.run(main())
