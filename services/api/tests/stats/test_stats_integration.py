"""`/stats`: tenant-scoped reads of the analytics views, in the tenant's time zone, cached until a refresh."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from database import Pool
from redis_client import create_redis

from ..conftest import Api, Stack, TenantKey, new_tenant

VIEWS = (
    "response_times",
    "tenant_hourly_stats",
    "number_daily_stats",
    "pair_daily_stats",
    "campaign_stats",
    "persona_stats",
)


async def _refresh(pool: Pool) -> None:
    """What the analytics service does every 15 minutes."""
    for view in VIEWS:
        await pool.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.{view}")
    await pool.execute(
        "INSERT INTO analytics.refreshes (id, refreshed_at, duration_ms) VALUES (true, now(), 1)"
        " ON CONFLICT (id) DO UPDATE SET refreshed_at = now()"
    )


async def _bump_generation(stack: Stack) -> None:
    redis = await create_redis(stack.redis)
    try:
        await redis.incr(f"{stack.redis.key_prefix}stats:generation")
    finally:
        await redis.aclose()


async def _counts(
    pool: Pool, tenant: TenantKey, hour: datetime, sent: int, received: int, failed: int
) -> None:
    """Counters as the analytics service keeps them."""
    await pool.execute(
        "INSERT INTO analytics.tenant_hourly (tenant_id, hour, sent, received, failed)"
        " VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (tenant_id, hour) DO UPDATE SET sent = excluded.sent, received = excluded.received,"
        " failed = excluded.failed",
        tenant.id,
        hour,
        sent,
        received,
        failed,
    )


async def test_overview_is_the_tenants_own_in_its_time_zone_and_cached_until_a_refresh(
    shared_api: Api, stack: Stack, db_pool: Pool
) -> None:
    tenant = await new_tenant(db_pool, "stats")
    other = await new_tenant(db_pool, "stats")
    await db_pool.execute("UPDATE tenants SET time_zone = 'America/Sao_Paulo' WHERE id = $1", tenant.id)
    hour = datetime(2026, 11, 30, 13, tzinfo=UTC)  # 10:00 in São Paulo
    await _counts(db_pool, tenant, hour, sent=5, received=7, failed=1)
    await _counts(db_pool, other, hour, sent=100, received=100, failed=100)
    await _refresh(db_pool)
    await _bump_generation(stack)

    params = {"from": "2026-11-30", "to": "2026-11-30"}
    response = await shared_api.client.get("/stats/overview", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["window"]["time_zone"] == "America/Sao_Paulo"
    assert body["window"]["start"] == "2026-11-30T00:00:00-03:00"
    assert body["window"]["end"] == "2026-12-01T00:00:00-03:00"
    assert (body["totals"]["sent"], body["totals"]["received"], body["totals"]["failed"]) == (5, 7, 1)
    assert [hour["hour"] for hour in body["hours"]] == ["2026-11-30T10:00:00-03:00"]

    # Cached: new counts are not seen until the views are refreshed and the generation bumped.
    await _counts(db_pool, tenant, hour, sent=6, received=7, failed=1)
    await _refresh(db_pool)
    cached = await shared_api.client.get("/stats/overview", params=params, headers=tenant.headers)
    assert cached.json()["totals"]["sent"] == 5
    await _bump_generation(stack)
    fresh = await shared_api.client.get("/stats/overview", params=params, headers=tenant.headers)
    assert fresh.json()["totals"]["sent"] == 6

    other_view = await shared_api.client.get("/stats/overview", params=params, headers=other.headers)
    assert other_view.json()["totals"]["sent"] == 100


async def test_numbers_campaigns_personas_and_pairs(shared_api: Api, stack: Stack, db_pool: Pool) -> None:
    tenant = await new_tenant(db_pool, "stats")
    instance = await db_pool.fetchval(
        "INSERT INTO instances (tenant_id, name, webhook_secret, state) VALUES ($1, $2, 's', 'connected')"
        " RETURNING id",
        tenant.id,
        f"stats-{uuid.uuid4().hex[:8]}",
    )
    await db_pool.execute(
        "INSERT INTO analytics.number_hourly (tenant_id, instance_id, hour, sent, received, outreach_sent,"
        " opt_outs, failed) VALUES ($1, $2, $3, 3, 4, 2, 1, 1)",
        tenant.id,
        instance,
        datetime(2026, 11, 30, 2, tzinfo=UTC),  # 23:00 on the 29th in São Paulo
    )
    await db_pool.execute(
        "INSERT INTO analytics.number_failures_hourly (tenant_id, instance_id, hour, failure_code, failed)"
        " VALUES ($1, $2, $3, 'http_400', 1), ($1, $2, $3, 'ambiguous', 0)",
        tenant.id,
        instance,
        datetime(2026, 11, 30, 2, tzinfo=UTC),
    )
    campaign = await db_pool.fetchval(
        "INSERT INTO campaigns (tenant_id, name, instance_ids, template)"
        " VALUES ($1, 'black friday', $2, 'oi') RETURNING id",
        tenant.id,
        [instance],
    )
    await db_pool.execute(
        "INSERT INTO analytics.persona_hourly (tenant_id, persona_id, hour, replies, prompt_tokens,"
        " completion_tokens, cost_micro_usd) VALUES ($1, $2, now(), 2, 300, 50, 75)",
        tenant.id,
        uuid.UUID(int=0),
    )
    await _refresh(db_pool)
    await _bump_generation(stack)

    numbers = await shared_api.client.get(
        "/stats/numbers", params={"from": "2026-11-29", "to": "2026-11-30"}, headers=tenant.headers
    )
    assert numbers.status_code == 200, numbers.text
    (number,) = numbers.json()["numbers"]
    assert number["instance_id"] == str(instance)
    assert [day["day"] for day in number["days"]] == ["2026-11-29"]
    assert number["totals"] == {
        "sent": 3,
        "received": 4,
        "outreach_sent": 2,
        "opt_outs": 1,
        "failed": 1,
        "failures_by_code": {"http_400": 1},
    }

    stats = await shared_api.client.get(f"/stats/campaigns/{campaign}", headers=tenant.headers)
    assert stats.status_code == 200, stats.text
    assert stats.json()["name"] == "black friday"
    assert stats.json()["sent"] == 0

    personas = await shared_api.client.get("/stats/personas", headers=tenant.headers)
    (persona,) = personas.json()["personas"]
    assert persona["name"] == "default"
    assert persona["tokens"] == 350
    assert persona["estimated_cost_usd"] == 0.000075


async def test_another_tenants_campaign_or_pair_is_not_found(shared_api: Api, db_pool: Pool) -> None:
    owner = await new_tenant(db_pool, "stats")
    stranger = await new_tenant(db_pool, "stats")
    instances = [
        await db_pool.fetchval(
            "INSERT INTO instances (tenant_id, name, webhook_secret) VALUES ($1, $2, 's') RETURNING id",
            owner.id,
            f"stats-{uuid.uuid4().hex[:8]}",
        )
        for _ in range(2)
    ]
    campaign = await db_pool.fetchval(
        "INSERT INTO campaigns (tenant_id, name, instance_ids, template)"
        " VALUES ($1, 'c', $2, 'oi') RETURNING id",
        owner.id,
        instances,
    )
    pair = await db_pool.fetchval(
        "INSERT INTO warmup_pairs (tenant_id, name, instance_a_id, instance_b_id) VALUES ($1, 'p', $2, $3)"
        " RETURNING id",
        owner.id,
        *instances,
    )
    for path in (f"/stats/campaigns/{campaign}", f"/stats/warmup/pairs/{pair}"):
        mine = await shared_api.client.get(path, headers=owner.headers)
        assert mine.status_code == 200, (path, mine.text)
        theirs = await shared_api.client.get(path, headers=stranger.headers)
        assert theirs.status_code == 404, (path, theirs.text)
        assert set(theirs.json()["error"]) >= {"code", "message"}
    bad = await shared_api.client.get("/stats/overview", params={"from": "yesterday"}, headers=owner.headers)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_period"
    unauthenticated = await shared_api.client.get("/stats/personas")
    assert unauthenticated.status_code == 401
