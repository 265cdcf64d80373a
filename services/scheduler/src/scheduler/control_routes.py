"""The scheduler's control route, called by the api for `POST /warmup/pairs/{id}/tick`.

Internal: it listens on the scheduler's own port next to the probes, and when
`MIRAGE_SCHEDULER_CONTROL_TOKEN` is set it needs `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
import uuid
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from scheduler.service import Scheduler
from scheduler.settings import SchedulerSettings


class TickRequest(BaseModel):
    """Which tenant asks: another tenant's pair is not found."""

    model_config = ConfigDict(extra="forbid")

    tenant_id: uuid.UUID


class TickOut(BaseModel):
    """The decision: `started` with the round's id, or `skipped` with the reason."""

    decision: str
    reason: str | None
    detail: str
    round_id: uuid.UUID | None


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def control_router(scheduler: Scheduler, settings: SchedulerSettings) -> APIRouter:
    """`POST /control/warmup/pairs/{pair_id}/tick`."""
    router = APIRouter(prefix="/control", tags=["control"])
    token = settings.control_token.get_secret_value() if settings.control_token else None

    @router.post("/warmup/pairs/{pair_id}/tick", response_model=TickOut)
    async def tick(
        pair_id: uuid.UUID,
        body: TickRequest,
        authorization: Annotated[str | None, Header()] = None,
    ) -> TickOut | JSONResponse:
        """Run the scheduler's decision for one pair now (the cron's code path)."""
        if token is not None and not hmac.compare_digest(authorization or "", f"Bearer {token}"):
            return _error(401, "unauthorized", "the scheduler's control token is required")
        result = await scheduler.tick(pair_id, tenant_id=body.tenant_id, trigger="manual")
        if result is None:
            return _error(404, "warmup_pair_not_found", "warmup pair not found")
        return TickOut(
            decision=result.decision, reason=result.reason, detail=result.detail, round_id=result.round_id
        )

    return router
