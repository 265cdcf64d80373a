"""Reads of the analytics views (written by the analytics service only) and of the tenant's own
rows they are about (instances, campaigns, personas, warm-up pairs)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from database import Pool

DEFAULT_PERSONA_ID = uuid.UUID(int=0)


async def refreshed_at(pool: Pool) -> datetime | None:
    """When the views were last refreshed."""
    value: datetime | None = await pool.fetchval("SELECT refreshed_at FROM analytics.refreshes")
    return value


async def hourly(pool: Pool, tenant_id: uuid.UUID, start: datetime, end: datetime) -> list[Any]:
    """The tenant's hours in [start, end)."""
    return await pool.fetch(
        "SELECT hour, sent, received, failed, responses, avg_response_ms, p90_response_ms"
        " FROM analytics.tenant_hourly_stats WHERE tenant_id = $1 AND hour >= $2 AND hour < $3 ORDER BY hour",
        tenant_id,
        start,
        end,
    )


async def response_times(pool: Pool, tenant_id: uuid.UUID, start: datetime, end: datetime) -> Any:
    """Count, mean and 90th percentile of the response times of replies sent in [start, end)."""
    return await pool.fetchrow(
        "SELECT count(*) AS responses, round(avg(response_ms))::bigint AS avg_ms,"
        " round(percentile_cont(0.9) WITHIN GROUP (ORDER BY response_ms))::bigint AS p90_ms"
        " FROM analytics.response_times WHERE tenant_id = $1 AND sent_at >= $2 AND sent_at < $3",
        tenant_id,
        start,
        end,
    )


async def number_days(pool: Pool, tenant_id: uuid.UUID, first: date, last: date) -> list[Any]:
    """Every number's days in [first, last], with the instance's name."""
    return await pool.fetch(
        "SELECT s.instance_id, i.name AS instance_name, s.day, s.sent, s.received, s.active_conversations,"
        " s.outreach_sent, s.opt_outs, s.failed, s.failures_by_code"
        " FROM analytics.number_daily_stats s LEFT JOIN instances i ON i.id = s.instance_id"
        " WHERE s.tenant_id = $1 AND s.day BETWEEN $2 AND $3 ORDER BY i.name, s.instance_id, s.day",
        tenant_id,
        first,
        last,
    )


async def pair_name(pool: Pool, tenant_id: uuid.UUID, pair_id: uuid.UUID) -> str | None:
    """The tenant's warm-up pair's name; None when it has no such pair."""
    name: str | None = await pool.fetchval(
        "SELECT name FROM warmup_pairs WHERE id = $1 AND tenant_id = $2", pair_id, tenant_id
    )
    return name


async def pair_days(pool: Pool, pair_id: uuid.UUID, first: date, last: date) -> list[Any]:
    """One warm-up pair's days in [first, last]."""
    return await pool.fetch(
        "SELECT day, rounds_started, rounds_completed, rounds_ended, avg_round_duration_ms, messages,"
        " deaf_rounds FROM analytics.pair_daily_stats"
        " WHERE pair_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day",
        pair_id,
        first,
        last,
    )


async def campaign_name(pool: Pool, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> str | None:
    """The tenant's campaign's name; None when it has no such campaign."""
    name: str | None = await pool.fetchval(
        "SELECT name FROM campaigns WHERE id = $1 AND tenant_id = $2", campaign_id, tenant_id
    )
    return name


async def campaign_targets(pool: Pool, campaign_id: uuid.UUID) -> dict[str, int]:
    """The campaign's targets by state (outreach's progress), and the rows refused at creation."""
    rows = await pool.fetch(
        "SELECT state, count(*)::integer AS n FROM campaign_target_progress WHERE campaign_id = $1"
        " GROUP BY state"
        " UNION ALL"
        " SELECT 'rejected', count(*)::integer FROM campaign_targets"
        " WHERE campaign_id = $1 AND validation <> 'ok' HAVING count(*) > 0",
        campaign_id,
    )
    return {row["state"]: row["n"] for row in rows}


async def campaign(pool: Pool, campaign_id: uuid.UUID) -> Any:
    """The campaign's sends, failures, replies within 24 h and opt-outs."""
    return await pool.fetchrow(
        "SELECT sent, failed, replies_24h, opt_outs FROM analytics.campaign_stats WHERE campaign_id = $1",
        campaign_id,
    )


async def personas(pool: Pool, tenant_id: uuid.UUID) -> list[Any]:
    """Every persona's statistics, with its name (the built-in default persona has none)."""
    return await pool.fetch(
        "SELECT s.*, p.name FROM analytics.persona_stats s LEFT JOIN personas p ON p.id = s.persona_id"
        " WHERE s.tenant_id = $1 ORDER BY p.name NULLS FIRST, s.persona_id",
        tenant_id,
    )
