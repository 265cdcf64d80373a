"""One send, from command to outcome: gates, presence, attempts, and the ledger that
makes it happen at most once.

The rules, in the order a send meets them:

1. The `sends` row is created first (idempotent by send id) and committed.
2. Before every attempt the gates run and the attempt is marked in flight
   (`attempts + 1`) in one transaction, committed before the HTTP call.
3. A definite answer settles or releases the row: sent (with the provider id),
   failed (4xx at once, retryable errors after the last attempt; dead-lettered),
   or released for the next attempt after a backoff.
4. An answer that never came (timeout after the request went out), or a row found
   in flight by a redelivered command (the consumer died mid-call), is never
   repeated: the send's `send.message` echo decides it was sent, otherwise it is
   ambiguous and an operator is alerted.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import asyncpg
import structlog

from contracts import AMBIGUOUS_FAILURE_CODE, AlertCause, Envelope, MessageFailed, SendText
from database import Connection, Pool
from evolution_client import (
    EvolutionClient,
    EvolutionError,
    EvolutionForbiddenError,
    EvolutionNotFoundError,
    EvolutionOutcomeUnknownError,
    EvolutionReplyError,
    EvolutionUnauthorizedError,
    EvolutionUnavailableError,
    NumberNotOnWhatsAppError,
    SentMessage,
)
from messaging import Outbox, PermanentFailure, StagedEvent, backoff_delay_s
from sender import repository
from sender.gates import InstanceAccess, Refusal, check_gates
from sender.outcomes import (
    PRODUCER,
    ambiguity_resolved_alert,
    message_failed,
    message_sent,
    send_alert,
)
from sender.recipients import digit_variants, recipient_digits
from sender.repository import SendRow
from sender.retries import FailureVerdict, judge_failure
from sender.settings import SenderSettings
from service_runtime import BoundAtStartup

log = structlog.get_logger(__name__)

CONSUMER = "sender"

# Slack between the longest an attempt may take and the moment another consumer may
# judge it abandoned (commit latency, clock steps between the call and the database).
_IN_FLIGHT_MARGIN_S = 2.0
# Added to connect + read + delay: the hard bound on one sendText call.
_ATTEMPT_SLACK_S = 1.0

_SETTLED_QUIETLY = frozenset({"sent", "refused", "ambiguous"})


class OutboxNotifier(Protocol):
    """The part of `OutboxRelay` the service needs: hand over committed rows."""

    def notify(self, staged: Iterable[StagedEvent]) -> None:
        """Publish rows the caller just committed."""


class _SupersededError(Exception):
    """The row changed under this handler: roll back and look again."""


@dataclass(frozen=True)
class _KnownAnswer:
    """An accepted send whose recording failed: kept so an in-process retry records it."""

    attempt: int
    sent: SentMessage


@dataclass(frozen=True)
class _Ready:
    """The gates passed (and, when asked, the attempt is marked in flight)."""

    access: InstanceAccess
    row: SendRow


@dataclass(frozen=True)
class _Next:
    """The step ended; look at `row` next (None: the send is finished here)."""

    row: SendRow | None


def failure_code(error: EvolutionError) -> str:
    """A short machine-readable name for a definite Evolution failure."""
    if isinstance(error, NumberNotOnWhatsAppError):
        return "number_not_on_whatsapp"
    if isinstance(error, EvolutionUnauthorizedError):
        return "unauthorized"
    if isinstance(error, EvolutionForbiddenError):
        return "forbidden"
    if isinstance(error, EvolutionNotFoundError):
        return "instance_not_found_at_evolution"
    if isinstance(error, EvolutionReplyError):
        return "error_reply"
    if isinstance(error, EvolutionUnavailableError):
        return f"http_{error.status}" if error.status else "unavailable"
    if error.retryable:
        return "unreachable"
    return f"http_{error.status}" if error.status else "rejected"


class SendService:
    """Takes `send.requested` commands to their outcome; safe under redelivery and rebalances."""

    pool = BoundAtStartup[Pool]()
    evolution = BoundAtStartup[EvolutionClient]()
    # Where committed outbox rows go.
    relay = BoundAtStartup[OutboxNotifier]()

    def __init__(
        self,
        *,
        settings: SenderSettings,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.outbox = Outbox(PRODUCER, namespace=settings.kafka.topic_prefix)
        self._sleep = sleep
        self._rng = rng
        self._answers: dict[uuid.UUID, _KnownAnswer] = {}

    def bind(self, *, pool: Pool, evolution: EvolutionClient, relay: OutboxNotifier) -> None:
        """Attach the dependencies opened at start-up (before the consumer starts)."""
        self.pool, self.evolution, self.relay = pool, evolution, relay

    @property
    def max_attempts(self) -> int:
        """HTTP attempts a send gets in total."""
        return self.settings.retry.attempts

    async def send(self, command: SendText) -> None:
        """Take one command to its outcome; raises `PermanentFailure` for a failed send."""
        data = command.data
        digits = recipient_digits(data.to)
        variants = digit_variants(digits)
        with structlog.contextvars.bound_contextvars(send_id=str(data.send_id), instance=data.instance_name):
            row: SendRow | None = await self._open(command, digits, variants)
            while row is not None:
                row = await self._advance(command, row, variants)

    async def _open(self, command: SendText, digits: str, variants: tuple[str, ...]) -> SendRow | None:
        """Create the send's row and, when the gates let it through, make its first attempt.

        The common path is two commits: the row is created with its first attempt already
        in flight (the gates were read just before), and the outcome is settled with its
        events. A redelivered command finds its row and goes on from its state instead;
        the one cost of a redelivery is that "composing…" may be shown again before that.
        """
        data = command.data
        facts = await repository.recipient_facts(
            self.pool,
            tenant_id=command.tenant_id,
            instance_id=data.instance_id,
            contact_id=data.contact_id,
            to=data.to,
            digit_variants=variants,
        )
        access = facts.instance if check_gates(data.purpose, facts) is None else None
        if access is not None and self._wants_presence(data.typing_delay_ms):
            await self._show_presence(command, access)
        in_flight_for_s = self._in_flight_for_s(data.typing_delay_ms) if access is not None else None
        try:
            row, created = await repository.insert_send(
                self.pool, command, digits, in_flight_for_s=in_flight_for_s
            )
        except asyncpg.ForeignKeyViolationError as error:
            raise PermanentFailure(f"unknown tenant {command.tenant_id}") from error
        if created and access is not None:
            return await self._call(command, row, access, variants)
        # Refused (the gates run again and record why), or a redelivery: go on from the row.
        return row

    async def _advance(self, command: SendText, row: SendRow, variants: tuple[str, ...]) -> SendRow | None:
        """One step from the row's current state; the row to look at next, or None when done."""
        if row.status == "failed":
            # Dead-lettered again (it is a failed command), but its alert was raised once.
            raise PermanentFailure(f"send failed earlier: {row.failure_code}: {row.last_error}")
        if row.status in _SETTLED_QUIETLY:
            log.info("send already settled; nothing to do", status=row.status)
            return None
        if row.in_flight:
            return await self._resume_in_flight(command, row, variants)
        return await self._attempt(command, row, variants)

    # --- a row found in flight ------------------------------------------------------

    async def _resume_in_flight(
        self, command: SendText, row: SendRow, variants: tuple[str, ...]
    ) -> SendRow | None:
        known = self._answers.get(row.send_id)
        if known is not None and known.attempt == row.attempts:
            # This process has the answer; only recording it failed (database hiccup).
            return await self._record_sent(command, attempt=known.attempt, provider_message_id=known.sent.id)
        if row.in_flight_remaining_s > 0:
            # Another consumer (a rebalance) may still be waiting for Evolution's answer.
            return await self._await_attempt_end(row)
        log.warning("send found in flight: the sender stopped mid-call", attempt=row.attempts)
        return await self._resolve_unknown(
            command,
            row,
            variants,
            reason="the sender stopped while the attempt was in flight",
            just_ended=False,
        )

    async def _await_attempt_end(self, row: SendRow) -> SendRow:
        log.info("send in flight elsewhere; waiting", remaining_s=round(row.in_flight_remaining_s, 2))
        while True:
            await self._sleep(min(self.settings.poll_interval_s, row.in_flight_remaining_s + 0.05))
            fresh = await self._load(row.send_id)
            moved = (fresh.status, fresh.in_flight, fresh.attempts) != (
                row.status,
                row.in_flight,
                row.attempts,
            )
            if moved or fresh.in_flight_remaining_s <= 0:
                return fresh

    # --- one attempt ----------------------------------------------------------------

    def _wants_presence(self, typing_delay_ms: int) -> bool:
        return self.settings.presence.enabled and typing_delay_ms > 0

    async def _attempt(self, command: SendText, row: SendRow, variants: tuple[str, ...]) -> SendRow | None:
        data = command.data
        if row.attempts == 0 and self._wants_presence(data.typing_delay_ms):
            # Gates before the presence too: an opted-out contact must not even see "typing…".
            gated = await self._gate(command, row, variants, begin=False)
            if isinstance(gated, _Next):
                return gated.row
            await self._show_presence(command, gated.access)
        gated = await self._gate(command, row, variants, begin=True)
        if isinstance(gated, _Next):
            return gated.row
        return await self._call(command, gated.row, gated.access, variants)

    async def _call(
        self, command: SendText, row: SendRow, access: InstanceAccess, variants: tuple[str, ...]
    ) -> SendRow | None:
        """The HTTP call of the attempt `row` has in flight, and what its answer means."""
        data = command.data
        bound_s = self._attempt_bound_s(data.typing_delay_ms)
        log.info("sending", attempt=row.attempts, typing_delay_ms=data.typing_delay_ms)
        try:
            async with asyncio.timeout(bound_s):
                sent = await self.evolution.send_text(
                    access.name,
                    number=data.to,
                    text=data.text,
                    delay_ms=data.typing_delay_ms,
                    token=access.token,
                )
        except TimeoutError:
            failure: EvolutionError = EvolutionOutcomeUnknownError(
                None, f"no answer within {bound_s:.1f}s", method="POST", path="/message/sendText"
            )
        except EvolutionError as error:
            failure = error
        else:
            self._answers[data.send_id] = _KnownAnswer(row.attempts, sent)
            return await self._record_sent(command, attempt=row.attempts, provider_message_id=sent.id)
        return await self._after_failure(command, row, variants, failure)

    def _attempt_bound_s(self, typing_delay_ms: int) -> float:
        evolution = self.settings.evolution
        return (
            evolution.connect_timeout_s + evolution.read_timeout_s + typing_delay_ms / 1000 + _ATTEMPT_SLACK_S
        )

    async def _gate(
        self, command: SendText, row: SendRow, variants: tuple[str, ...], *, begin: bool
    ) -> _Ready | _Next:
        """Run the gates; refuse, give up, or (with `begin`) mark the next attempt in flight."""
        data = command.data
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    facts = await repository.recipient_facts(
                        conn,
                        tenant_id=command.tenant_id,
                        instance_id=data.instance_id,
                        contact_id=data.contact_id,
                        to=data.to,
                        digit_variants=variants,
                    )
                    refusal = check_gates(data.purpose, facts)
                    if refusal is None and row.attempts < self.max_attempts:
                        access = facts.instance
                        if access is None:  # pragma: no cover - check_gates refuses a missing instance
                            raise RuntimeError("the gates let a send through without an instance")
                        if begin:
                            row = await self._begin_attempt(conn, row, data.typing_delay_ms)
                        return _Ready(access, row)
                    if refusal is not None:
                        staged = await self._stage_refusal(conn, command, row, refusal)
                    else:
                        staged = await self._stage_out_of_attempts(conn, command, row)
            except _SupersededError:
                return _Next(await repository.load_send(conn, row.send_id))
        self.relay.notify(staged)
        if refusal is None:
            raise PermanentFailure(f"exhausted: {row.last_error or 'no attempts left'}")
        log.info("send refused", reason=str(refusal.reason))
        return _Next(None)

    async def _stage_refusal(
        self, conn: Connection, command: SendText, row: SendRow, refusal: Refusal
    ) -> list[StagedEvent]:
        error = f"{refusal.reason}: {refusal.detail}"
        return await self._stage_unsent(
            conn,
            command,
            row,
            status="refused",
            seen_in_flight=False,
            code=str(refusal.reason),
            error=error,
            events=[
                message_failed(
                    command, code=str(refusal.reason), error=error, attempts=row.attempts, refused=True
                )
            ],
        )

    async def _stage_out_of_attempts(
        self, conn: Connection, command: SendText, row: SendRow
    ) -> list[StagedEvent]:
        # A resumed send that already used every attempt the configuration now allows
        # (the setting was lowered while it waited): fail it without another attempt.
        error = f"exhausted: {row.last_error or 'no attempts left'}"
        return await self._stage_unsent(
            conn,
            command,
            row,
            status="failed",
            seen_in_flight=False,
            code="exhausted",
            error=error,
            status_code=row.last_status_code,
            events=self._failure_events(
                command,
                AlertCause.SEND_EXHAUSTED,
                code="exhausted",
                error=error,
                attempts=row.attempts,
                status_code=row.last_status_code,
                retryable=True,
            ),
        )

    def _in_flight_for_s(self, typing_delay_ms: int) -> float:
        """How long an attempt may stay in flight before another consumer may judge it abandoned."""
        return self._attempt_bound_s(typing_delay_ms) + _IN_FLIGHT_MARGIN_S

    async def _begin_attempt(self, conn: Connection, row: SendRow, typing_delay_ms: int) -> SendRow:
        started = await repository.begin_attempt(
            conn,
            row.send_id,
            seen_attempts=row.attempts,
            in_flight_for_s=self._in_flight_for_s(typing_delay_ms),
        )
        if started is None:
            raise _SupersededError
        return started

    async def _show_presence(self, command: SendText, access: InstanceAccess) -> None:
        """Best effort "composing…" before the send; a failure never stops the send."""
        data = command.data
        delay_ms = min(data.typing_delay_ms, self.settings.presence.max_delay_ms)
        try:
            async with asyncio.timeout(delay_ms / 1000 + self.settings.presence.timeout_s):
                await self.evolution.send_presence(
                    access.name, number=data.to, presence="composing", delay_ms=delay_ms, token=access.token
                )
        except (EvolutionError, TimeoutError) as error:
            log.info("composing presence failed; sending anyway", error=str(error) or type(error).__name__)

    # --- after an attempt ---------------------------------------------------------------

    async def _after_failure(
        self, command: SendText, row: SendRow, variants: tuple[str, ...], error: EvolutionError
    ) -> SendRow | None:
        attempt = row.attempts
        verdict = judge_failure(error, attempt=attempt, max_attempts=self.max_attempts)
        log.warning("send attempt failed", attempt=attempt, verdict=str(verdict), error=str(error))
        if verdict is FailureVerdict.OUTCOME_UNKNOWN:
            return await self._resolve_unknown(command, row, variants, reason=str(error), just_ended=True)
        if verdict is FailureVerdict.RETRY:
            async with self.pool.acquire() as conn, conn.transaction():
                released = await repository.release_attempt(
                    conn, row.send_id, attempt=attempt, error=str(error), status_code=error.status
                )
            if released is None:
                return await self._load(row.send_id)
            retry_after = error.retry_after_s if isinstance(error, EvolutionUnavailableError) else None
            await self._sleep(
                backoff_delay_s(
                    attempt,
                    base_s=self.settings.retry.base_delay_s,
                    max_s=self.settings.retry.max_delay_s,
                    retry_after_s=retry_after,
                    rng=self._rng,
                )
            )
            return released
        exhausted = verdict is FailureVerdict.EXHAUSTED
        code = "exhausted" if exhausted else failure_code(error)
        text = f"{code}: {error}"
        events = self._failure_events(
            command,
            AlertCause.SEND_EXHAUSTED if exhausted else AlertCause.SEND_REJECTED,
            code=code,
            error=text,
            attempts=attempt,
            status_code=error.status,
            retryable=error.retryable,
        )
        if not await self._settle_unsent(
            command,
            row,
            status="failed",
            seen_in_flight=True,
            code=code,
            error=text,
            status_code=error.status,
            events=events,
        ):
            return await self._load(row.send_id)
        # Committed first (row, message.failed, alert); now the command goes to the dead letters.
        raise PermanentFailure(text)

    async def _resolve_unknown(
        self,
        command: SendText,
        row: SendRow,
        variants: tuple[str, ...],
        *,
        reason: str,
        just_ended: bool,
    ) -> SendRow | None:
        """Sent (its echo is in `messages`) or ambiguous: never attempted again."""
        since = row.attempt_started_at or row.created_at
        if just_ended:
            wait_s = self.settings.echo_wait_s
        else:
            # A consumer died mid-call: the echo, if any, came within echo_wait_s of the
            # latest moment that call could have ended.
            ended = row.in_flight_until or since
            wait_s = max(
                0.0, (ended + timedelta(seconds=self.settings.echo_wait_s) - row.read_at).total_seconds()
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            async with self.pool.acquire() as conn:
                echo = await repository.find_echo(
                    conn,
                    instance_id=command.data.instance_id,
                    text=command.data.text,
                    digit_variants=variants,
                    since=since,
                )
            if echo is not None:
                log.info("the echo shows the send went out", provider_message_id=echo.provider_message_id)
                return await self._record_sent(
                    command,
                    attempt=row.attempts,
                    provider_message_id=echo.provider_message_id,
                    sent_at=echo.sent_at,
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await self._sleep(min(self.settings.poll_interval_s, remaining))
        text = f"ambiguous: {reason}"
        events = self._failure_events(
            command,
            AlertCause.SEND_AMBIGUOUS,
            code=AMBIGUOUS_FAILURE_CODE,
            error=text,
            attempts=row.attempts,
            ambiguous=True,
        )
        if not await self._settle_unsent(
            command,
            row,
            status="ambiguous",
            seen_in_flight=True,
            code=AMBIGUOUS_FAILURE_CODE,
            error=text,
            events=events,
        ):
            return await self._load(row.send_id)
        log.error("send is ambiguous: it may have been sent; not repeating it", attempt=row.attempts)
        return None

    # --- settling -------------------------------------------------------------------

    async def settle_late_echoes(self, *, within_hours: float, limit: int = 200) -> int:
        """Turn ambiguous sends whose `send.message` echo has arrived since into sent ones.

        Each gets its `message.sent` and the resolution of its alert, in the statement that
        settles it (a compare-and-set: another replica doing the same settles it once).
        """
        settled = 0
        for ambiguous in await repository.ambiguous_sends(self.pool, within_hours=within_hours, limit=limit):
            command = ambiguous.command
            data = command.data
            row = await self._load(data.send_id)
            if row.status != "ambiguous":
                continue
            async with self.pool.acquire() as conn:
                echo = await repository.find_echo(
                    conn,
                    instance_id=data.instance_id,
                    text=data.text,
                    digit_variants=digit_variants(recipient_digits(data.to)),
                    since=row.attempt_started_at or row.created_at,
                )
            if echo is None:
                continue
            resolution = ambiguity_resolved_alert(command, provider_message_id=echo.provider_message_id)
            with structlog.contextvars.bound_contextvars(send_id=str(data.send_id)):
                still_open = await self._record_sent(
                    command,
                    attempt=row.attempts,
                    provider_message_id=echo.provider_message_id,
                    sent_at=echo.sent_at,
                    ambiguous_at=ambiguous.ambiguous_at,
                    also=[resolution] if resolution is not None else [],
                )
            if still_open is None:
                settled += 1
                log.info("a late echo showed an ambiguous send went out", send_id=str(data.send_id))
        return settled

    async def _record_sent(
        self,
        command: SendText,
        *,
        attempt: int,
        provider_message_id: str,
        sent_at: datetime | None = None,
        ambiguous_at: datetime | None = None,
        also: Sequence[Envelope] = (),
    ) -> SendRow | None:
        data = command.data
        settled_at = sent_at or datetime.now(UTC)
        event = message_sent(
            command,
            provider_message_id=provider_message_id,
            attempts=attempt,
            sent_at=settled_at,
            ambiguous_at=ambiguous_at,
        )
        prepared = self.outbox.prepare([event, *also])
        ids = await repository.settle_sent(
            self.pool,
            data.send_id,
            attempt=attempt,
            provider_message_id=provider_message_id,
            sent_at=settled_at,
            outbox=self.outbox,
            events=prepared,
        )
        self._answers.pop(data.send_id, None)
        if ids is None:
            return await self._load(data.send_id)
        self.relay.notify(prepared.staged(ids))
        log.info("sent", attempt=attempt, provider_message_id=provider_message_id)
        return None

    async def _settle_unsent(
        self,
        command: SendText,
        row: SendRow,
        *,
        status: str,
        seen_in_flight: bool,
        code: str,
        error: str,
        events: Sequence[Envelope],
        status_code: int | None = None,
    ) -> bool:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                staged = await self._stage_unsent(
                    conn,
                    command,
                    row,
                    status=status,
                    seen_in_flight=seen_in_flight,
                    code=code,
                    error=error,
                    events=events,
                    status_code=status_code,
                )
        except _SupersededError:
            return False
        self.relay.notify(staged)
        return True

    async def _stage_unsent(
        self,
        conn: Connection,
        command: SendText,
        row: SendRow,
        *,
        status: str,
        seen_in_flight: bool,
        code: str,
        error: str,
        events: Sequence[Envelope],
        status_code: int | None = None,
    ) -> list[StagedEvent]:
        if not await repository.settle_unsent(
            conn,
            row.send_id,
            status=status,
            seen_attempts=row.attempts,
            seen_in_flight=seen_in_flight,
            failure_code=code,
            error=error,
            # Every unsent outcome stages its `message.failed`: the send failed when that occurred.
            failed_at=next(event.occurred_at for event in events if isinstance(event, MessageFailed)),
            status_code=status_code,
        ):
            raise _SupersededError
        return await self.outbox.stage(conn, events)

    def _failure_events(
        self,
        command: SendText,
        cause: AlertCause,
        *,
        code: str,
        error: str,
        attempts: int,
        status_code: int | None = None,
        retryable: bool = False,
        ambiguous: bool = False,
    ) -> list[Envelope]:
        events: list[Envelope] = [
            message_failed(
                command,
                code=code,
                error=error,
                attempts=attempts,
                status_code=status_code,
                retryable=retryable,
                ambiguous=ambiguous,
            )
        ]
        alert = send_alert(command, cause=cause, attempts=attempts, error=error, status_code=status_code)
        if alert is not None:
            events.append(alert)
        return events

    async def _load(self, send_id: uuid.UUID) -> SendRow:
        async with self.pool.acquire() as conn:
            row = await repository.load_send(conn, send_id)
        if row is None:  # pragma: no cover - sends are never deleted
            raise RuntimeError(f"send {send_id} disappeared")
        return row
