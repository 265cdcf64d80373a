"""End-to-end latency: webhook → ingest → guard → generator → sender → sendText.

Two fixed rates through the same stack (`bench/pipeline_run.py`): 200 msg/s, more
than two cores carry, and 20 msg/s, where nothing is saturated.

Same-run baseline: the latency of the webhook's own HTTP round trip to ingest
(one hop, durable write included) measured on the same requests.
Goals: at 200 msg/s p50 <= 30 ms and p99 <= 150 ms; at 20 msg/s p50 <= 30 ms and p99 <= 100 ms.
"""

from __future__ import annotations

import asyncio
import statistics

from bench.harness import bench_line
from bench.pipeline_run import RunResult, pipeline

RATE = 200
DURATION_S = 10
UNSATURATED_RATE = 20
UNSATURATED_DURATION_S = 15


def _line(name: str, result: RunResult, *, goal_p50_ms: float, goal_p99_ms: float) -> str:
    base_p50, base_p99 = result.ack_p50_ms, result.ack_p99_ms
    p50, p99 = result.p50_ms, result.p99_ms
    return bench_line(
        name,
        rate=result.rate,
        messages=result.replied,
        p50_ms=p50,
        p99_ms=p99,
        mean_ms=statistics.fmean(result.latencies_ms) if result.latencies_ms else float("nan"),
        baseline_webhook_p50_ms=base_p50,
        baseline_webhook_p99_ms=base_p99,
        ratio_p50=p50 / base_p50 if base_p50 else float("nan"),
        goal_p50_ms=goal_p50_ms,
        goal_p99_ms=goal_p99_ms,
        **{"pass": p50 <= goal_p50_ms and p99 <= goal_p99_ms and result.replied == result.messages},
    )


async def main() -> list[str]:
    """The saturated run at 200 msg/s."""
    async with pipeline("latency") as bench:
        result = await bench.run(RATE, DURATION_S)
    return [_line("pipeline_latency", result, goal_p50_ms=30, goal_p99_ms=150)]


async def unsaturated() -> list[str]:
    """The run at 20 msg/s."""
    async with pipeline("latency20") as bench:
        result = await bench.run(UNSATURATED_RATE, UNSATURATED_DURATION_S)
    return [_line("pipeline_latency_unsaturated", result, goal_p50_ms=30, goal_p99_ms=100)]


if __name__ == "__main__":
    asyncio.run(unsaturated())
