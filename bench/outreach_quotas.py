"""Outreach benchmarks (issue: campaigns under atomic Redis quotas).

`BENCH quota_check`: quota checks per second through `QuotaGate` (the tenant's local periods,
the three counters, the Lua script) against a raw redis-py EVALSHA loop of the same script on
the same keys, in the same run. Goal: ratio ≥ 0.5.

`BENCH campaign_create`: rows per second for a 10,000-contact campaign through the api's
`CampaignService.create` (validation, consent lookups, template rendering, one COPY of the
targets, one `outreach.requested` per row into the outbox) against an asyncpg COPY of the same
rows into `campaign_targets`, in the same run. Goal: ratio ≥ 0.25.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import SecretStr

from api.outreach import repository as campaigns_repository
from api.outreach.schemas import CampaignCreate
from api.outreach.service import CampaignService
from api.tenants import repository as tenants_repository
from bench.harness import bench_line, fresh_database, frozen_heap, infrastructure
from database import PostgresSettings, create_pool
from messaging import Outbox, StagedEvent
from quotas import TAKE_SCRIPT, QuotaGate, local_periods
from redis_client import RedisSettings, create_redis
from testkit.namespaces import new_namespace

CHECKS = 20_000
CONTACTS = 10_000
# Interleaved rounds of the campaign benchmark (each side keeps its best).
CAMPAIGN_ROUNDS = 5
ZONE = "America/Sao_Paulo"


async def quota_check() -> list[str]:
    """Checks per second: the gate against raw EVALSHA."""
    async with infrastructure() as infra:
        settings = RedisSettings(url=SecretStr(infra.redis_url), key_prefix=f"{new_namespace('b')}:")
        redis = await create_redis(settings)
        try:
            gate = QuotaGate(redis, settings)
            tenant = uuid.uuid4()
            number = "5511999990001"
            now = datetime.now(UTC)
            periods = local_periods(now, ZONE)
            counters = gate.counters(
                tenant=tenant,
                number=number,
                periods=periods,
                daily=10**9,
                hourly=10**9,
                per_number_daily=10**9,
            )
            sha = await redis.script_load(TAKE_SCRIPT)
            keys = [c.key.replace("quota:", "raw:") for c in counters]
            args = [10**9, 10**9, 10**9, 172_800, 7_200, 172_800, 1]

            async def raw() -> float:
                started = time.perf_counter()
                for _ in range(CHECKS):
                    await redis.evalsha(sha, len(keys), *keys, *args)
                return CHECKS / (time.perf_counter() - started)

            async def through_gate() -> float:
                started = time.perf_counter()
                for _ in range(CHECKS):
                    moment = datetime.now(UTC)
                    checked = local_periods(moment, ZONE)
                    verdict = await gate.take(
                        gate.counters(
                            tenant=tenant,
                            number=number,
                            periods=checked,
                            daily=10**9,
                            hourly=10**9,
                            per_number_daily=10**9,
                        ),
                        checked,
                    )
                    assert verdict.admitted
                return CHECKS / (time.perf_counter() - started)

            await raw()  # warm both paths once
            await through_gate()
            baseline = max([await raw(), await raw()])
            ours = max([await through_gate(), await through_gate()])
        finally:
            await redis.aclose()
    ratio = ours / baseline
    return [
        bench_line(
            "quota_check",
            checks=CHECKS,
            checks_per_s=round(ours, 1),
            baseline_evalsha_per_s=round(baseline, 1),
            ratio=round(ratio, 3),
            goal_ratio=0.5,
            goal_met=ratio >= 0.5,
        )
    ]


class _Discard:
    """A relay that publishes nothing (the benchmark measures creation, not Kafka)."""

    def notify(self, staged: Iterable[StagedEvent]) -> None:
        """Drop the rows."""


async def campaign_create() -> list[str]:
    """Rows per second: the api's campaign creation against a bare COPY of the same rows."""
    async with infrastructure() as infra:
        dsn = await fresh_database(infra, "campaigns")
        postgres = PostgresSettings(dsn=SecretStr(dsn), pool_min_size=1, pool_max_size=2)
        pool = await create_pool(postgres, application_name="bench-campaigns")
        settings = RedisSettings(url=SecretStr(infra.redis_url), key_prefix=f"{new_namespace('b')}:")
        redis = await create_redis(settings)
        try:
            async with pool.acquire() as conn:
                tenant_id = await conn.fetchval(
                    "INSERT INTO tenants (slug, name, daily_quota)"
                    " VALUES ($1, 'bench', 1000000) RETURNING id",
                    uuid.uuid4().hex,
                )
                instance_id = await conn.fetchval(
                    "INSERT INTO instances (tenant_id, name, webhook_secret, state)"
                    " VALUES ($1, $2, 's', 'connected') RETURNING id",
                    tenant_id,
                    f"bench-{uuid.uuid4().hex[:8]}",
                )
                instance_name = await conn.fetchval("SELECT name FROM instances WHERE id = $1", instance_id)
            tenant = await tenants_repository.tenant_by_id(pool, tenant_id)
            assert tenant is not None
            service = CampaignService(
                pool=pool, outbox=Outbox("bench-api"), relay=_Discard(), gate=QuotaGate(redis, settings)
            )
            contacts = [
                {
                    "phone": f"+55 (11) 9{index:04d}-{index % 10_000:04d}",
                    "variables": {"name": f"Pessoa {index}"},
                }
                for index in range(CONTACTS)
            ]
            body = {
                "name": "bench",
                "instances": [instance_name],
                "contacts": contacts,
                "template": "Oi {{name}}, temos novidades para você!",
            }

            async def create() -> float:
                started = time.perf_counter()
                created = await service.create(tenant, CampaignCreate.model_validate(body))
                elapsed = time.perf_counter() - started
                assert created.accepted == CONTACTS, created.rejected[:3]
                return CONTACTS / elapsed

            async def bare_copy() -> float:
                campaign_id = uuid.uuid4()
                records = [
                    (
                        uuid.uuid4(),
                        tenant_id,
                        campaign_id,
                        index,
                        f"55119{index:04d}{index % 10_000:04d}",
                        {"name": f"Pessoa {index}"},
                        instance_id,
                        f"Oi Pessoa {index}, temos novidades para você!",
                        "ok",
                    )
                    for index in range(CONTACTS)
                ]
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute(
                        "INSERT INTO campaigns (id, tenant_id, name, instance_ids, template)"
                        " VALUES ($1, $2, 'copy', $3, 't')",
                        campaign_id,
                        tenant_id,
                        [instance_id],
                    )
                    started = time.perf_counter()
                    await campaigns_repository.copy_targets(conn, records)
                    return CONTACTS / (time.perf_counter() - started)

            # Interleaved rounds, the best of each side: the shared box's speed drifts within a
            # run (the baseline alone swung between 53,000 and 104,000 rows/s from run to run),
            # and back-to-back blocks of each side measured that drift as much as the code.
            ours_rounds: list[float] = []
            baseline_rounds: list[float] = []
            with frozen_heap():  # as the api process's heap is
                await create()  # warm: compiled statements, the template cache
                await bare_copy()
                for _ in range(CAMPAIGN_ROUNDS):
                    ours_rounds.append(await create())
                    baseline_rounds.append(await bare_copy())
            ours, baseline = max(ours_rounds), max(baseline_rounds)
        finally:
            await redis.aclose()
            await pool.close()
    ratio = ours / baseline
    return [
        bench_line(
            "campaign_create",
            contacts=CONTACTS,
            rows_per_s=round(ours, 1),
            baseline_copy_rows_per_s=round(baseline, 1),
            ratio=round(ratio, 3),
            goal_ratio=0.25,
            goal_met=ratio >= 0.25,
        )
    ]


async def main() -> list[str]:
    """Both outreach benchmarks."""
    return [*await quota_check(), *await campaign_create()]


if __name__ == "__main__":
    asyncio.run(main())
