"""`GET /tenant` and `PATCH /tenant`: the authenticated tenant and its alert settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from api.dependencies import AUTHENTICATED, Context, CurrentTenant, DatabasePool
from api.errors import AUTHENTICATED_ERRORS
from api.input_types import Name, PhoneDigits
from api.tenants import repository
from api.tenants.repository import Tenant
from api.tenants.service import check_time_zone
from contracts import utc_now
from quotas import local_periods

router = APIRouter(
    prefix="/tenant", tags=["tenant"], dependencies=AUTHENTICATED, responses=AUTHENTICATED_ERRORS
)


class QuotasIn(BaseModel):
    """Sending quotas (PRODUCT §4.1); only the ones given change."""

    model_config = ConfigDict(extra="forbid")

    daily: Annotated[int, Field(ge=0, le=10_000_000)] | None = Field(
        default=None, description="Campaign sends per local day, all numbers (default 1000)."
    )
    hourly: Annotated[int, Field(ge=0, le=10_000_000)] | None = Field(
        default=None, description="Campaign sends per local hour, all numbers (default 200)."
    )
    per_number_daily: Annotated[int, Field(ge=0, le=1_000_000)] | None = Field(
        default=None, description="Sends per local day of one number, campaigns and warm-up (default 200)."
    )


class QuotasOut(BaseModel):
    """The tenant's quotas."""

    daily: int
    hourly: int
    per_number_daily: int


class NumberUsageOut(BaseModel):
    """What one number has used of its day."""

    instance: str
    number: str
    used: int


class UsageOut(BaseModel):
    """Today's usage in the tenant's time zone (the Redis counters)."""

    day: str
    hour: str
    daily: int
    hourly: int
    numbers: list[NumberUsageOut]


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
    quotas: QuotasOut
    usage: UsageOut | None = Field(default=None, description="Today's usage (`GET /tenant`).")

    @classmethod
    def of(cls, tenant: Tenant, usage: UsageOut | None = None) -> TenantOut:
        """The public view of a tenant."""
        fields = {name: getattr(tenant, name) for name in cls.model_fields if name not in ("quotas", "usage")}
        quotas = QuotasOut(
            daily=tenant.daily_quota, hourly=tenant.hourly_quota, per_number_daily=tenant.number_daily_quota
        )
        return cls(**fields, quotas=quotas, usage=usage)


class TenantUpdate(BaseModel):
    """`PATCH /tenant`: only the fields given change (`null` clears the webhook or the phone)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    time_zone: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+/-]+$")] | None = None
    alert_webhook_url: Annotated[AnyHttpUrl, Field(max_length=2000)] | None = None
    admin_phone: PhoneDigits | None = None
    alert_cooldown_s: Annotated[int, Field(ge=0, le=7 * 86_400)] | None = None
    quotas: QuotasIn | None = None


@router.get("", response_model=TenantOut, summary="The authenticated tenant")
async def get_tenant(tenant: CurrentTenant, pool: DatabasePool, context: Context) -> TenantOut:
    """The tenant the API key belongs to, its quotas and today's usage."""
    return TenantOut.of(tenant, await _usage(tenant, pool, context))


async def _usage(tenant: Tenant, pool: DatabasePool, context: Context) -> UsageOut:
    periods = local_periods(utc_now(), tenant.time_zone)
    gate = context.campaigns.gate
    numbers = await repository.tenant_numbers(pool, tenant.id)
    keys = [gate.keys.daily(tenant.id, periods), gate.keys.hourly(tenant.id, periods)]
    keys += [gate.keys.number(number, periods) for _, number in numbers]
    used = await gate.used(keys)
    return UsageOut(
        day=periods.day,
        hour=periods.hour,
        daily=used[0],
        hourly=used[1],
        numbers=[
            NumberUsageOut(instance=name, number=number, used=count)
            for (name, number), count in zip(numbers, used[2:], strict=True)
        ],
    )


@router.patch("", response_model=TenantOut, summary="Change the tenant's settings")
async def update_tenant(body: TenantUpdate, tenant: CurrentTenant, pool: DatabasePool) -> TenantOut:
    """Name, time zone and where admin alerts go (HTTP webhook, admin phone, cool-down)."""
    changes = body.model_dump(exclude_unset=True)
    quotas = changes.pop("quotas", None) or {}
    for name, column in (
        ("daily", "daily_quota"),
        ("hourly", "hourly_quota"),
        ("per_number_daily", "number_daily_quota"),
    ):
        if quotas.get(name) is not None:
            changes[column] = quotas[name]
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
