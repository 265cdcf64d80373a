"""What to do after a failed attempt, and how long to wait before the next one."""

from __future__ import annotations

import random
from collections.abc import Callable
from enum import StrEnum

from evolution_client import EvolutionError


class FailureVerdict(StrEnum):
    """The sender's decision after one attempt failed."""

    # A definite "not sent" that may pass next time: wait, then try again.
    RETRY = "retry"
    # A definite "not sent", retryable, but the attempts are used up.
    EXHAUSTED = "exhausted"
    # A definite "not sent" that repeating cannot change (4xx, `{error: true}`).
    REJECTED = "rejected"
    # The text may have been sent: never repeat, look for its echo instead.
    OUTCOME_UNKNOWN = "outcome_unknown"


def judge_failure(error: EvolutionError, *, attempt: int, max_attempts: int) -> FailureVerdict:
    """The verdict on the `attempt`-th (1-based) failed attempt of at most `max_attempts`."""
    if error.outcome_unknown:
        return FailureVerdict.OUTCOME_UNKNOWN
    if not error.retryable:
        return FailureVerdict.REJECTED
    if attempt >= max_attempts:
        return FailureVerdict.EXHAUSTED
    return FailureVerdict.RETRY


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
    jitter spreads the retries of many sends that failed together (an Evolution
    restart), the floor keeps the backoff meaningful. A server's `Retry-After` is
    honoured, capped at `max_s`.
    """
    ceiling = min(max_s, base_s * 2.0 ** max(0, retry - 1))
    delay = ceiling / 2 + (ceiling / 2) * rng()
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, max_s))
    return delay
