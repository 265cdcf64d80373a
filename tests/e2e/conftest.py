"""The reply pipeline as real processes: simulator, ingest, guard, generator, sender."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from testkit import Infra
from testkit.stack import Instance, MirageStack, SimulatorClient

LOG_DIR = Path(__file__).resolve().parents[2] / ".local" / "e2e-logs"

# A debounce window long enough to catch a scripted burst, short enough for a quick suite.
DEBOUNCE_MS = 1200


# Quick retries and echo waits: what every end-to-end stack runs the sender with.
QUICK_SENDER = {
    "MIRAGE_SENDER_RETRY__BASE_DELAY_S": "0.05",
    "MIRAGE_SENDER_RETRY__MAX_DELAY_S": "0.2",
    "MIRAGE_SENDER_ECHO_WAIT_S": "1",
}


@asynccontextmanager
async def running_stack(
    infra: Infra,
    database_dsn: str,
    *,
    debounce_ms: int,
    extra_services: tuple[str, ...] = (),
    overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> AsyncIterator[MirageStack]:
    """The pipeline (plus `extra_services`) as processes, with a quick sender and the guard's
    debounce at `debounce_ms`; `overrides` add to or replace those settings per service."""
    merged: dict[str, dict[str, str]] = {
        "guard": {"MIRAGE_GUARD_POLICY__DEBOUNCE_WINDOW_MS": str(debounce_ms)},
        "sender": dict(QUICK_SENDER),
    }
    for service, values in (overrides or {}).items():
        merged.setdefault(service, {}).update(values)
    mirage = MirageStack(
        infra=infra,
        database_dsn=database_dsn,
        log_dir=LOG_DIR,
        extra_services=extra_services,
        overrides=merged,
    )
    try:
        await mirage.start()
        yield mirage
    finally:
        mirage.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything in this folder is an end-to-end test."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
async def stack(infra: Infra, database_dsn: str) -> AsyncIterator[MirageStack]:
    """One pipeline for the whole session; tests isolate themselves by instance and contact."""
    async with running_stack(infra, database_dsn, debounce_ms=DEBOUNCE_MS) as mirage:
        yield mirage


@pytest.fixture
async def sim(stack: MirageStack) -> AsyncIterator[SimulatorClient]:
    """The simulator's control API, with no faults left over from an earlier test."""
    client = SimulatorClient(stack.simulator_url)
    await client.faults({"sendText": {"fail_next": 0, "latency_ms": 0}})
    yield client
    await client.faults({"sendText": {"fail_next": 0, "latency_ms": 0}})
    await client.close()


@pytest.fixture
async def instance(stack: MirageStack) -> Instance:
    """A connected instance of a tenant of its own."""
    return await stack.create_instance()


@pytest.fixture
def phone() -> str:
    """A Brazilian mobile number no other test writes from."""
    return f"55119{uuid.uuid4().int % 10**8:08d}"
