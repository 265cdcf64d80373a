"""Warm-up round events and the scheduler's turn command."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from contracts._envelope import Envelope, Payload


class RoundStartedData(Payload):
    """The scheduler started a round between two of the tenant's instances."""

    round_id: uuid.UUID
    pair_id: uuid.UUID
    initiator_instance_id: uuid.UUID
    responder_instance_id: uuid.UUID
    planned_turns: int
    script_id: str
    # What the two personas chat about (a pt-BR topic the generator's prompt names).
    topic: str | None = None
    # `cron` (the scheduler's scan) or `manual` (`POST /warmup/pairs/{id}/tick`).
    trigger: str = "cron"


class RoundStarted(Envelope):
    """A warm-up round started (topic `round.started`)."""

    type: Literal["round.started"] = "round.started"
    data: RoundStartedData


class RoundCompletedData(Payload):
    """A warm-up round ended."""

    round_id: uuid.UUID
    pair_id: uuid.UUID
    turns_completed: int
    # `completed` (every planned turn arrived, or the round ended early at a daily cap or at
    # sleeping hours after at least two turns), `deaf` (a turn was sent but never arrived at the
    # peer), `timed_out` (a turn was not written or sent in time) or `aborted` (the pair was
    # paused or deleted, a number disconnected, a cap was reached before two turns).
    outcome: str
    duration_ms: int
    planned_turns: int = 0
    # WhatsApp messages of the round the sender sent, and those that arrived at the peer.
    messages_sent: int = 0
    messages_delivered: int = 0
    initiator_instance_id: uuid.UUID | None = None
    responder_instance_id: uuid.UUID | None = None
    # Why it ended that way, for operators (`deaf: demo-1 -> demo-2`, `daily_cap`, …).
    reason: str | None = None


class RoundCompleted(Envelope):
    """A warm-up round ended (topic `round.completed`)."""

    type: Literal["round.completed"] = "round.completed"
    data: RoundCompletedData


class TurnLine(Payload):
    """One message of the round so far, as it arrived at the other number."""

    speaker_instance_id: uuid.UUID
    text: str


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
    # The id of the turn: the generator's reply row and its sends derive from it, so the
    # scheduler recognises the turn's messages when they arrive (None: derived from the event id).
    turn_id: uuid.UUID | None = None
    # How many WhatsApp messages in a row the speaker sends (1–3).
    messages: int = Field(default=1, ge=1, le=3)
    # A reaction (a lone emoji) instead of text.
    reaction: bool = False
    # The last turn of the round: the speaker wraps the chat up.
    closing: bool = False
    topic: str | None = None
    # The round's messages so far, oldest first.
    history: tuple[TurnLine, ...] = ()
    # What the speaker calls the other side (its persona's or its WhatsApp profile's name).
    listener_name: str | None = None


class RequestTurn(Envelope):
    """Command: write and send one warm-up turn (topic `turn.requested`)."""

    type: Literal["turn.requested"] = "turn.requested"
    data: RequestTurnData
