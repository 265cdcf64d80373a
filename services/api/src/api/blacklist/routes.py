"""HTTP routes of the blacklist."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.blacklist import repository
from api.blacklist.repository import BlacklistEntry
from api.dependencies import AUTHENTICATED, CurrentTenant, DatabasePool
from api.domain_errors import not_found
from api.errors import AUTHENTICATED_ERRORS, NOT_FOUND
from api.input_types import PhoneDigits, StorableText

router = APIRouter(
    prefix="/blacklist", tags=["blacklist"], dependencies=AUTHENTICATED, responses=AUTHENTICATED_ERRORS
)


class BlacklistAdd(BaseModel):
    """`POST /blacklist`."""

    model_config = ConfigDict(extra="forbid")

    phone: PhoneDigits = Field(description="Any spelling (`+55 (11) 99999-0001`); stored as digits.")
    reason: Annotated[StorableText, Field(max_length=500)] | None = None


class BlacklistEntryOut(BaseModel):
    """A blacklisted phone."""

    phone: str = Field(description="Digits only.")
    reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, entry: BlacklistEntry) -> BlacklistEntryOut:
        """The public view of an entry."""
        return cls(phone=entry.phone, reason=entry.reason, created_at=entry.created_at)


class BlacklistPage(BaseModel):
    """A page of the blacklist, newest first."""

    items: list[BlacklistEntryOut]
    limit: int
    offset: int


@router.get("", response_model=BlacklistPage, summary="List the blacklist")
async def list_blacklist(
    tenant: CurrentTenant,
    pool: DatabasePool,
    phone: Annotated[PhoneDigits | None, Query(description="Only this phone.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> BlacklistPage:
    """The tenant's blacklisted phones."""
    found = await repository.list_for_tenant(pool, tenant.id, phone=phone, limit=limit, offset=offset)
    return BlacklistPage(items=[BlacklistEntryOut.of(item) for item in found], limit=limit, offset=offset)


@router.post(
    "",
    status_code=201,
    response_model=BlacklistEntryOut,
    summary="Blacklist a phone",
    responses={
        200: {"model": BlacklistEntryOut, "description": "Already blacklisted (the reason is updated)."}
    },
)
async def add_to_blacklist(
    body: BlacklistAdd, tenant: CurrentTenant, pool: DatabasePool, response: Response
) -> BlacklistEntryOut:
    """Nothing is ever sent to this phone again, until it is removed (a re-opt-in does not lift it)."""
    entry, created = await repository.add(pool, tenant.id, body.phone, body.reason)
    if not created:
        response.status_code = 200
    return BlacklistEntryOut.of(entry)


@router.delete(
    "/{phone}",
    status_code=204,
    response_class=Response,
    summary="Remove a phone from the blacklist",
    responses=NOT_FOUND,
)
async def remove_from_blacklist(
    phone: Annotated[PhoneDigits, Path(description="The phone, any spelling.")],
    tenant: CurrentTenant,
    pool: DatabasePool,
) -> Response:
    """The phone may be contacted again (an opt-out, if any, still applies)."""
    if not await repository.remove(pool, tenant.id, phone):
        raise not_found("blacklist_entry")
    return Response(status_code=204)
