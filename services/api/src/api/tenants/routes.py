"""`GET /tenant` and `PATCH /tenant`: the authenticated tenant and its alert settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from api.dependencies import AUTHENTICATED, CurrentTenant, DatabasePool
from api.errors import AUTHENTICATED_ERRORS
from api.input_types import Name, PhoneDigits
from api.tenants import repository
from api.tenants.repository import Tenant
from api.tenants.service import check_time_zone

router = APIRouter(
    prefix="/tenant", tags=["tenant"], dependencies=AUTHENTICATED, responses=AUTHENTICATED_ERRORS
)


class TenantOut(BaseModel):
    """The tenant an API key belongs to."""

    id: uuid.UUID
    slug: str
    name: str
    time_zone: str
    daily_quota: int
    hourly_quota: int
    number_daily_quota: int
    opt_out_keywords: list[str]
    opt_in_keywords: list[str]
    alert_webhook_url: str | None
    admin_phone: str | None
    alert_cooldown_s: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        """The public view of a tenant."""
        return cls(**{name: getattr(tenant, name) for name in cls.model_fields})


class TenantUpdate(BaseModel):
    """`PATCH /tenant`: only the fields given change (`null` clears the webhook or the phone)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    time_zone: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+/-]+$")] | None = None
    alert_webhook_url: Annotated[AnyHttpUrl, Field(max_length=2000)] | None = None
    admin_phone: PhoneDigits | None = None
    alert_cooldown_s: Annotated[int, Field(ge=0, le=7 * 86_400)] | None = None


@router.get("", response_model=TenantOut, summary="The authenticated tenant")
async def get_tenant(tenant: CurrentTenant) -> TenantOut:
    """The tenant the API key belongs to."""
    return TenantOut.of(tenant)


@router.patch("", response_model=TenantOut, summary="Change the tenant's settings")
async def update_tenant(body: TenantUpdate, tenant: CurrentTenant, pool: DatabasePool) -> TenantOut:
    """Name, time zone and where admin alerts go (HTTP webhook, admin phone, cool-down)."""
    changes = body.model_dump(exclude_unset=True)
    for column in ("name", "time_zone", "alert_cooldown_s"):
        if column in changes and changes[column] is None:
            del changes[column]  # these cannot be cleared
    if "time_zone" in changes:
        check_time_zone(changes["time_zone"])
    if changes.get("alert_webhook_url") is not None:
        changes["alert_webhook_url"] = str(changes["alert_webhook_url"])
    async with pool.acquire() as conn:
        updated = await repository.update_tenant(conn, tenant.id, changes)
    return TenantOut.of(updated)
