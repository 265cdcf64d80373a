"""HTTP routes of warm-up pairs (PRODUCT §3): two of the tenant's numbers chatting in rounds."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api.dependencies import AUTHENTICATED, CurrentTenant, DatabasePool
from api.domain_errors import not_found
from api.errors import AUTHENTICATED_ERRORS, CONFLICT, NOT_FOUND, ApiError, ErrorResponse, Responses
from api.warmup import repository, service
from api.warmup.scheduler_link import SchedulerLink, SchedulerLinkSettings, SchedulerUnavailableError
from api.warmup.schemas import (
    PairCreate,
    PairList,
    PairOut,
    PairUpdate,
    RoundList,
    SkipList,
    SkipOut,
    TickOut,
)
from api.warmup.views import pair_out, round_out
from contracts import utc_now
from database import Pool

router = APIRouter(
    prefix="/warmup", tags=["warmup"], dependencies=AUTHENTICATED, responses=AUTHENTICATED_ERRORS
)

SCHEDULER_DOWN: Responses = {
    503: {"model": ErrorResponse, "description": "The scheduler did not answer; try again."}
}


def _scheduler(request: Request) -> SchedulerLink:
    # Built on first use from `MIRAGE_API_SCHEDULER__*` (tests may place their own on app.state).
    link: SchedulerLink | None = getattr(request.app.state, "warmup_scheduler", None)
    if link is None:
        link = SchedulerLink(SchedulerLinkSettings())
        request.app.state.warmup_scheduler = link
    return link


Scheduler = Annotated[SchedulerLink, Depends(_scheduler)]


async def _pair_out(pool: Pool, tenant_id: uuid.UUID, pair_id: uuid.UUID) -> PairOut:
    pair = await repository.get_pair(pool, tenant_id, pair_id)
    if pair is None:
        raise not_found("warmup_pair")
    return pair_out(pair, utc_now())


@router.post(
    "/pairs", status_code=201, response_model=PairOut, summary="Create a warm-up pair", responses=CONFLICT
)
async def create_pair(body: PairCreate, tenant: CurrentTenant, pool: DatabasePool) -> PairOut:
    """Two of the tenant's numbers that will chat in rounds inside the pair's weekly windows."""
    pair_id = await service.create_pair(pool, tenant, body)
    return await _pair_out(pool, tenant.id, pair_id)


@router.get("/pairs", response_model=PairList, summary="List warm-up pairs")
async def list_pairs(
    tenant: CurrentTenant,
    pool: DatabasePool,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> PairList:
    """The tenant's pairs, oldest first."""
    now = utc_now()
    pairs = await repository.list_pairs(pool, tenant.id, limit=limit, offset=offset)
    return PairList(items=[pair_out(pair, now) for pair in pairs], limit=limit, offset=offset)


@router.get("/pairs/{pair_id}", response_model=PairOut, summary="Get a warm-up pair", responses=NOT_FOUND)
async def get_pair(pair_id: uuid.UUID, tenant: CurrentTenant, pool: DatabasePool) -> PairOut:
    """One pair, with each number's ramp stage and daily cap."""
    return await _pair_out(pool, tenant.id, pair_id)


@router.patch(
    "/pairs/{pair_id}", response_model=PairOut, summary="Change a warm-up pair", responses=NOT_FOUND
)
async def update_pair(
    pair_id: uuid.UUID, body: PairUpdate, tenant: CurrentTenant, pool: DatabasePool
) -> PairOut:
    """Change the fields given; the numbers of a pair cannot change (create another pair)."""
    await service.update_pair(pool, tenant, pair_id, body)
    return await _pair_out(pool, tenant.id, pair_id)


@router.delete(
    "/pairs/{pair_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a warm-up pair",
    responses=NOT_FOUND,
)
async def delete_pair(pair_id: uuid.UUID, tenant: CurrentTenant, pool: DatabasePool) -> Response:
    """Stop the pair for good; its rounds stay in the statistics."""
    if not await repository.delete_pair(pool, tenant.id, pair_id):
        raise not_found("warmup_pair")
    return Response(status_code=204)


@router.post("/pairs/{pair_id}/pause", response_model=PairOut, summary="Pause a pair", responses=NOT_FOUND)
async def pause_pair(pair_id: uuid.UUID, tenant: CurrentTenant, pool: DatabasePool) -> PairOut:
    """No new round starts; a round in progress ends at its next turn."""
    await service.set_active(pool, tenant, pair_id, active=False)
    return await _pair_out(pool, tenant.id, pair_id)


@router.post("/pairs/{pair_id}/resume", response_model=PairOut, summary="Resume a pair", responses=NOT_FOUND)
async def resume_pair(pair_id: uuid.UUID, tenant: CurrentTenant, pool: DatabasePool) -> PairOut:
    """Rounds start again at the next scan inside a window."""
    await service.set_active(pool, tenant, pair_id, active=True)
    return await _pair_out(pool, tenant.id, pair_id)


@router.post(
    "/pairs/{pair_id}/tick",
    response_model=TickOut,
    summary="Run the scheduler's decision for this pair now",
    responses={**NOT_FOUND, **SCHEDULER_DOWN},
)
async def tick_pair(
    pair_id: uuid.UUID, tenant: CurrentTenant, pool: DatabasePool, scheduler: Scheduler
) -> TickOut:
    """The scheduler's cron decision, now: `started` with the round's id, or `skipped` with the reason.

    A skip is recorded like the cron's (see `/skips`).
    """
    if await repository.get_pair(pool, tenant.id, pair_id) is None:
        raise not_found("warmup_pair")
    try:
        tick = await scheduler.tick(tenant.id, pair_id)
    except SchedulerUnavailableError as error:
        raise ApiError(503, "scheduler_unavailable", str(error), headers={"Retry-After": "5"}) from None
    if tick is None:
        raise not_found("warmup_pair")
    return TickOut(
        decision="started" if tick.decision == "started" else "skipped",
        reason=tick.reason,
        detail=tick.detail,
        round_id=tick.round_id,
    )


@router.get(
    "/pairs/{pair_id}/rounds", response_model=RoundList, summary="A pair's rounds", responses=NOT_FOUND
)
async def list_rounds(
    pair_id: uuid.UUID,
    tenant: CurrentTenant,
    pool: DatabasePool,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> RoundList:
    """Rounds newest first, each with its state and turns (who wrote what, when it was sent and when
    it arrived at the other number)."""
    if await repository.get_pair(pool, tenant.id, pair_id) is None:
        raise not_found("warmup_pair")
    rounds, turns = await repository.list_rounds(pool, tenant.id, pair_id, limit=limit, offset=offset)
    return RoundList(items=[round_out(row, turns) for row in rounds], limit=limit, offset=offset)


@router.get(
    "/pairs/{pair_id}/skips", response_model=SkipList, summary="Why rounds did not start", responses=NOT_FOUND
)
async def list_skips(
    pair_id: uuid.UUID,
    tenant: CurrentTenant,
    pool: DatabasePool,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SkipList:
    """The scans that skipped the pair, newest first; consecutive ones for one reason are one item."""
    if await repository.get_pair(pool, tenant.id, pair_id) is None:
        raise not_found("warmup_pair")
    skips = await repository.list_skips(pool, tenant.id, pair_id, limit=limit)
    return SkipList(
        items=[
            SkipOut(
                reason=skip.reason,
                detail=skip.detail,
                trigger=skip.trigger,
                occurrences=skip.occurrences,
                first_at=skip.scanned_at,
                last_at=skip.last_scanned_at,
            )
            for skip in skips
        ]
    )
