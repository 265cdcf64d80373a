"""HTTP routes of admin alerts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.alerts import repository
from api.alerts.repository import AlertFilter, StoredAlert
from api.dependencies import AUTHENTICATED, CurrentTenant, DatabasePool
from api.domain_errors import not_found
from api.errors import AUTHENTICATED_ERRORS, NOT_FOUND
from api.input_types import UtcDatetime
from contracts import AlertCause, AlertSeverity

router = APIRouter(
    prefix="/alerts", tags=["alerts"], dependencies=AUTHENTICATED, responses=AUTHENTICATED_ERRORS
)


class AlertOut(BaseModel):
    """An admin alert: one row per cause and subject within the tenant's cool-down."""

    id: uuid.UUID
    alert_key: str
    cause: str
    severity: str
    title: str
    detail: str
    context: dict[str, Any]
    instance_id: uuid.UUID | None
    conversation_id: uuid.UUID | None
    occurrences: int = Field(description="How many times it happened within the cool-down.")
    first_seen_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    delivery_state: str = Field(
        description="Webhook delivery: pending, delivering, delivered, suppressed (already delivered within"
        " the cool-down), failed, not_configured."
    )
    delivered_at: datetime | None
    resolved_occurrences: int = Field(
        description="Occurrences whose condition ended by itself (an ambiguous send found sent, a stalled"
        " consumer moving again)."
    )
    resolved_at: datetime | None = Field(description="When every occurrence was resolved.")

    @classmethod
    def of(cls, alert: StoredAlert) -> AlertOut:
        """The public view of an alert row."""
        return cls(
            id=alert.id,
            alert_key=alert.alert_key,
            cause=alert.cause,
            severity=alert.severity,
            title=alert.title,
            detail=alert.detail,
            context=alert.context,
            instance_id=alert.instance_id,
            conversation_id=alert.conversation_id,
            occurrences=alert.occurrences,
            first_seen_at=alert.first_seen_at,
            last_seen_at=alert.last_seen_at,
            acknowledged_at=alert.acknowledged_at,
            delivery_state=alert.delivery_state,
            delivered_at=alert.delivered_at,
            resolved_occurrences=alert.resolved_occurrences,
            resolved_at=alert.resolved_at,
        )


class AlertList(BaseModel):
    """A page of alerts, most recently seen first."""

    items: list[AlertOut]
    limit: int
    offset: int


@router.get("", response_model=AlertList, summary="List admin alerts")
async def list_alerts(
    tenant: CurrentTenant,
    pool: DatabasePool,
    cause: AlertCause | None = None,
    severity: AlertSeverity | None = None,
    acknowledged: bool | None = None,
    instance_id: uuid.UUID | None = None,
    since: Annotated[UtcDatetime | None, Query(description="Seen at or after this.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> AlertList:
    """The tenant's alerts."""
    where = AlertFilter(
        cause=cause.value if cause else None,
        severity=severity.value if severity else None,
        acknowledged=acknowledged,
        instance_id=instance_id,
        since=since,
    )
    found = await repository.list_for_tenant(pool, tenant.id, where, limit=limit, offset=offset)
    return AlertList(items=[AlertOut.of(item) for item in found], limit=limit, offset=offset)


@router.get("/{alert_id}", response_model=AlertOut, summary="Get an alert", responses=NOT_FOUND)
async def get_alert(alert_id: uuid.UUID, tenant: CurrentTenant, pool: DatabasePool) -> AlertOut:
    """One alert of the tenant."""
    found = await repository.get(pool, tenant.id, alert_id)
    if found is None:
        raise not_found("alert")
    return AlertOut.of(found)


@router.post(
    "/{alert_id}/acknowledge", response_model=AlertOut, summary="Acknowledge an alert", responses=NOT_FOUND
)
async def acknowledge_alert(alert_id: uuid.UUID, tenant: CurrentTenant, pool: DatabasePool) -> AlertOut:
    """Mark it seen; a new occurrence of its key starts a new alert."""
    found = await repository.acknowledge(pool, tenant.id, alert_id)
    if found is None:
        raise not_found("alert")
    return AlertOut.of(found)
