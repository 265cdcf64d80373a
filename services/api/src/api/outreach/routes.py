"""HTTP routes of outreach campaigns (`/outreach/campaigns`, PRODUCT §4.1)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from api.dependencies import AUTHENTICATED, Context, CurrentTenant, DatabasePool
from api.errors import AUTHENTICATED_ERRORS, CONFLICT, NOT_FOUND
from api.outreach import repository
from api.outreach.repository import CampaignRow
from api.outreach.schemas import (
    CampaignCreate,
    CampaignCreated,
    CampaignList,
    CampaignOut,
    CampaignState,
    CountsOut,
    RejectedOut,
    ReportOut,
    TargetOut,
    TargetPage,
    TargetState,
)
from api.outreach.service import CampaignService, DailyLimitReachedError
from contracts import utc_now

router = APIRouter(
    prefix="/outreach/campaigns",
    tags=["outreach"],
    dependencies=AUTHENTICATED,
    responses=AUTHENTICATED_ERRORS,
)

CampaignId = Annotated[uuid.UUID, Path(description="The campaign's id.")]


def _service(context: Context) -> CampaignService:
    return context.campaigns


Campaigns = Annotated[CampaignService, Depends(_service)]

_WAITING = ("queued", "rescheduled", "sending")


def campaign_out(row: CampaignRow) -> CampaignOut:
    """The public view of a campaign; a running one with nothing left to do is `completed`."""
    counts = CountsOut(**{state: n for state, n in row.counts.items() if state in CountsOut.model_fields})
    # Targets the worker has not looked at yet are queued.
    counts.queued += max(0, row.accepted - sum(row.counts.values()))
    state = cast(CampaignState, row.status)
    if row.status == "running" and not any(getattr(counts, name) for name in _WAITING):
        state = "completed"
    return CampaignOut(
        id=row.id,
        name=row.name,
        state=state,
        instances=row.instance_names,
        template=row.template,
        window=row.window,
        pacing=row.pacing,
        personalise=row.personalise,
        accepted=row.accepted,
        rejected=row.rejected,
        counts=counts,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@router.post(
    "",
    status_code=201,
    response_model=CampaignCreated,
    summary="Create and start a campaign",
    responses={
        429: {
            "description": "The tenant's daily quota is already spent: nothing was created.",
            "content": {
                "application/json": {
                    "example": {
                        "error": "daily_limit_reached",
                        "message": "the daily quota is spent",
                        "limit": 1000,
                        "used": 1000,
                        "retry_at": "2026-12-03T03:00:00Z",
                    }
                }
            },
        }
    },
)
async def create_campaign(
    body: CampaignCreate, tenant: CurrentTenant, campaigns: Campaigns
) -> CampaignCreated | JSONResponse:
    """Rows with an invalid phone, duplicates, opted-out and blacklisted contacts are reported
    per row; a template that does not render for some rows is a 422 naming them."""
    try:
        created = await campaigns.create(tenant, body)
    except DailyLimitReachedError as error:
        return JSONResponse(
            {
                "error": "daily_limit_reached",
                "message": "the tenant's daily quota is already spent; no campaign was created",
                "limit": error.limit,
                "used": error.used,
                "retry_at": error.retry_at.isoformat(),
            },
            status_code=429,
            headers={"Retry-After": str(max(1, int((error.retry_at - utc_now()).total_seconds())))},
        )
    return CampaignCreated(
        id=created.id,
        state="running",
        report=ReportOut(
            accepted=created.accepted,
            rejected=[
                RejectedOut(row=r.index, phone=r.phone, reason=r.reason.value) for r in created.rejected
            ],
        ),
    )


@router.get("", response_model=CampaignList, summary="List campaigns")
async def list_campaigns(
    tenant: CurrentTenant,
    pool: DatabasePool,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> CampaignList:
    """The tenant's campaigns, newest first, with their counts."""
    rows = await repository.list_campaigns(pool, tenant.id, limit=limit, offset=offset)
    return CampaignList(items=[campaign_out(row) for row in rows], limit=limit, offset=offset)


@router.get("/{campaign_id}", response_model=CampaignOut, summary="A campaign", responses=NOT_FOUND)
async def get_campaign(campaign_id: CampaignId, tenant: CurrentTenant, campaigns: Campaigns) -> CampaignOut:
    """A campaign with `counts` by target state."""
    return campaign_out(await campaigns.get(tenant, campaign_id))


@router.get(
    "/{campaign_id}/targets", response_model=TargetPage, summary="A campaign's targets", responses=NOT_FOUND
)
async def list_targets(
    campaign_id: CampaignId,
    tenant: CurrentTenant,
    campaigns: Campaigns,
    pool: DatabasePool,
    state: Annotated[TargetState | None, Query(description="Only targets in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> TargetPage:
    """Accepted targets in row order, with why they were skipped, failed or rescheduled."""
    await campaigns.require(tenant, campaign_id)
    rows, total = await repository.list_targets(pool, campaign_id, state=state, limit=limit, offset=offset)
    return TargetPage(
        items=[
            TargetOut(
                id=row.id,
                row=row.row,
                phone=row.phone,
                state=cast(TargetState, row.state),
                reason=row.reason,
                next_attempt_at=row.next_attempt_at,
                instance=row.instance,
                attempts=row.attempts,
                updated_at=row.updated_at,
            )
            for row in rows
        ],
        limit=limit,
        offset=offset,
        total=total,
    )


Action = Literal["pause", "resume", "cancel"]


@router.post(
    "/{campaign_id}/{action}",
    response_model=CampaignOut,
    summary="Pause, resume or cancel a campaign",
    responses={**NOT_FOUND, **CONFLICT, 200: {"model": CampaignOut}},
)
async def steer_campaign(
    campaign_id: CampaignId,
    action: Annotated[Action, Path(description="`pause`, `resume` or `cancel`.")],
    tenant: CurrentTenant,
    campaigns: Campaigns,
) -> CampaignOut:
    """Paused: nothing more is sent until resumed. Cancelled: waiting targets are skipped."""
    return campaign_out(await campaigns.steer(tenant, campaign_id, action))
