"""Request and response bodies of the warm-up routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.input_types import Name, StorableText
from warmup_rules import WindowError, parse_windows, zone_of

DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Clock = Annotated[str, Field(pattern=r"^([01]\d|2[0-4]):[0-5]\d$", examples=["08:00"])]
ProfileName = Literal["soft", "normal", "aggressive"]
InitiatorMode = Literal["alternate", "weighted"]
InstanceRef = Annotated[
    StorableText,
    Field(min_length=1, max_length=100, description="The instance's name (or id).", examples=["demo-1"]),
]
AgeDays = Annotated[int, Field(ge=0, le=36_500, description="How many days old the number is (declared).")]


class WindowIn(BaseModel):
    """A weekly window in the pair's time zone; `end` before `start` crosses midnight."""

    model_config = ConfigDict(extra="forbid")

    days: Annotated[list[DayName], Field(min_length=1, max_length=7)]
    start: Clock
    end: Clock = Field(description="`24:00` ends at midnight; earlier than `start`: the next day.")


class TurnsIn(BaseModel):
    """How many turns a round has: each side's go counts as one."""

    model_config = ConfigDict(extra="forbid")

    min: int = Field(default=2, ge=2, le=6)
    max: int = Field(default=6, ge=2, le=6)

    @model_validator(mode="after")
    def _ordered(self) -> TurnsIn:
        if self.min > self.max:
            raise ValueError("turns.min cannot exceed turns.max")
        return self


def _check_windows(windows: list[WindowIn] | None) -> list[WindowIn] | None:
    if windows is not None:
        try:
            parse_windows(window.model_dump() for window in windows)
        except WindowError as error:
            raise ValueError(str(error)) from None
    return windows


def _check_zone(value: str | None) -> str | None:
    if value is not None:
        try:
            zone_of(value)
        except WindowError as error:
            raise ValueError(str(error)) from None
    return value


class PairSettings(BaseModel):
    """What can be set on a pair at creation and changed later."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    persona_a: uuid.UUID | None = Field(default=None, description="Who speaks for number A; none: its own.")
    persona_b: uuid.UUID | None = Field(default=None, description="Who speaks for number B; none: its own.")
    time_zone: str | None = Field(
        default=None,
        description="IANA zone of the windows; the tenant's zone when omitted.",
        examples=["America/Sao_Paulo"],
    )
    windows: Annotated[list[WindowIn], Field(max_length=50)] | None = Field(
        default=None, description="Weekly windows; empty: any waking hour (07:00–24:00) of any day."
    )
    min_gap_minutes: int | None = Field(
        default=None, ge=0, le=10_080, description="Minimum rest between rounds."
    )
    gap_jitter_minutes: int | None = Field(default=None, ge=0, le=1_440, description="Random extra rest.")
    turns: TurnsIn | None = None
    profile: ProfileName | None = None
    max_rounds_per_day: int | None = Field(default=None, ge=0, le=500, description="Default: the profile's.")
    initiator: InitiatorMode | None = Field(default=None, description="Alternate the opener, or draw it.")
    initiator_weight_a: float | None = Field(
        default=None, ge=0, le=1, description="Chance A opens (weighted)."
    )
    age_a_days: AgeDays | None = None
    age_b_days: AgeDays | None = None

    _windows = field_validator("windows")(_check_windows)
    _zone = field_validator("time_zone")(_check_zone)


class PairCreate(PairSettings):
    """`POST /warmup/pairs`."""

    instance_a: InstanceRef
    instance_b: InstanceRef


class PairUpdate(PairSettings):
    """`PATCH /warmup/pairs/{id}`: only the fields given change (`null` leaves a field unchanged)."""

    active: bool | None = Field(default=None, description="False pauses the pair (like `/pause`).")


class PairNumberOut(BaseModel):
    """One number of a pair, with its ramp."""

    id: uuid.UUID
    name: str
    state: str
    number: str | None = Field(description="The number's digits (its own WhatsApp JID).")
    age_days: int | None = Field(description="Declared age today; null: not declared (taken as established).")
    ramp_stage: str
    initiates: bool = Field(description="False while the number still receives first.")
    daily_cap: int = Field(
        description="Sends a day at its age and the pair's profile (shared with outreach)."
    )


class TurnsOut(BaseModel):
    """Turns a round has."""

    min: int
    max: int


class PairOut(BaseModel):
    """A warm-up pair."""

    id: uuid.UUID
    name: str
    status: Literal["active", "paused", "quarantined"]
    instance_a: PairNumberOut
    instance_b: PairNumberOut
    persona_a: uuid.UUID | None
    persona_b: uuid.UUID | None
    time_zone: str
    windows: list[dict[str, Any]]
    min_gap_minutes: float
    gap_jitter_minutes: float
    turns: TurnsOut
    profile: str = Field(description="soft, normal or aggressive.")
    max_rounds_per_day: int = Field(description="Effective: the pair's own, else its profile's.")
    initiator: str = Field(description="alternate or weighted.")
    initiator_weight_a: float
    quarantined_until: datetime | None
    quarantine_reason: str | None
    last_round_at: datetime | None
    next_round_not_before: datetime | None
    next_window_at: datetime | None = Field(
        description="When the next round could start by the windows alone."
    )
    created_at: datetime
    updated_at: datetime


class PairList(BaseModel):
    """A page of pairs."""

    items: list[PairOut]
    limit: int
    offset: int


class TickOut(BaseModel):
    """What the scheduler decided for the pair now."""

    decision: Literal["started", "skipped"]
    reason: str | None = Field(
        description="Why it skipped: outside_window, sleeping_hours, too_recent, participant_not_connected,"
        " paused, daily_cap, quarantined, round_in_progress, ramp_receive_first."
    )
    detail: str
    round_id: uuid.UUID | None


class MessageOut(BaseModel):
    """One WhatsApp message of a turn."""

    text: str
    status: str | None = Field(description="The sender's status of the send (sending, sent, failed…).")
    sent_at: datetime | None
    delivered_at: datetime | None = Field(description="When it arrived at the peer number.")


class TurnOut(BaseModel):
    """One side's go: 1–3 messages, or a reaction."""

    model_config = ConfigDict(populate_by_name=True)

    index: int
    from_: str = Field(alias="from", serialization_alias="from")
    to: str
    text: str | None = Field(description="The turn's messages, one per line; null until written.")
    reaction: bool
    status: str = Field(description="planned, requested (being written and sent), delivered or abandoned.")
    requested_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None = Field(description="When its last message arrived at the peer number.")
    messages: list[MessageOut]


class RoundOut(BaseModel):
    """One round of a pair."""

    id: uuid.UUID
    state: str = Field(description="started, completed, timed_out, deaf or aborted.")
    trigger: str = Field(description="cron (the scheduler's scan) or manual (a tick).")
    topic: str | None
    script_id: str
    initiator: str
    responder: str
    planned_turns: int
    turns_completed: int
    messages_sent: int
    messages_delivered: int
    started_at: datetime
    completed_at: datetime | None
    duration_ms: int | None
    reason: str | None
    turns: list[TurnOut]


class RoundList(BaseModel):
    """A page of a pair's rounds, newest first."""

    items: list[RoundOut]
    limit: int
    offset: int


class SkipOut(BaseModel):
    """Consecutive scans that skipped the pair for one reason."""

    reason: str
    detail: str
    trigger: str
    occurrences: int
    first_at: datetime
    last_at: datetime


class SkipList(BaseModel):
    """The pair's latest skips, newest first."""

    items: list[SkipOut]
