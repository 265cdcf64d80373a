"""Response bodies of the stats routes. Times are in the tenant's time zone (`tenants.time_zone`)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field


class Window(BaseModel):
    """The period an answer covers and how fresh its numbers are."""

    time_zone: str = Field(description="The tenant's time zone; every bucket is in it.")
    start: datetime = Field(description="Inclusive.")
    end: datetime = Field(description="Exclusive.")
    refreshed_at: datetime | None = Field(
        description="When the statistics were last computed (the views refresh every 15 minutes)."
    )


class HourStats(BaseModel):
    """One hour of the tenant's traffic."""

    hour: datetime
    sent: int
    received: int
    failed: int
    responses: int = Field(description="Bursts answered whose first part was sent in this hour.")
    avg_response_time_ms: int | None
    p90_response_time_ms: int | None


class OverviewTotals(BaseModel):
    """The whole period."""

    sent: int
    received: int
    failed: int
    responses: int
    avg_response_time_ms: int | None
    p90_response_time_ms: int | None


class Overview(BaseModel):
    """`GET /stats/overview`."""

    window: Window
    totals: OverviewTotals
    hours: list[HourStats]


class NumberDay(BaseModel):
    """One number's day."""

    day: date
    sent: int
    received: int
    active_conversations: int = Field(description="Conversations with a message in or out that day.")
    outreach_sent: int
    opt_outs: int
    failed: int
    failures_by_code: dict[str, int]


class NumberTotals(BaseModel):
    """One number's period."""

    sent: int
    received: int
    outreach_sent: int
    opt_outs: int
    failed: int
    failures_by_code: dict[str, int]


class NumberStats(BaseModel):
    """One of the tenant's numbers (instances)."""

    instance_id: uuid.UUID
    instance_name: str | None
    totals: NumberTotals
    days: list[NumberDay]


class NumbersOverview(BaseModel):
    """`GET /stats/numbers`."""

    window: Window
    numbers: list[NumberStats]


class CampaignStats(BaseModel):
    """`GET /stats/campaigns/{id}`."""

    campaign_id: uuid.UUID
    name: str
    refreshed_at: datetime | None
    targets: dict[str, int] = Field(description="Targets by state (live), and rows refused at creation.")
    sent: int
    failed: int
    replies_24h: int = Field(description="Targets who wrote back within 24 hours of their message.")
    reply_rate_24h: float | None
    opt_outs: int = Field(description="Targets who opted out after their message.")


class PersonaStats(BaseModel):
    """One persona (`persona_id` 00000000-0000-0000-0000-000000000000: the built-in default)."""

    persona_id: uuid.UUID
    name: str | None
    conversations: int = Field(description="Conversations the persona answered.")
    replies: int
    reply_rate: float | None = Field(description="Share of its conversations where the person wrote back.")
    opt_out_rate: float | None = Field(description="Share of its conversations that ended in an opt-out.")
    avg_time_to_first_response_ms: int | None
    prompt_tokens: int
    completion_tokens: int
    tokens: int
    estimated_cost_usd: float


class PersonasOverview(BaseModel):
    """`GET /stats/personas`."""

    refreshed_at: datetime | None
    personas: list[PersonaStats]


class PairDay(BaseModel):
    """One warm-up pair's day."""

    day: date
    rounds_started: int
    rounds_completed: int
    rounds_ended: int
    avg_round_duration_ms: int | None
    messages: int
    deaf_rounds: int = Field(description="Rounds in which a message never arrived at the other number.")


class PairTotals(BaseModel):
    """One warm-up pair's period."""

    rounds_started: int
    rounds_completed: int
    rounds_ended: int
    avg_round_duration_ms: int | None
    messages: int
    deaf_rounds: int


class PairStats(BaseModel):
    """`GET /stats/warmup/pairs/{id}`."""

    pair_id: uuid.UUID
    name: str
    window: Window
    totals: PairTotals
    days: list[PairDay]
