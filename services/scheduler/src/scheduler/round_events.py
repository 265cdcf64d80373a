"""The events a round stages: `round.started`, `turn.requested`, `round.completed`, the deaf alert.

Every id derives from the round (and the turn), so staging the same step again after a crash
produces the same events, which their consumers drop as duplicates. A round's events share
its id as their correlation id.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from contracts import (
    AdminAlert,
    AdminAlertData,
    AlertCause,
    AlertSeverity,
    RequestTurn,
    RequestTurnData,
    RoundCompleted,
    RoundCompletedData,
    RoundStarted,
    RoundStartedData,
    TurnLine,
    stable_id,
)
from scheduler.repository import EndedRound, NewRound, NumberFacts, TurnRow


def script_id_for(round_id: uuid.UUID) -> str:
    """The `script_id` every message of the round carries (the guard's anti-loop marker)."""
    return f"warmup-{round_id.hex[:16]}"


def turn_id_for(round_id: uuid.UUID, turn_index: int) -> uuid.UUID:
    """The id of one turn: the generator's reply row for it, from which its sends derive."""
    return stable_id("warmup.turn", round_id, turn_index)


def round_started(new: NewRound, planned_turns: int) -> RoundStarted:
    """The round started."""
    return RoundStarted(
        event_id=stable_id("round.started", new.round_id),
        tenant_id=new.tenant_id,
        correlation_id=new.round_id,
        occurred_at=new.started_at,
        data=RoundStartedData(
            round_id=new.round_id,
            pair_id=new.pair_id,
            initiator_instance_id=new.initiator_instance_id,
            responder_instance_id=new.responder_instance_id,
            planned_turns=planned_turns,
            script_id=new.script_id,
            topic=new.topic,
            trigger=new.trigger,
        ),
    )


def turn_requested(
    turn: TurnRow,
    speaker: NumberFacts,
    listener: NumberFacts,
    history: Sequence[tuple[uuid.UUID, str]],
    now: datetime,
) -> RequestTurn:
    """Ask the generator to write and send one turn."""
    if listener.number is None:  # checked by the caller: a number without its own JID is not connected
        raise ValueError(f"{listener.name} has no number to send to")
    return RequestTurn(
        event_id=stable_id("turn.requested", turn.round_id, turn.turn_index),
        tenant_id=turn.tenant_id,
        correlation_id=turn.round_id,
        occurred_at=now,
        data=RequestTurnData(
            round_id=turn.round_id,
            pair_id=turn.pair_id,
            turn_index=turn.turn_index,
            turn_id=turn.turn_id,
            speaker_instance_id=speaker.instance_id,
            speaker_instance_name=speaker.name,
            listener_instance_id=listener.instance_id,
            listener_number=listener.number,
            listener_name=listener.display_name,
            persona_id=speaker.persona_id,
            script_id=turn.script_id,
            messages=turn.messages,
            reaction=turn.reaction,
            closing=turn.turn_index == turn.planned_turns - 1,
            topic=turn.topic,
            history=tuple(TurnLine(speaker_instance_id=who, text=text) for who, text in history),
        ),
    )


def round_completed(ended: EndedRound) -> RoundCompleted:
    """The round ended, with its counts and duration."""
    return RoundCompleted(
        event_id=stable_id("round.completed", ended.round_id),
        tenant_id=ended.tenant_id,
        correlation_id=ended.round_id,
        occurred_at=ended.completed_at,
        data=RoundCompletedData(
            round_id=ended.round_id,
            pair_id=ended.pair_id,
            turns_completed=ended.turns_completed,
            outcome=ended.status,
            duration_ms=max(0, round((ended.completed_at - ended.started_at).total_seconds() * 1000)),
            planned_turns=ended.planned_turns,
            messages_sent=ended.messages_sent,
            messages_delivered=ended.messages_delivered,
            initiator_instance_id=ended.initiator_instance_id,
            responder_instance_id=ended.responder_instance_id,
            reason=ended.end_reason,
        ),
    )


def deaf_alert(
    turn: TurnRow,
    pair_name: str,
    speaker: NumberFacts,
    listener: NumberFacts,
    waited_s: float,
    quarantined_until: datetime,
    now: datetime,
) -> AdminAlert:
    """Messages from `speaker` stopped arriving at `listener`: one alert naming the direction."""
    direction = f"{speaker.name} -> {listener.name}"
    return AdminAlert(
        event_id=stable_id("warmup.deaf", turn.round_id),
        tenant_id=turn.tenant_id,
        correlation_id=turn.round_id,
        occurred_at=now,
        data=AdminAlertData(
            cause=AlertCause.WARMUP_DEAF,
            severity=AlertSeverity.WARNING,
            alert_key=f"{AlertCause.WARMUP_DEAF}:{turn.pair_id}:{speaker.instance_id}:{listener.instance_id}",
            title=f"Warm-up messages from {speaker.name} are not arriving at {listener.name}",
            detail=(
                f"Turn {turn.turn_index + 1} of a warm-up round of {pair_name} was sent from {speaker.name}"
                f" ({speaker.number}) to {listener.name} ({listener.number}) and did not arrive within"
                f" {waited_s:g} s. The pair is quarantined until {quarantined_until.isoformat()}."
            ),
            instance_id=speaker.instance_id,
            context={
                "direction": direction,
                "pair_id": str(turn.pair_id),
                "round_id": str(turn.round_id),
                "from_instance": speaker.name,
                "to_instance": listener.name,
                "from_number": speaker.number or "",
                "to_number": listener.number or "",
                "quarantined_until": quarantined_until.isoformat(),
            },
        ),
    )
