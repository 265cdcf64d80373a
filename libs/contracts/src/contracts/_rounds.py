"""Warm-up round events and the scheduler's turn command."""

from __future__ import annotations

import uuid
from typing import Literal

from contracts._envelope import Envelope, Payload


class RoundStartedData(Payload):
    """The scheduler started a round between two of the tenant's instances."""

    round_id: uuid.UUID
    pair_id: uuid.UUID
    initiator_instance_id: uuid.UUID
    responder_instance_id: uuid.UUID
    planned_turns: int
    script_id: str


class RoundStarted(Envelope):
    """A warm-up round started (topic `round.started`)."""

    type: Literal["round.started"] = "round.started"
    data: RoundStartedData


class RoundCompletedData(Payload):
    """A warm-up round ended."""

    round_id: uuid.UUID
    pair_id: uuid.UUID
    turns_completed: int
    # `completed`, `timed_out` or `aborted`.
    outcome: str
    duration_ms: int


class RoundCompleted(Envelope):
    """A warm-up round ended (topic `round.completed`)."""

    type: Literal["round.completed"] = "round.completed"
    data: RoundCompletedData


class RequestTurnData(Payload):
    """One turn of a warm-up round for the generator to write."""

    round_id: uuid.UUID
    pair_id: uuid.UUID
    turn_index: int
    speaker_instance_id: uuid.UUID
    speaker_instance_name: str
    listener_instance_id: uuid.UUID
    listener_number: str
    persona_id: uuid.UUID | None = None
    script_id: str
    delay_ms: int = 0


class RequestTurn(Envelope):
    """Command: write and send one warm-up turn (topic `turn.requested`)."""

    type: Literal["turn.requested"] = "turn.requested"
    data: RequestTurnData
