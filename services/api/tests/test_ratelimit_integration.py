"""Rate limits against real Redis: exact under concurrency, the full header set, fail open."""

from __future__ import annotations

import asyncio
import time

import pytest

from api.settings import RateLimitPolicy, RateLimitSettings

from .conftest import ApiFactory, Stack, TenantKey

pytestmark = pytest.mark.integration


async def test_exactly_the_limit_is_admitted_under_concurrency(
    make_api: ApiFactory, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    api = await make_api(
        rate_limit=RateLimitSettings(endpoints={"GET /personas": RateLimitPolicy(limit=50, window_s=60)})
    )
    responses = await asyncio.gather(
        *(api.client.get("/personas", headers=tenant.headers) for _ in range(200))
    )
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) == 50
    assert statuses.count(429) == 150
    remaining = sorted(int(r.headers["X-RateLimit-Remaining"]) for r in responses if r.status_code == 200)
    assert remaining == list(range(50))  # every admitted request saw its own true count

    limited = next(r for r in responses if r.status_code == 429)
    assert limited.json()["error"]["code"] == "rate_limited"
    assert limited.headers["X-RateLimit-Limit"] == "50"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    reset = int(limited.headers["X-RateLimit-Reset"])
    assert time.time() < reset <= time.time() + 61
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["RateLimit-Policy"] == '"GET /personas";q=50;w=60'
    assert limited.headers["RateLimit"].startswith('"GET /personas";r=0;t=')

    # Per tenant and per endpoint: others are untouched.
    assert (await api.client.get("/personas", headers=other_tenant.headers)).status_code == 200
    other_endpoint = await api.client.get("/instances", headers=tenant.headers)
    assert other_endpoint.status_code == 200
    assert other_endpoint.headers["RateLimit-Policy"] == '"default";q=600;w=60'
    assert other_endpoint.headers["X-RateLimit-Remaining"] == "599"


async def test_route_templates_not_paths_are_the_endpoint(make_api: ApiFactory, tenant: TenantKey) -> None:
    api = await make_api(
        rate_limit=RateLimitSettings(
            endpoints={"GET /personas/{persona_id}": RateLimitPolicy(limit=2, window_s=30)}
        )
    )
    statuses = [
        (
            await api.client.get(f"/personas/{index:08d}-0000-4000-8000-000000000000", headers=tenant.headers)
        ).status_code
        for index in range(3)
    ]
    assert statuses == [404, 404, 429]


async def test_the_key_is_rate_limit_tenant_endpoint(
    make_api: ApiFactory, stack: Stack, tenant: TenantKey
) -> None:
    api = await make_api()
    await api.client.get("/alerts", headers=tenant.headers)
    redis = api.app.state.context.limiter.redis
    key = f"{stack.redis.key_prefix}rate_limit:{tenant.id}:GET /alerts"
    assert await redis.zcard(key) == 1
    assert 0 < await redis.pttl(key) <= 60_000
