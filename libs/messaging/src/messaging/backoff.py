"""Exponential backoff with jitter: the one place Mirage computes how long to wait before a retry."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


def backoff_delay_s(
    retry: int,
    *,
    base_s: float,
    max_s: float,
    retry_after_s: float | None = None,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before the `retry`-th retry (1-based): exponential, with jitter.

    The delay lies in [ceiling/2, ceiling] with ceiling = min(max_s, base_s·2^(retry-1)):
    jitter spreads the retries of many callers that failed together (a dependency
    restarting), the floor keeps the backoff meaningful. A server's `Retry-After` is
    honoured, capped at `max_s`.
    """
    ceiling = min(max_s, base_s * 2.0 ** max(0, retry - 1))
    delay = ceiling / 2 + (ceiling / 2) * rng()
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, max_s))
    return delay


@dataclass(frozen=True)
class RetryPolicy:
    """How a consumer retries a failing event before it dead-letters it.

    An event's own failure is retried `attempts` times in all; an infrastructure
    failure is retried without limit (the lane waits for the dependency), with the
    same backoff capped at `max_delay_s`.
    """

    attempts: int = 3
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0

    def delay(self, retry: int) -> float:
        """Backoff before the `retry`-th retry (1-based)."""
        return backoff_delay_s(retry, base_s=self.base_delay_s, max_s=self.max_delay_s)
