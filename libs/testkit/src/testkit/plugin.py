"""Pytest fixtures for the integration and end-to-end tiers (registered as a pytest plugin)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from aiokafka.errors import KafkaError
from pydantic import SecretStr
from redis.exceptions import RedisError

from database import Pool, PostgresSettings, create_pool
from messaging import KafkaSettings
from redis_client import RedisSettings
from testkit.databases import (
    create_database,
    drop_abandoned_worker_databases,
    drop_database,
    prepare_template,
    worker_database_name,
)
from testkit.hang_report import report_before_timeout
from testkit.infra import Infra, real_infra
from testkit.namespaces import issued_namespaces, new_namespace, remove_namespaces

_described: list[str] = []
_cleaned_up: list[str] = []


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    """The real Kafka, PostgreSQL and Redis (native stack or containers)."""
    with real_infra() as found:
        _described.append(found.describe())
        yield found
        # Every fixture that used a namespace has been torn down by now.
        _remove_issued_namespaces(found)


def _remove_issued_namespaces(found: Infra) -> None:
    try:
        topics, keys = asyncio.run(
            remove_namespaces(found.kafka_bootstrap, found.redis_url, issued_namespaces())
        )
    except (KafkaError, RedisError, OSError, RuntimeError) as error:  # reported, never fatal
        _cleaned_up.append(f"clean-up of this run's topics and keys failed: {error!r}")
    else:
        _cleaned_up.append(f"removed this run's {topics} Kafka topics and {keys} Redis keys")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that touches the real infrastructure is marked `integration`."""
    for item in items:
        if "infra" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test about to time out reports where its asyncio tasks wait (`testkit.hang_report`)."""
    with report_before_timeout(item):
        return (yield)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name the broker the integration tier really ran against."""
    for line in _described:
        terminalreporter.write_line(f"mirage integration tier ran against {line}")
    for line in _cleaned_up:
        terminalreporter.write_line(f"mirage: {line}")


@pytest.fixture(scope="session")
async def database_dsn(infra: Infra, worker_id: str = "main") -> AsyncIterator[str]:
    """A migrated database of this test worker's own."""
    await drop_abandoned_worker_databases(infra.postgres_admin_dsn)
    template = await prepare_template(infra.postgres_admin_dsn)
    name = worker_database_name(worker_id)
    yield await create_database(infra.postgres_admin_dsn, name, template)
    await drop_database(infra.postgres_admin_dsn, name)


@pytest.fixture(scope="session")
def postgres_settings(database_dsn: str) -> PostgresSettings:
    """Settings pointing at the worker's database."""
    return PostgresSettings(dsn=SecretStr(database_dsn), pool_min_size=1, pool_max_size=20)


@pytest.fixture(scope="session")
async def db_pool(postgres_settings: PostgresSettings) -> AsyncIterator[Pool]:
    """A pool on the worker's database."""
    pool = await create_pool(postgres_settings, application_name="mirage-tests")
    yield pool
    await pool.close()


@pytest.fixture
def namespace() -> str:
    """A token unique to this test, for topic, group and key prefixes."""
    return new_namespace("t")


@pytest.fixture
def kafka_settings(infra: Infra, namespace: str) -> KafkaSettings:
    """Kafka settings with topics and groups of this test's own."""
    return KafkaSettings(
        bootstrap_servers=infra.kafka_bootstrap,
        topic_prefix=f"{namespace}.",
        group_prefix=f"{namespace}.",
        partitions=3,
        session_timeout_ms=6_000,
        heartbeat_interval_ms=1_000,
        graceful_timeout_s=10.0,
    )


@pytest.fixture
def redis_settings(infra: Infra, namespace: str) -> RedisSettings:
    """Redis settings with a key prefix of this test's own."""
    return RedisSettings(url=SecretStr(infra.redis_url), key_prefix=f"{namespace}:")
