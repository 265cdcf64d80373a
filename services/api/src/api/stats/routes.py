"""HTTP routes of the tenant's statistics: reads of the analytics views, cached (cache-aside)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request

from api.dependencies import AUTHENTICATED, CurrentTenant, DatabasePool
from api.domain_errors import DomainError, ErrorKind, not_found
from api.errors import AUTHENTICATED_ERRORS, NOT_FOUND
from api.stats import repository
from api.stats.cache import StatsCache
from api.stats.schemas import (
    CampaignStats,
    HourStats,
    NumberDay,
    NumbersOverview,
    NumberStats,
    NumberTotals,
    Overview,
    OverviewTotals,
    PairDay,
    PairStats,
    PairTotals,
    PersonasOverview,
    PersonaStats,
    Window,
)
from api.tenants.repository import Tenant

router = APIRouter(
    prefix="/stats", tags=["stats"], dependencies=AUTHENTICATED, responses=AUTHENTICATED_ERRORS
)

_DEFAULT_DAYS = 7
_MAX_DAYS = 400

From = Annotated[
    str | None,
    Query(
        alias="from",
        description="Start (inclusive): a date (`2026-12-01`, midnight in the tenant's time zone) or a"
        " date-time. Default: 7 days ago, at midnight.",
        examples=["2026-12-01"],
    ),
]
To = Annotated[
    str | None,
    Query(
        alias="to",
        description="End: a date (that whole day included) or a date-time (exclusive). Default: now.",
        examples=["2026-12-07"],
    ),
]


def _cache(request: Request) -> StatsCache | None:
    cache: StatsCache | None = getattr(request.app.state, "stats_cache", None)
    return cache


async def _cached(
    request: Request,
    tenant: Tenant,
    route: str,
    params: dict[str, Any],
    compute: Callable[[], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    cache = _cache(request)
    if cache is None:
        return await compute()
    return await cache.get_or_compute(tenant.id, route, params, compute)


def _moment(text: str, zone: ZoneInfo, *, end: bool) -> datetime:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if end:
                day += timedelta(days=1)
            return datetime.combine(day, time(), zone)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DomainError(
            ErrorKind.INVALID, "invalid_period", f"{text!r} is neither a date nor a date-time"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _period(tenant: Tenant, start: str | None, end: str | None) -> tuple[ZoneInfo, datetime, datetime]:
    """The tenant's zone and the period asked for, checked."""
    try:
        return _checked_period(tenant, start, end)
    except OverflowError:
        raise DomainError(ErrorKind.INVALID, "invalid_period", "the period is out of range") from None


def _checked_period(
    tenant: Tenant, start: str | None, end: str | None
) -> tuple[ZoneInfo, datetime, datetime]:
    zone = ZoneInfo(tenant.time_zone)
    now = datetime.now(zone)
    until = _moment(end, zone, end=True) if end else now
    since = (
        _moment(start, zone, end=False)
        if start
        else datetime.combine(now.date() - timedelta(days=_DEFAULT_DAYS - 1), time(), zone)
    )
    if since >= until:
        raise DomainError(ErrorKind.INVALID, "invalid_period", "`from` must be before `to`")
    if until - since > timedelta(days=_MAX_DAYS):
        raise DomainError(ErrorKind.INVALID, "invalid_period", f"a period covers at most {_MAX_DAYS} days")
    # The last day asked for, and the day after it, must exist too.
    (until - timedelta(microseconds=1)).astimezone(zone)
    (until + timedelta(days=1)).astimezone(zone)
    return zone, since, until


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def _window(pool: DatabasePool, zone: ZoneInfo, since: datetime, until: datetime) -> Window:
    refreshed = await repository.refreshed_at(pool)
    return Window(
        time_zone=zone.key,
        start=since.astimezone(zone),
        end=until.astimezone(zone),
        refreshed_at=refreshed.astimezone(zone) if refreshed else None,
    )


@router.get("/overview", response_model=Overview, summary="The tenant's traffic by hour")
async def overview(
    request: Request, tenant: CurrentTenant, pool: DatabasePool, start: From = None, end: To = None
) -> dict[str, Any]:
    """Sent, received and failed messages and response times (average and 90th percentile),
    per hour of the tenant's time zone and for the whole period."""
    zone, since, until = _period(tenant, start, end)

    async def compute() -> dict[str, Any]:
        rows = await repository.hourly(pool, tenant.id, since, until)
        times = await repository.response_times(pool, tenant.id, since, until)
        hours = [
            HourStats(
                hour=row["hour"].astimezone(zone),
                sent=row["sent"],
                received=row["received"],
                failed=row["failed"],
                responses=row["responses"],
                avg_response_time_ms=row["avg_response_ms"],
                p90_response_time_ms=row["p90_response_ms"],
            )
            for row in rows
        ]
        totals = OverviewTotals(
            sent=sum(hour.sent for hour in hours),
            received=sum(hour.received for hour in hours),
            failed=sum(hour.failed for hour in hours),
            responses=times["responses"],
            avg_response_time_ms=times["avg_ms"],
            p90_response_time_ms=times["p90_ms"],
        )
        body = Overview(window=await _window(pool, zone, since, until), totals=totals, hours=hours)
        return body.model_dump(mode="json")

    return await _cached(request, tenant, "overview", {"from": since, "to": until}, compute)


@router.get("/numbers", response_model=NumbersOverview, summary="Each number's traffic by day")
async def numbers(
    request: Request, tenant: CurrentTenant, pool: DatabasePool, start: From = None, end: To = None
) -> dict[str, Any]:
    """Per number and day of the tenant's time zone: sent, received, active conversations,
    outreach sent, opt-outs and failures by code."""
    zone, since, until = _period(tenant, start, end)
    first, last = since.astimezone(zone).date(), (until - timedelta(microseconds=1)).astimezone(zone).date()

    async def compute() -> dict[str, Any]:
        by_number: dict[uuid.UUID, NumberStats] = {}
        for row in await repository.number_days(pool, tenant.id, first, last):
            day = NumberDay(
                day=row["day"],
                sent=row["sent"],
                received=row["received"],
                active_conversations=row["active_conversations"],
                outreach_sent=row["outreach_sent"],
                opt_outs=row["opt_outs"],
                failed=row["failed"],
                # A code whose failures were all taken back (an ambiguous send that went out
                # after all) has a count of 0: not a failure to show.
                failures_by_code={
                    code: count for code, count in (row["failures_by_code"] or {}).items() if count
                },
            )
            stats = by_number.get(row["instance_id"])
            if stats is None:
                stats = by_number[row["instance_id"]] = NumberStats(
                    instance_id=row["instance_id"],
                    instance_name=row["instance_name"],
                    totals=NumberTotals(
                        sent=0, received=0, outreach_sent=0, opt_outs=0, failed=0, failures_by_code={}
                    ),
                    days=[],
                )
            stats.days.append(day)
            totals = stats.totals
            totals.sent += day.sent
            totals.received += day.received
            totals.outreach_sent += day.outreach_sent
            totals.opt_outs += day.opt_outs
            totals.failed += day.failed
            for code, count in day.failures_by_code.items():
                totals.failures_by_code[code] = totals.failures_by_code.get(code, 0) + count
        body = NumbersOverview(
            window=await _window(pool, zone, since, until), numbers=list(by_number.values())
        )
        return body.model_dump(mode="json")

    return await _cached(request, tenant, "numbers", {"from": since, "to": until}, compute)


@router.get(
    "/campaigns/{campaign_id}",
    response_model=CampaignStats,
    summary="A campaign's results",
    responses=NOT_FOUND,
)
async def campaign(
    campaign_id: uuid.UUID, request: Request, tenant: CurrentTenant, pool: DatabasePool
) -> dict[str, Any]:
    """Targets by state, messages sent and failed, targets who replied within 24 hours, opt-outs."""
    name = await repository.campaign_name(pool, tenant.id, campaign_id)
    if name is None:
        raise not_found("campaign")

    async def compute() -> dict[str, Any]:
        row = await repository.campaign(pool, campaign_id)
        sent = row["sent"] if row else 0
        replies = row["replies_24h"] if row else 0
        refreshed = await repository.refreshed_at(pool)
        body = CampaignStats(
            campaign_id=campaign_id,
            name=name,
            refreshed_at=refreshed,
            targets=await repository.campaign_targets(pool, campaign_id),
            sent=sent,
            failed=row["failed"] if row else 0,
            replies_24h=replies,
            reply_rate_24h=_ratio(replies, sent),
            opt_outs=row["opt_outs"] if row else 0,
        )
        return body.model_dump(mode="json")

    return await _cached(request, tenant, "campaign", {"id": campaign_id}, compute)


@router.get("/personas", response_model=PersonasOverview, summary="Each persona's results")
async def personas(request: Request, tenant: CurrentTenant, pool: DatabasePool) -> dict[str, Any]:
    """Per persona: conversations, reply rate, opt-out rate, time to first response, tokens and
    estimated model cost (from the analytics service's price list)."""

    async def compute() -> dict[str, Any]:
        items = []
        for row in await repository.personas(pool, tenant.id):
            conversations = row["conversations"]
            items.append(
                PersonaStats(
                    persona_id=row["persona_id"],
                    name=row["name"] if row["persona_id"] != repository.DEFAULT_PERSONA_ID else "default",
                    conversations=conversations,
                    replies=row["replies"],
                    reply_rate=_ratio(row["conversations_replied"], conversations),
                    opt_out_rate=_ratio(row["conversations_opted_out"], conversations),
                    avg_time_to_first_response_ms=row["avg_first_response_ms"],
                    prompt_tokens=row["prompt_tokens"],
                    completion_tokens=row["completion_tokens"],
                    tokens=row["prompt_tokens"] + row["completion_tokens"],
                    estimated_cost_usd=round(row["cost_micro_usd"] / 1_000_000, 6),
                )
            )
        body = PersonasOverview(refreshed_at=await repository.refreshed_at(pool), personas=items)
        return body.model_dump(mode="json")

    return await _cached(request, tenant, "personas", {}, compute)


@router.get(
    "/warmup/pairs/{pair_id}",
    response_model=PairStats,
    summary="A warm-up pair's rounds",
    responses=NOT_FOUND,
)
async def warmup_pair(
    pair_id: uuid.UUID,
    request: Request,
    tenant: CurrentTenant,
    pool: DatabasePool,
    start: From = None,
    end: To = None,
) -> dict[str, Any]:
    """Per day of the tenant's time zone: rounds completed, average round duration, messages and
    deaf rounds (a message never arrived at the other number)."""
    name = await repository.pair_name(pool, tenant.id, pair_id)
    if name is None:
        raise not_found("warmup_pair")
    zone, since, until = _period(tenant, start, end)
    first, last = since.astimezone(zone).date(), (until - timedelta(microseconds=1)).astimezone(zone).date()

    async def compute() -> dict[str, Any]:
        days = [PairDay(**dict(row)) for row in await repository.pair_days(pool, pair_id, first, last)]
        completed = sum(day.rounds_completed for day in days)
        duration = sum((day.avg_round_duration_ms or 0) * day.rounds_completed for day in days)
        totals = PairTotals(
            rounds_started=sum(day.rounds_started for day in days),
            rounds_completed=completed,
            rounds_ended=sum(day.rounds_ended for day in days),
            avg_round_duration_ms=round(duration / completed) if completed else None,
            messages=sum(day.messages for day in days),
            deaf_rounds=sum(day.deaf_rounds for day in days),
        )
        body = PairStats(
            pair_id=pair_id,
            name=name,
            window=await _window(pool, zone, since, until),
            totals=totals,
            days=days,
        )
        return body.model_dump(mode="json")

    return await _cached(request, tenant, "warmup_pair", {"id": pair_id, "from": since, "to": until}, compute)
