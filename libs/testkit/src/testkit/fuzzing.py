"""How Mirage's fuzz tests run Hypothesis against a real service."""

from __future__ import annotations

import hypothesis
from hypothesis import HealthCheck, Phase


def fuzz_settings(*, max_examples: int, derandomize: bool) -> hypothesis.settings:
    """The explicit examples, then `max_examples` generated ones: no deadline (each example is a
    real request to a real service), no example database (every run starts clean), and no health
    checks (the strategies are large and slow to draw by design)."""
    return hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=derandomize,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
