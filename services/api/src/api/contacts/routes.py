"""`/contacts/{phone}/consent` and `/contacts/{phone}/erase` (LGPD art. 8 and 18)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.contacts import repository
from api.dependencies import AUTHENTICATED, CurrentTenant, DatabasePool
from api.errors import AUTHENTICATED_ERRORS
from api.input_types import PhoneDigits
from contracts.phones import digit_variants, suppression_hash

router = APIRouter(
    prefix="/contacts", tags=["contacts"], dependencies=AUTHENTICATED, responses=AUTHENTICATED_ERRORS
)

Phone = Annotated[PhoneDigits, Path(description="The contact's number in any spelling.")]


class ConsentEventOut(BaseModel):
    """One consent change, as evidence."""

    occurred_at: datetime
    action: str = Field(description="`opt_out` or `opt_in`.")
    source: str = Field(description="`inbound_keyword`, `api`, …")
    keyword: str | None
    message_id: uuid.UUID | None
    text: str | None = Field(description="The message that carried it (null once erased).")
    channel: str = Field(description="`whatsapp` (a message) or `api`.")
    instance: str | None = Field(description="The number the message reached.")


class ConsentOut(BaseModel):
    """A contact's consent: where it stands and every event that led there."""

    phone: str
    opted_out: bool
    opted_out_at: datetime | None
    blacklisted: bool
    erased: bool
    events: list[ConsentEventOut]


class ErasedOut(BaseModel):
    """What an erasure removed; the number is suppressed for good."""

    phone_hash: str
    suppressed: bool
    contacts: int
    messages: int
    raw_events: int
    campaign_rows: int


@router.get("/{phone}/consent", response_model=ConsentOut, summary="Export a contact's consent evidence")
async def export_consent(phone: Phone, tenant: CurrentTenant, pool: DatabasePool) -> ConsentOut:
    """Every consent event (time, source, message id, text, keyword, channel), oldest first."""
    phones = list(digit_variants(phone))
    events = await repository.consent_events(pool, tenant.id, phones)
    found = await repository.standing(pool, tenant.id, phones, suppression_hash(tenant.id, phone))
    return ConsentOut(
        phone=phone,
        opted_out=found.opted_out,
        opted_out_at=found.opted_out_at,
        blacklisted=found.blacklisted,
        erased=found.erased,
        events=[ConsentEventOut(**vars(event)) for event in events],
    )


@router.post("/{phone}/erase", response_model=ErasedOut, summary="Erase a contact's personal data")
async def erase_contact(phone: Phone, tenant: CurrentTenant, pool: DatabasePool) -> ErasedOut:
    """Blank message texts, names and raw webhook bodies of the contact, keep a hashed
    suppression entry so the number is never contacted again. Idempotent."""
    phones = list(digit_variants(phone))
    phone_hash = suppression_hash(tenant.id, phone)
    async with pool.acquire() as conn, conn.transaction():
        erased = await repository.erase(conn, tenant.id, phones, phone_hash)
    return ErasedOut(phone_hash=phone_hash, suppressed=True, **vars(erased))
