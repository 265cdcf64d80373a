"""`GET /health` with a Redis of the test's own that is paused, stopped and brought back."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from redis_client import RedisSettings
from testkit import wait_until

from .conftest import Api, ApiFactory, TenantKey
from .redis_server import RedisServer

pytestmark = pytest.mark.integration


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisServer]:
    server = RedisServer()
    await server.start()
    yield server
    server.stop()


async def _api_on(make_api: ApiFactory, server: RedisServer) -> Api:
    return await make_api(redis=RedisSettings(url=SecretStr(server.url), key_prefix="health:"))


async def _healthy(api: Api) -> bool:
    return (await api.client.get("/health")).status_code == 200


async def test_all_dependencies_healthy(shared_api: Api) -> None:
    response = await shared_api.client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "healthy"
    assert set(body["checks"]) == {"postgres", "redis", "kafka", "evolution"}
    assert all(check["status"] == "ok" for check in body["checks"].values())
    assert body["failed"] == []


async def test_a_paused_redis_is_unhealthy_within_two_seconds_and_healthy_again(
    make_api: ApiFactory, own_redis: RedisServer
) -> None:
    api = await _api_on(make_api, own_redis)
    assert await _healthy(api)
    own_redis.pause()
    try:
        started = time.monotonic()
        response = await api.client.get("/health")
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unhealthy"
        assert body["failed"] == ["redis"]
        assert body["checks"]["redis"]["status"] == "failed"
        assert body["checks"]["postgres"]["status"] == "ok"
        assert elapsed < 2.0
    finally:
        own_redis.resume()
    await wait_until(lambda: _healthy(api), timeout=10, message="healthy after SIGCONT")


async def test_a_stopped_redis_is_unhealthy_and_a_restarted_one_healthy(
    make_api: ApiFactory, own_redis: RedisServer, tenant: TenantKey
) -> None:
    api = await _api_on(make_api, own_redis)
    assert await _healthy(api)
    own_redis.stop()
    started = time.monotonic()
    response = await api.client.get("/health")
    assert time.monotonic() - started < 2.0
    assert response.status_code == 503
    assert response.json()["failed"] == ["redis"]

    # Rate limiting fails open meanwhile: requests are served and counted.
    served = [await api.client.get("/personas", headers=tenant.headers) for _ in range(3)]
    assert [r.status_code for r in served] == [200, 200, 200]
    assert all("x-ratelimit-limit" not in r.headers for r in served)
    metrics = (await api.client.get("/metrics")).text
    fail_open = next(
        line for line in metrics.splitlines() if line.startswith("mirage_api_rate_limit_fail_open_total")
    )
    assert float(fail_open.split()[-1]) >= 3

    await own_redis.start()
    await wait_until(lambda: _healthy(api), timeout=10, message="healthy after restart")


async def test_health_needs_no_key_and_probes_exist(shared_api: Api) -> None:
    assert (await shared_api.client.get("/livez")).status_code == 200
    assert (await shared_api.client.get("/readyz")).status_code == 200
    assert (await shared_api.client.get("/health")).status_code == 200
