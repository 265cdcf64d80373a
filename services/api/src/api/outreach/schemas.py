"""Request and response bodies of `/outreach/campaigns` (PRODUCT §4.1)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from api.input_types import Name, StorableText
from api.warmup.schemas import WindowIn

MAX_CONTACTS = 100_000

InstanceName = Annotated[StorableText, Field(min_length=1, max_length=100, examples=["demo-1"])]


class ContactIn(BaseModel):
    """One contact: a phone in any spelling, and the template's variables for it."""

    model_config = ConfigDict(extra="forbid")

    # Any JSON value: a phone that is not a number is reported per row, not fatal.
    phone: JsonValue = Field(examples=["+55 (11) 99999-0001"])
    variables: dict[str, JsonValue] = Field(default_factory=dict, examples=[{"name": "Ana"}])

    @model_validator(mode="after")
    def _storable(self) -> ContactIn:
        # PostgreSQL's jsonb holds neither NUL characters nor lone surrogates. This runs once
        # per contact (up to 100,000 per campaign), so orjson checks first: it writes NUL as
        # the escape `\u0000`. What it refuses (a lone surrogate, an integer beyond 64 bits,
        # which jsonb stores) is checked by the standard library's encoder.
        try:
            encoded = orjson.dumps(self.variables)
        except orjson.JSONEncodeError:
            try:
                encoded = json.dumps(self.variables, ensure_ascii=False).encode("utf-8")
            except (UnicodeEncodeError, ValueError) as error:
                raise ValueError("variables must be valid Unicode text") from error
        if _NUL_ESCAPE.search(encoded):
            raise ValueError("variables must not contain NUL characters")
        return self


# A `\u0000` escape in JSON text: not itself escaped (an even number of backslashes before it),
# so the text `\\u0000` (a backslash, then "u0000") is no NUL.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class PacingIn(BaseModel):
    """The pause between two campaign sends of one number: drawn uniformly between the bounds,
    then jittered by ±15 %, never a fixed interval."""

    model_config = ConfigDict(extra="forbid")

    min_gap_s: float = Field(default=20.0, ge=0, le=86_400)
    max_gap_s: float = Field(default=60.0, ge=0, le=86_400)

    @model_validator(mode="after")
    def _ordered(self) -> PacingIn:
        if self.max_gap_s < self.min_gap_s:
            raise ValueError("max_gap_s must not be less than min_gap_s")
        return self


class CampaignCreate(BaseModel):
    """`POST /outreach/campaigns`."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    instances: Annotated[list[InstanceName], Field(min_length=1, max_length=50)]
    contacts: Annotated[list[ContactIn], Field(min_length=1, max_length=MAX_CONTACTS)]
    template: Annotated[
        StorableText, Field(min_length=1, max_length=4_096, examples=["Oi {{name}}, tudo bem?"])
    ]
    window: Annotated[list[WindowIn], Field(max_length=50)] | None = Field(
        default=None, description="Weekly windows in the tenant's time zone; none: any time."
    )
    pacing: PacingIn | None = None
    personalise: bool = Field(
        default=False,
        description=(
            "Rewrite each message in the sending number's persona through the generator's model,"
            " keeping every number, date and link; the rendered template goes out when it cannot."
        ),
    )


class RejectedOut(BaseModel):
    """A row that will not be contacted (`row` is its index in `contacts`, from 0)."""

    row: int
    phone: str
    reason: Literal["invalid_phone", "duplicate", "opted_out", "blacklisted"]


class ReportOut(BaseModel):
    """What became of the rows."""

    accepted: int
    rejected: list[RejectedOut]


CampaignState = Literal["running", "paused", "cancelled", "completed"]


class CampaignCreated(BaseModel):
    """`201` of `POST /outreach/campaigns`."""

    id: uuid.UUID
    state: CampaignState
    report: ReportOut


class CountsOut(BaseModel):
    """Targets by state."""

    queued: int = 0
    rescheduled: int = 0
    sending: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0


class CampaignOut(BaseModel):
    """A campaign and its progress."""

    id: uuid.UUID
    name: str
    state: CampaignState
    instances: list[str]
    template: str
    window: list[dict[str, Any]]
    pacing: dict[str, Any]
    personalise: bool
    accepted: int
    rejected: int
    counts: CountsOut
    created_at: datetime
    updated_at: datetime


class CampaignList(BaseModel):
    """A page of campaigns, newest first."""

    items: list[CampaignOut]
    limit: int
    offset: int


TargetState = Literal["queued", "rescheduled", "sending", "sent", "skipped", "failed"]


class TargetOut(BaseModel):
    """One contacted (or to be contacted) row."""

    id: uuid.UUID
    row: int
    phone: str
    state: TargetState
    reason: str | None = Field(description="Why it was skipped, failed or rescheduled.")
    next_attempt_at: datetime | None = Field(description="When a waiting target is due.")
    instance: str | None = Field(description="The number it is sent from (sticky per contact).")
    attempts: int
    updated_at: datetime | None


class TargetPage(BaseModel):
    """A page of a campaign's targets, in row order."""

    items: list[TargetOut]
    limit: int
    offset: int
    total: int
