"""`GET /health` (unauthenticated): 200 healthy or 503 naming the failed checks."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.dependencies import Context


class CheckOut(BaseModel):
    """One dependency check."""

    status: Literal["ok", "failed"]
    latency_ms: float
    error: str | None = None


class HealthOut(BaseModel):
    """The api's view of its dependencies."""

    status: Literal["healthy", "unhealthy"]
    checks: dict[str, CheckOut] = Field(description="postgres, redis, kafka, evolution.")
    failed: list[str] = Field(description="Names of the failed checks (empty when healthy).")


router = APIRouter(tags=["operations"])


@router.get(
    "/health",
    response_model=HealthOut,
    summary="Dependency health",
    responses={503: {"model": HealthOut, "description": "At least one dependency failed its check."}},
)
async def health(context: Context) -> JSONResponse:
    """PostgreSQL (`SELECT 1`), Redis (`PING`), Kafka (metadata) and Evolution API, each time-bounded."""
    results = await context.health.run()
    failed = [name for name, result in results.items() if not result.ok]
    body = HealthOut(
        status="unhealthy" if failed else "healthy",
        checks={
            name: CheckOut(
                status="ok" if result.ok else "failed", latency_ms=result.latency_ms, error=result.error
            )
            for name, result in results.items()
        },
        failed=failed,
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=503 if failed else 200)
