"""A round's turns, each driven by the delivery of the one before.

1. A turn is *due* (the first one when the round starts; every later one a reading-and-thinking
   pause after the previous turn arrived). The leader's timer *requests* it: it checks the pair
   is still active, both numbers connected, the personas awake, takes the turn's messages from
   the speaker's daily budget, and stages `turn.requested` for the generator.
2. The generator writes the turn (its `replies` row, id = the turn's id) and the sender sends it.
3. Each message arriving at the peer number comes back as `message.received` at the peer's
   instance, from the speaker's own number (the own-number registry) — matched to the turn's
   parts by provider id or text. When every part arrived the turn is *delivered*; the next one
   becomes due, or the round completes.
4. A turn not delivered within `turn_timeout_s` ends the round: `deaf` when the sender sent
   everything (the peer never got it: the pair is quarantined and an admin alert names the
   direction), `timed_out` when it was not written or sent in time.

Every step runs in a transaction holding the round's row lock, so the timer on the leader and
the consumers on every replica never step on each other; events go through the outbox.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import structlog

from contracts import ChatKind, Envelope, MessageReceived
from database import Connection
from scheduler import repository
from scheduler.dependencies import Dependencies
from scheduler.pair_view import daily_cap, number_on, side_of
from scheduler.phone_numbers import sender_numbers
from scheduler.repository import PairFacts, TurnMessages, TurnRow
from scheduler.round_events import deaf_alert, round_completed, turn_requested
from warmup_rules import WeeklySchedule, WindowError, round_gap_s

log = structlog.get_logger(__name__)

# Sends the sender may still report as sent: `ambiguous` ones may well have gone out.
_SENT = frozenset({"sent", "ambiguous"})


def match_part(messages: TurnMessages, provider_message_id: str, text: str | None) -> int | None:
    """Which part of the turn an arrived message is: by the provider id the sender recorded,
    else by its text (the first part with that text not arrived yet)."""
    if messages.parts is None:
        return None
    if provider_message_id in messages.arrived_ids:
        return messages.arrived_ids[provider_message_id]
    for part, provider_id in messages.provider_ids.items():
        if provider_id == provider_message_id:
            return part
    if text is None:
        return None
    wanted = text.strip()
    for index, part_text in enumerate(messages.parts):
        if index not in messages.arrived and part_text.strip() == wanted:
            return index
    return None


class TurnFlow:
    """Requests due turns, recognises their arrival at the peer, ends rounds."""

    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps

    # --- 1. requesting a due turn ----------------------------------------------------------

    async def request_due(self) -> int:
        """Request every turn whose time has come; how many were looked at."""
        deps = self.deps
        due = await repository.due_turns(deps.pool, deps.clock(), deps.settings.only_tenants)
        for round_id, turn_index in due:
            await self.request(round_id, turn_index)
        return len(due)

    async def request(self, round_id: uuid.UUID, turn_index: int) -> bool:
        """Request one due turn from the generator (or end its round); False when it was not due."""
        deps = self.deps
        now = deps.clock()
        events: list[Envelope] = []
        async with deps.pool.acquire() as conn, conn.transaction():
            turn = await repository.lock_turn(conn, round_id, turn_index)
            if (
                turn is None
                or turn.status != "planned"
                or turn.round_status != "started"
                or turn.due_at is None
                or turn.due_at > now
            ):
                return False
            facts = await repository.load_pair_facts(conn, turn.pair_id, now)
            events = await self._request_or_end(conn, turn, facts, now)
            staged = await deps.stage(conn, events)
        deps.relay.notify(staged)
        return True

    async def _request_or_end(
        self, conn: Connection, turn: TurnRow, facts: PairFacts | None, now: datetime
    ) -> list[Envelope]:
        deps = self.deps
        if facts is None:
            return await self._end(conn, turn, "aborted", "pair_deleted", now)
        if not facts.active:
            return await self._end(conn, turn, "aborted", "paused", now)
        speaker_side = side_of(facts, turn.speaker_instance_id)
        listener_side = side_of(facts, turn.listener_instance_id)
        if speaker_side is None or listener_side is None:
            return await self._end(conn, turn, "aborted", "pair_changed", now)
        speaker, listener = number_on(facts, speaker_side), number_on(facts, listener_side)
        offline = [number.name for number in (speaker, listener) if not number.connected]
        if offline or speaker.number is None:
            return await self._end(
                conn, turn, "aborted", f"participant_not_connected: {', '.join(offline)}", now
            )
        try:
            awake = WeeklySchedule.of(facts.windows, facts.time_zone).turn_may_go(now)
        except WindowError:
            awake = False
        if not awake:
            return await self._end_early(conn, turn, "sleeping_hours", now)
        cap = daily_cap(facts, speaker, now)
        if not await deps.budget.take(speaker.number, cap, turn.messages, facts.tenant_time_zone, now):
            return await self._end_early(conn, turn, f"daily_cap: {speaker.name} reached {cap}", now)
        history = await repository.load_history(conn, turn.round_id)
        await repository.mark_requested(conn, turn.round_id, turn.turn_index, now)
        deps.metrics.turns_requested.inc()
        log.info(
            "warm-up turn requested",
            round_id=str(turn.round_id),
            turn=turn.turn_index,
            speaker=speaker.name,
            listener=listener.name,
            messages=turn.messages,
        )
        return [turn_requested(turn, speaker, listener, history, now)]

    # --- 3. recognising arrivals -------------------------------------------------------------

    async def on_message_received(self, event: MessageReceived) -> None:
        """A message arrived at one of the tenant's numbers: is it a turn reaching its peer?"""
        data = event.data
        if data.from_me or data.chat_kind is not ChatKind.DIRECT:
            return
        numbers = sender_numbers((data.reply_to, data.chat_jid, data.sender_jid))
        if not numbers:
            return
        # A cheap indexed read for every message; only a warm-up arrival goes on to a transaction.
        awaited = await repository.awaited_turns(self.deps.pool, data.instance_id, numbers, data.sent_at)
        for candidate in awaited:
            if await self._arrive(candidate.round_id, candidate.turn_index, event):
                return

    async def _arrive(self, round_id: uuid.UUID, turn_index: int, event: MessageReceived) -> bool:
        deps = self.deps
        data = event.data
        now = deps.clock()
        async with deps.pool.acquire() as conn, conn.transaction():
            turn = await repository.lock_turn(conn, round_id, turn_index)
            if turn is None or turn.status != "requested" or turn.round_status != "started":
                return False
            messages = await repository.turn_messages(conn, round_id, turn_index, turn.turn_id)
            part = match_part(messages, data.provider_message_id, data.text)
            if part is None or messages.parts is None:
                return False
            inserted = await repository.insert_arrival(
                conn,
                round_id,
                turn_index,
                part,
                turn.tenant_id,
                data.message_id,
                data.provider_message_id,
                data.text,
                now,
            )
            if not inserted:
                return True  # a redelivered event: already counted
            events: list[Envelope] = []
            if messages.arrived | {part} >= set(range(len(messages.parts))):
                events = await self._delivered(conn, turn, messages.parts, now)
            staged = await deps.stage(conn, events)
        deps.relay.notify(staged)
        return True

    async def _delivered(
        self, conn: Connection, turn: TurnRow, parts: list[str], now: datetime
    ) -> list[Envelope]:
        deps = self.deps
        await repository.mark_delivered(conn, turn.round_id, turn.turn_index, "\n".join(parts), now)
        log.info("warm-up turn delivered", round_id=str(turn.round_id), turn=turn.turn_index)
        if turn.turn_index + 1 >= turn.planned_turns:
            return await self._end(conn, turn, "completed", None, now)
        wait = timedelta(seconds=deps.settings.timing.answer_wait(deps.rng))
        await repository.schedule_turn(conn, turn.round_id, turn.turn_index + 1, now + wait)
        return []

    # --- 4. turns that never arrive ----------------------------------------------------------

    async def expire_overdue(self) -> int:
        """End the rounds whose current turn has waited longer than `turn_timeout_s`."""
        deps = self.deps
        deadline = deps.clock() - timedelta(seconds=deps.settings.turn_timeout_s)
        overdue = await repository.overdue_turns(deps.pool, deadline, deps.settings.only_tenants)
        for round_id, turn_index in overdue:
            await self.expire(round_id, turn_index)
        return len(overdue)

    async def expire(self, round_id: uuid.UUID, turn_index: int) -> bool:
        """End the round of a turn that did not arrive in time: deaf, or timed out."""
        deps = self.deps
        now = deps.clock()
        timeout = deps.settings.turn_timeout_s
        async with deps.pool.acquire() as conn, conn.transaction():
            turn = await repository.lock_turn(conn, round_id, turn_index)
            if (
                turn is None
                or turn.status != "requested"
                or turn.round_status != "started"
                or turn.requested_at is None
                or turn.requested_at + timedelta(seconds=timeout) > now
            ):
                return False
            messages = await repository.turn_messages(conn, round_id, turn_index, turn.turn_id)
            facts = await repository.load_pair_facts(conn, turn.pair_id, now)
            events = await self._expired(conn, turn, messages, facts, now)
            staged = await deps.stage(conn, events)
        deps.relay.notify(staged)
        return True

    async def _expired(
        self, conn: Connection, turn: TurnRow, messages: TurnMessages, facts: PairFacts | None, now: datetime
    ) -> list[Envelope]:
        deps = self.deps
        number = turn.turn_index + 1
        if messages.parts is None:
            return await self._end(conn, turn, "timed_out", f"turn {number} was not written in time", now)
        unsent = [i for i in range(len(messages.parts)) if messages.sends.get(i) not in _SENT]
        if unsent:
            statuses = ", ".join(f"part {i + 1}: {messages.sends.get(i, 'not sent')}" for i in unsent)
            return await self._end(conn, turn, "timed_out", f"turn {number} was not sent ({statuses})", now)
        speaker_side = side_of(facts, turn.speaker_instance_id) if facts else None
        listener_side = side_of(facts, turn.listener_instance_id) if facts else None
        if facts is None or speaker_side is None or listener_side is None:
            return await self._end(conn, turn, "aborted", "pair_deleted", now)
        speaker, listener = number_on(facts, speaker_side), number_on(facts, listener_side)
        until = now + timedelta(hours=deps.settings.quarantine_h)
        reason = f"deaf: {speaker.name} -> {listener.name}"
        log.warning("warm-up messages did not arrive", round_id=str(turn.round_id), direction=reason)
        ended = await self._end(conn, turn, "deaf", reason, now, quarantined_until=until)
        alert = deaf_alert(turn, facts.name, speaker, listener, deps.settings.turn_timeout_s, until, now)
        return [*ended, alert]

    # --- ending a round ----------------------------------------------------------------------

    async def _end_early(self, conn: Connection, turn: TurnRow, reason: str, now: datetime) -> list[Envelope]:
        # Two delivered turns are a conversation; fewer is a round that did not happen.
        status = "completed" if turn.turns_completed >= 2 else "aborted"
        return await self._end(conn, turn, status, reason, now)

    async def _end(
        self,
        conn: Connection,
        turn: TurnRow,
        status: str,
        reason: str | None,
        now: datetime,
        *,
        quarantined_until: datetime | None = None,
    ) -> list[Envelope]:
        deps = self.deps
        min_gap_s, jitter_s = await repository.pair_gap(conn, turn.pair_id)
        next_start = now + timedelta(seconds=round_gap_s(min_gap_s, jitter_s, deps.rng))
        ended = await repository.end_round(
            conn, turn.round_id, status, reason, now, next_start, quarantined_until=quarantined_until
        )
        if ended is None:
            return []
        deps.metrics.rounds_ended.labels(status).inc()
        log.info(
            "warm-up round ended",
            round_id=str(turn.round_id),
            outcome=status,
            reason=reason,
            turns=ended.turns_completed,
        )
        return [round_completed(ended)]
