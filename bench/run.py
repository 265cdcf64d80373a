"""`make bench`: every benchmark, one after the other; each prints its BENCH lines.

Each benchmark measures its own baseline in the same run (see docs/benchmarks.md),
and the lines are also written to bench/results/latest.txt.
"""

from __future__ import annotations

import asyncio
import sys
import time

from bench import (
    analytics_ingest,
    generator_throughput,
    host_wakeups,
    ingest_throughput,
    outreach_quotas,
    pipeline_cpu,
    pipeline_latency,
    pipeline_throughput,
    transcription_path,
)
from bench.harness import BENCH_DIR, kafka_description


async def main() -> int:
    """Run the benchmarks; non-zero when one could not run (a missed goal is still a result)."""
    lines: list[str] = []
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    for name, run in (
        ("host (what a wake-up costs on this machine)", host_wakeups.main),
        ("ingest", ingest_throughput.main),
        ("generator", generator_throughput.main),
        ("voice notes (transcription path)", transcription_path.main),
        ("pipeline", pipeline_latency.main),
        ("pipeline (unsaturated)", pipeline_latency.unsaturated),
        ("pipeline CPU", pipeline_cpu.main),
        ("pipeline throughput", pipeline_throughput.main),
        ("analytics ingest", analytics_ingest.main),
        ("outreach quotas and campaign creation", outreach_quotas.main),
    ):
        print(f"# {name} benchmark", flush=True)
        lines.extend(await run())
    results = BENCH_DIR / "results"
    results.mkdir(exist_ok=True)
    (results / "latest.txt").write_text(f"# {started} on {kafka_description()}\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
