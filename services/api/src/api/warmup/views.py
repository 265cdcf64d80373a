"""What the warm-up routes show: stored rows turned into their public form, with the ramp."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from api.warmup.repository import Pair, PairNumber, RoundRow, TurnView
from api.warmup.schemas import MessageOut, PairNumberOut, PairOut, RoundOut, TurnOut, TurnsOut
from contracts.phones import phone_digits
from warmup_rules import (
    Profile,
    WeeklySchedule,
    WindowError,
    age_today,
    number_daily_cap,
    rounds_per_day,
    stage_for,
)


def number_out(number: PairNumber, profile: Profile, tenant_cap: int, now: datetime) -> PairNumberOut:
    """A number of a pair with its ramp stage and daily cap today."""
    age = age_today(number.declared_age_days, number.declared_at, now)
    stage = stage_for(age)
    return PairNumberOut(
        id=number.id,
        name=number.name,
        state=number.state,
        number=(phone_digits(number.owner_jid) or None) if number.owner_jid else None,
        age_days=age,
        ramp_stage=stage.name,
        initiates=stage.initiates,
        daily_cap=number_daily_cap(age, profile, tenant_cap),
    )


def pair_out(pair: Pair, now: datetime) -> PairOut:
    """The public view of a pair."""
    profile = Profile(pair.profile)
    try:
        next_window = WeeklySchedule.of(pair.windows, pair.time_zone).next_opening(now)
    except WindowError:
        next_window = None
    quarantined = pair.quarantined_until is not None and pair.quarantined_until > now
    status: Literal["active", "paused", "quarantined"] = "active"
    if not pair.active:
        status = "paused"
    elif quarantined:
        status = "quarantined"
    return PairOut(
        id=pair.id,
        name=pair.name,
        status=status,
        instance_a=number_out(pair.a, profile, pair.number_daily_quota, now),
        instance_b=number_out(pair.b, profile, pair.number_daily_quota, now),
        persona_a=pair.persona_a_id,
        persona_b=pair.persona_b_id,
        time_zone=pair.time_zone,
        windows=pair.windows,
        min_gap_minutes=pair.min_delay_s / 60,
        gap_jitter_minutes=pair.jitter_s / 60,
        turns=TurnsOut(min=pair.min_turns, max=pair.max_turns),
        profile=pair.profile,
        max_rounds_per_day=rounds_per_day(profile, pair.max_rounds_per_day),
        initiator=pair.initiator_mode,
        initiator_weight_a=pair.initiator_weight_a,
        quarantined_until=pair.quarantined_until if quarantined else None,
        quarantine_reason=pair.quarantine_reason if quarantined else None,
        last_round_at=pair.last_round_started_at,
        next_round_not_before=pair.next_round_not_before,
        next_window_at=next_window,
        created_at=pair.created_at,
        updated_at=pair.updated_at,
    )


def turn_out(turn: TurnView) -> TurnOut:
    """One turn with its messages."""
    sent = [part.sent_at for part in turn.parts if part.sent_at is not None]
    return TurnOut(
        index=turn.index,
        from_=turn.speaker,
        to=turn.listener,
        text="\n".join(part.text for part in turn.parts) if turn.parts else None,
        reaction=turn.reaction,
        status=turn.status,
        requested_at=turn.requested_at,
        sent_at=min(sent) if sent else None,
        delivered_at=turn.delivered_at,
        messages=[
            MessageOut(
                text=part.text, status=part.status, sent_at=part.sent_at, delivered_at=part.delivered_at
            )
            for part in turn.parts
        ],
    )


def round_out(row: RoundRow, turns: list[TurnView]) -> RoundOut:
    """One round with its turns."""
    duration = (
        round((row.completed_at - row.started_at).total_seconds() * 1000)
        if row.completed_at is not None
        else None
    )
    return RoundOut(
        id=row.id,
        state=row.status,
        trigger=row.trigger,
        topic=row.topic,
        script_id=row.script_id,
        initiator=row.initiator,
        responder=row.responder,
        planned_turns=row.planned_turns,
        turns_completed=row.turns_completed,
        messages_sent=row.messages_sent,
        messages_delivered=row.messages_delivered,
        started_at=row.started_at,
        completed_at=row.completed_at,
        duration_ms=duration,
        reason=row.end_reason,
        turns=[turn_out(turn) for turn in turns if turn.round_id == row.id],
    )
