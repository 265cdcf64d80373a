"""`BoundAtStartup`: a dependency used before start-up bound it fails loudly, by name."""

from __future__ import annotations

import pytest

from service_runtime import BoundAtStartup


class Pool:
    pass


class Worker:
    pool = BoundAtStartup[Pool]()
    relay = BoundAtStartup[str]()

    def bind(self, pool: Pool) -> None:
        self.pool = pool


def test_a_dependency_is_there_once_bound_and_each_object_has_its_own() -> None:
    first, second = Worker(), Worker()
    pool = Pool()
    first.bind(pool)
    assert first.pool is pool
    assert Worker.pool.is_bound(first)
    assert not Worker.pool.is_bound(second)
    with pytest.raises(RuntimeError, match="Worker used its pool before start-up bound it"):
        _ = second.pool


def test_each_dependency_is_bound_on_its_own() -> None:
    worker = Worker()
    worker.bind(Pool())
    with pytest.raises(RuntimeError, match="Worker used its relay before start-up bound it"):
        _ = worker.relay
    worker.relay = "relay"
    assert worker.relay == "relay"
