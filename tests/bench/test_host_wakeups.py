"""The host probe `make bench` prints first, against real PostgreSQL."""

from __future__ import annotations

import math

from bench.host_wakeups import measure

from testkit.infra import Infra


async def test_every_value_is_a_positive_cost(infra: Infra) -> None:
    values = await measure(infra.postgres_admin_dsn, paced_rounds=20, tight_rounds=200)

    assert set(values) == {
        "loop_busy_us",
        "loop_wakeup_us",
        "pg_tight_client_us",
        "pg_paced_client_us",
        "pg_tight_backend_us",
        "pg_paced_backend_us",
    }
    client_side = [values[key] for key in ("loop_busy_us", "loop_wakeup_us", "pg_tight_client_us")]
    assert all(math.isfinite(value) and value > 0 for value in client_side), values
    if infra.mode == "native":
        # The backend runs on this machine: its CPU is read, and a statement costs it something.
        assert values["pg_tight_backend_us"] > 0, values
        assert values["pg_paced_backend_us"] > 0, values
    # Paced, the loop sleeps between rounds: a round costs at least what a busy round does.
    assert values["loop_wakeup_us"] > values["loop_busy_us"], values
