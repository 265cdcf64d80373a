"""What to do after a failed attempt (the wait before the next one is `messaging.backoff_delay_s`)."""

from __future__ import annotations

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
