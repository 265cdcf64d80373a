"""Sustained throughput: the highest rate the pipeline holds for 60 s with p99 <= 1 s.

Steps up through fixed rates on one warmed-up stack (`bench/pipeline_run.py`):
each step sends for `HOLD_S` seconds and waits for every reply; a step holds when
every message got its reply and the p99 from webhook to `sendText` is within
`P99_LIMIT_MS`. The result is the last rate that held (and its p99). Goal: >= 80 msg/s.
"""

from __future__ import annotations

import asyncio
import os

from bench.harness import bench_line
from bench.pipeline_run import RunResult, pipeline

HOLD_S = float(os.environ.get("BENCH_PIPELINE_HOLD_S", "60"))
P99_LIMIT_MS = 1000.0
GOAL_RPS = 80.0
RATES = tuple(float(r) for r in os.environ.get("BENCH_PIPELINE_RATES", "50,60,70,80,100,120").split(","))


def _held(result: RunResult) -> bool:
    return result.replied == result.messages and result.p99_ms <= P99_LIMIT_MS


async def main() -> list[str]:
    """Step through `RATES` until one does not hold; one BENCH line."""
    best: RunResult | None = None
    tried = []
    steal = []
    async with pipeline("throughput") as bench:
        for rate in RATES:
            result = await bench.run(rate, HOLD_S, drain_timeout_s=120)
            tried.append(f"{rate:g}:{result.p99_ms:.0f}")
            steal.append(result.steal_pct)
            print(
                f"# {rate:g} msg/s: p99 {result.p99_ms:.0f} ms, {result.replied}/{result.messages},"
                f" steal {result.steal_pct:.1f} %",
                flush=True,
            )
            if not _held(result):
                break
            best = result
    sustained = best.rate if best else 0.0
    return [
        bench_line(
            "pipeline_throughput",
            sustained_rps=sustained,
            p99_ms=best.p99_ms if best else float("nan"),
            hold_s=HOLD_S,
            p99_limit_ms=P99_LIMIT_MS,
            steps="/".join(tried),
            # The most CPU the hypervisor took in any step: on a shared virtual machine a step
            # can fail because the box ran on less than its two cores.
            steal_pct_max=round(max(steal, default=0.0), 1),
            goal_rps=GOAL_RPS,
            **{"pass": sustained >= GOAL_RPS},
        )
    ]


if __name__ == "__main__":
    asyncio.run(main())
