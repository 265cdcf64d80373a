"""The guard's decisions: one per consumed message, recorded with its reason, and one reply
per finished burst. Plain async code: no broker, no web framework."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from opentelemetry import trace

from contracts import Envelope, GenerateReply, MessageReceived, ReplyIntent
from database import Connection, Pool
from guard import repository, rules
from guard.addresses import address_digits, phone_digits
from guard.consent_keywords import ConsentAction, ConsentRequest, consent_request
from guard.debounce import DebounceStore
from guard.facts import ConversationState, GuardState, MessageFacts, OperatorControls
from guard.loop_counter import LoopCounter
from guard.media_understanding import MediaUnderstanding, Understood
from guard.output_events import (
    CONSENT_SOURCE,
    blocked_alert,
    confirmation_request,
    consent_changed,
    conversation_blocked,
    opt_out_alert,
    reply_request,
)
from guard.repository import DecisionRecord
from guard.settings import GuardPolicy
from guard.verdicts import Decision, Reason, Verdict
from messaging import (
    Outbox,
    PermanentFailure,
    StagedEvent,
    StagedEventSink,
    context_from_headers,
    current_trace_headers,
    is_infrastructure_error,
)

CONSUMER = "guard"
PRODUCER = "guard"

log = structlog.get_logger(__name__)
tracer = trace.get_tracer("mirage.guard")


def _continue_trace(trace_parent: str | None) -> Any:
    """A span in the trace of `trace_parent` (a fresh trace without one)."""
    context = context_from_headers({"traceparent": trace_parent}) if trace_parent else None
    return tracer.start_as_current_span("guard answer burst", context=context)


@dataclass(frozen=True)
class _Dependencies:
    """What start-up opens for the guard."""

    pool: Pool
    relay: StagedEventSink
    loop_counter: LoopCounter
    debounce: DebounceStore


@dataclass
class _Outcome:
    """What is left to do once the decision's transaction committed."""

    staged: list[StagedEvent] = field(default_factory=list)
    # The message joins its conversation's burst in Redis.
    debounce: bool = False


class _TransactionNeededError(Exception):
    """This decision cannot be recorded in one statement: decide it again in a transaction."""


@dataclass(frozen=True)
class _Deciding:
    """Where a decision is being made: its connection and how it will be recorded."""

    conn: Connection
    # True: outside any transaction, recorded by one statement that checks the facts again
    # (`record_decision_if_unchanged`); anything else written means a transaction.
    in_one_statement: bool
    # The guard state the decision read (and that statement checks), when it read one.
    state: ConversationState | None = None

    def writer(self) -> Connection:
        """The connection to write with, in the decision's transaction."""
        if self.in_one_statement:
            raise _TransactionNeededError
        return self.conn


class Guard:
    """Decides, for every message ingest stored, whether and when Mirage answers it."""

    def __init__(
        self, *, policy: GuardPolicy, outbox: Outbox | None = None, media: MediaUnderstanding | None = None
    ) -> None:
        self._policy = policy
        self._outbox = outbox or Outbox(PRODUCER)
        self._bound: _Dependencies | None = None
        # Voice notes become text before they are decided on (docs/media.md); None: media is
        # decided as it arrives (without text).
        self._media = media

    def bind(
        self, *, pool: Pool, relay: StagedEventSink, loop_counter: LoopCounter, debounce: DebounceStore
    ) -> None:
        """Attach the dependencies opened at start-up (before the consumer starts)."""
        self._bound = _Dependencies(pool, relay, loop_counter, debounce)

    @property
    def _deps(self) -> _Dependencies:
        if self._bound is None:
            raise RuntimeError("the guard decided before start-up bound its dependencies")
        return self._bound

    @property
    def _pool(self) -> Pool:
        return self._deps.pool

    @property
    def _relay(self) -> StagedEventSink:
        return self._deps.relay

    @property
    def _loops(self) -> LoopCounter:
        return self._deps.loop_counter

    @property
    def _debounce(self) -> DebounceStore:
        return self._deps.debounce

    async def on_message_received(self, event: MessageReceived) -> None:
        """Decide on one message and record why, exactly once per event id."""
        if self._media is not None and self._media.concerns(event):
            event = await self._with_transcript(event, self._media)
        outcome = await self._decide_in_one_statement(event)
        if outcome is None:
            outcome = await self._decide_in_transaction(event)
        self._relay.notify(outcome.staged)
        if outcome.debounce:
            await self._debounce.add(event.data.conversation_id, event.data.message_id)

    async def _decide_in_one_statement(self, event: MessageReceived) -> _Outcome | None:
        """The common case in two round trips and no transaction: read the facts, decide, and
        record the decision in one statement that checks the facts it depends on still hold.

        None when this way cannot decide the message: a decision that writes more than its
        own row (an opt-out, a pause, a loop count, a block), an event already handled, or a
        conversation whose guard state changed between the read and the write. The caller
        then decides in a transaction, which nothing here has written into.
        """
        async with self._pool.acquire() as conn:
            unclaimed, facts = await self._read(conn, event, read_only=True)
            if not unclaimed or facts.already_decided:
                return None
            deciding = _Deciding(conn, in_one_statement=True, state=facts.state)
            try:
                return await self._decide(deciding, event, facts)
            except _TransactionNeededError:
                return None

    async def _decide_in_transaction(self, event: MessageReceived) -> _Outcome:
        """Claim, read under the conversation's lock, decide and record, in one transaction."""
        async with self._pool.acquire() as conn, conn.transaction():
            claimed, facts = await self._read(conn, event, read_only=False)
            if claimed:
                return await self._decide(_Deciding(conn, in_one_statement=False), event, facts)
            # Already decided. If that attempt committed but died before Redis heard of the
            # message, its burst would never be answered: hand it over again (adding a
            # message to its burst twice changes nothing).
            waiting = await repository.awaits_burst_reply(conn, event.data.message_id)
            return _Outcome(debounce=waiting)

    async def _with_transcript(self, event: MessageReceived, media: MediaUnderstanding) -> MessageReceived:
        """The event with its voice note's transcript as its text (unchanged when there is none).

        Runs before the decision's transaction, holding no connection during the calls. A
        dependency that is down is retried in the lane like any other; any other problem is
        logged and the message is decided without text (the contact is asked to type).
        """
        try:
            understood = await media.understand(event)
        except Exception as error:
            if is_infrastructure_error(error):
                raise
            log.exception("media step failed; deciding without text", message_id=str(event.data.message_id))
            understood = Understood()
        if not understood.transcript or (event.data.text or "").strip():
            return event
        data = event.data.model_copy(update={"text": understood.transcript})
        return event.model_copy(update={"data": data})

    async def _read(
        self, conn: Connection, event: MessageReceived, *, read_only: bool
    ) -> tuple[bool, MessageFacts]:
        """The facts the rules need (one round trip), and whether the event is this call's:
        claimed in the ledger, or (`read_only`) not claimed yet."""
        message = event.data
        return await repository.load_message_facts(
            conn,
            message_id=message.message_id,
            provider_message_id=message.provider_message_id,
            instance_id=message.instance_id,
            tenant_id=event.tenant_id,
            contact_id=message.contact_id,
            conversation_id=message.conversation_id,
            from_me=message.from_me,
            text=message.text,
            address_digits=address_digits([message.chat_jid, message.reply_to]),
            phone_digits=phone_digits([message.reply_to, message.chat_jid]),
            echo_window_s=self._policy.in_flight_echo_s,
            consumer=CONSUMER,
            event_id=event.event_id,
            # Only a fresh message from the contact can reach the rules that read the state.
            lock_state=message.fresh and not message.from_me,
            read_only=read_only,
        )

    async def _decide(self, at: _Deciding, event: MessageReceived, facts: MessageFacts) -> _Outcome:
        message = event.data
        phones = phone_digits([message.reply_to, message.chat_jid])
        if not facts.message_stored:
            raise PermanentFailure(f"message {message.message_id} is not stored: nothing to decide on")
        if facts.already_decided:
            log.info("message already decided under another event", message_id=str(message.message_id))
            return _Outcome()

        verdict = rules.own_message(message, facts)
        if verdict is not None:
            return await self._settle(at, event, verdict)
        verdict = rules.automatic_from_me(message)
        if verdict is not None:
            return await self._settle(at, event, verdict)
        if message.from_me:
            # Typed by a person on the operator's phone: the human takes over.
            await repository.pause_for_takeover(
                at.writer(),
                conversation_id=message.conversation_id,
                tenant_id=event.tenant_id,
                typed_at=message.sent_at,
                minutes=self._policy.human_takeover_minutes,
            )
            log.info("human takeover: bot paused", conversation_id=str(message.conversation_id))
            return await self._settle(at, event, Verdict(Decision.PAUSED, Reason.HUMAN_TAKEOVER))
        verdict = rules.chat_filter(message, facts)
        if verdict is not None:
            return await self._settle(at, event, verdict)

        # Consent keywords are honoured even in stale backlog: a "PARE" written while the
        # number was offline still means stop (PRODUCT §0: opt-out honoured at once, everywhere).
        consent = consent_request(
            message.text, opt_out_keywords=facts.opt_out_keywords, opt_in_keywords=facts.opt_in_keywords
        )
        if facts.contact_phone and facts.contact_phone not in phones:
            phones.append(facts.contact_phone)
        if consent is not None and consent.action is ConsentAction.OPT_OUT:
            return await self._opt_out(at, event, facts, consent, phones)
        if consent is not None and consent.action is ConsentAction.OPT_IN and facts.standing.opted_out:
            opted_in = await self._opt_in(at, event, facts, consent, phones)
            if opted_in is not None:
                return opted_in

        if not message.fresh:
            return await self._settle(at, event, Verdict(Decision.IGNORED, Reason.STALE))
        if facts.state is not None:
            state, now = facts.state.state, facts.state.now
        else:
            state, now = await repository.lock_guard_state(
                at.writer(), message.conversation_id, event.tenant_id
            )
        hold = rules.conversation_hold(state, facts.controls, facts.standing, now)
        if hold is not None:
            return await self._settle(at, event, hold)
        return await self._answer(at, event, state, facts.controls)

    async def _answer(
        self, at: _Deciding, event: MessageReceived, state: GuardState, controls: OperatorControls
    ) -> _Outcome:
        """Rules 7 and 8: count a possible bot loop, then reply (now, or when the burst ends)."""
        message = event.data
        lifted = rules.block_lifted(state, controls)
        if lifted:
            await repository.clear_block(at.writer(), message.conversation_id)
        if not message.script_id and not state.last_script_id and state.loop_count == 0 and not lifted:
            loop_count = 0  # nothing to count and nothing to reset: spare the round trip
        else:
            conn = at.writer()  # a loop count is saved with the decision: in its transaction
            loop_count = await self._loops.observe(
                message.conversation_id,
                message.message_id,
                message.script_id,
                seed_script_id=state.last_script_id,
                seed_count=state.loop_count,
                reset=lifted,
            )
            if rules.loop_blocks(loop_count, self._policy.loop_threshold):
                await repository.block_conversation(
                    conn, message.conversation_id, Reason.BOT_LOOP, loop_count, message.script_id
                )
                log.warning(
                    "bot loop: conversation blocked",
                    conversation_id=str(message.conversation_id),
                    loop_count=loop_count,
                )
                return await self._settle(
                    at,
                    event,
                    Verdict(Decision.BLOCKED, Reason.BOT_LOOP),
                    [
                        conversation_blocked(event, loop_count=loop_count),
                        blocked_alert(event, loop_count=loop_count),
                    ],
                )
            await repository.save_loop_state(conn, message.conversation_id, loop_count, message.script_id)

        suspected_loop = loop_count > 0
        reason = Reason.SUSPECTED_BOT_LOOP if suspected_loop else Reason.CONTACT_MESSAGE
        delay_ms = self._policy.loop_reply_delay_ms if suspected_loop else 0
        if self._policy.debounce_window_ms > 0:
            return await self._settle(
                at, event, Verdict(Decision.DEBOUNCED, reason), reply_delay_ms=delay_ms, debounce=True
            )
        reply = reply_request(
            tenant_id=event.tenant_id,
            correlation_id=event.correlation_id,
            causation_id=event.event_id,
            conversation_id=message.conversation_id,
            instance_id=message.instance_id,
            instance_name=message.instance_name,
            contact_id=message.contact_id,
            reply_to=message.reply_to,
            message_ids=(message.message_id,),
            delay_ms=delay_ms,
            without_text=not (message.text or "").strip(),
        )
        return await self._settle(
            at,
            event,
            Verdict(Decision.REPLY, reason),
            [reply],
            reply_request_id=reply.event_id,
            reply_delay_ms=delay_ms,
        )

    async def _opt_out(
        self,
        at: _Deciding,
        event: MessageReceived,
        facts: MessageFacts,
        consent: ConsentRequest,
        phones: Sequence[str],
    ) -> _Outcome:
        """Rule 5: opt the contact out tenant-wide, tell everyone, confirm once."""
        message = event.data
        jid = facts.contact_jid or message.reply_to
        phone = facts.contact_phone or (phones[0] if phones else None)
        already = facts.standing.opted_out or not await repository.add_opt_out(
            at.writer(),
            tenant_id=event.tenant_id,
            contact_id=message.contact_id,
            phone=phone,
            jid=jid,
            keyword=consent.keyword,
            source=CONSENT_SOURCE,
        )
        if already:
            # Recorded, but no second confirmation, event or alert.
            return await self._settle(at, event, Verdict(Decision.OPTED_OUT, Reason.ALREADY_OPTED_OUT))
        await repository.append_consent_event(
            at.writer(),
            tenant_id=event.tenant_id,
            contact_id=message.contact_id,
            action=str(ConsentAction.OPT_OUT),
            keyword=consent.keyword,
            source=CONSENT_SOURCE,
            message_id=message.message_id,
        )
        follow_ups = [
            consent_changed(event, ConsentAction.OPT_OUT, keyword=consent.keyword, jid=jid, phone=phone),
            opt_out_alert(event, keyword=consent.keyword, phone=phone),
        ]
        confirmation = None
        if not facts.standing.blacklisted:
            # The one message the sender lets through despite the opt-out.
            confirmation = confirmation_request(event, ReplyIntent.OPT_OUT_CONFIRMATION)
        log.info("contact opted out", contact_id=str(message.contact_id), keyword=consent.keyword)
        return await self._settle(
            at,
            event,
            Verdict(Decision.OPTED_OUT, Reason.OPT_OUT_KEYWORD),
            [*follow_ups, *([confirmation] if confirmation else [])],
            reply_request_id=confirmation.event_id if confirmation else None,
        )

    async def _opt_in(
        self,
        at: _Deciding,
        event: MessageReceived,
        facts: MessageFacts,
        consent: ConsentRequest,
        phones: Sequence[str],
    ) -> _Outcome | None:
        """Rule 5: lift an opt-out (never the operator's blacklist) and confirm once."""
        message = event.data
        if not await repository.remove_opt_out(
            at.writer(), tenant_id=event.tenant_id, contact_id=message.contact_id, phone_digits=phones
        ):
            return None  # lifted meanwhile: an ordinary message
        await repository.append_consent_event(
            at.writer(),
            tenant_id=event.tenant_id,
            contact_id=message.contact_id,
            action=str(ConsentAction.OPT_IN),
            keyword=consent.keyword,
            source=CONSENT_SOURCE,
            message_id=message.message_id,
        )
        jid = facts.contact_jid or message.reply_to
        phone = facts.contact_phone or (phones[0] if phones else None)
        changed = consent_changed(event, ConsentAction.OPT_IN, keyword=consent.keyword, jid=jid, phone=phone)
        confirmation = None
        if not facts.standing.blacklisted:
            confirmation = confirmation_request(event, ReplyIntent.OPT_IN_CONFIRMATION)
        log.info("contact opted in again", contact_id=str(message.contact_id), keyword=consent.keyword)
        return await self._settle(
            at,
            event,
            Verdict(Decision.OPTED_IN, Reason.OPT_IN_KEYWORD),
            [changed, *([confirmation] if confirmation else [])],
            reply_request_id=confirmation.event_id if confirmation else None,
        )

    async def _settle(
        self,
        at: _Deciding,
        event: MessageReceived,
        verdict: Verdict,
        events: Sequence[Envelope] = (),
        *,
        reply_request_id: uuid.UUID | None = None,
        reply_delay_ms: int = 0,
        debounce: bool = False,
    ) -> _Outcome:
        """Record the decision and stage the events it calls for: in the transaction that made
        it, or in one statement that first checks the facts still hold (raising
        `_TransactionNeededError` when they do not)."""
        message = event.data
        prepared = self._outbox.prepare(events)
        record = DecisionRecord(
            message_id=message.message_id,
            tenant_id=event.tenant_id,
            conversation_id=message.conversation_id,
            decision=verdict.decision,
            reason=verdict.reason,
            event_id=event.event_id,
            correlation_id=event.correlation_id,
            instance_id=message.instance_id,
            contact_id=message.contact_id,
            reply_to=message.reply_to,
            reply_delay_ms=reply_delay_ms,
            reply_request_id=reply_request_id,
            trace_parent=current_trace_headers().get("traceparent"),
        )
        if at.in_one_statement:
            recorded = await repository.record_decision_if_unchanged(
                at.conn, record, self._outbox, prepared, consumer=CONSUMER, state=at.state
            )
            if recorded is None:
                raise _TransactionNeededError
            ids = recorded
        else:
            ids = await repository.record_decision(at.conn, record, self._outbox, prepared)
        log.debug(
            "decided",
            message_id=str(message.message_id),
            decision=str(verdict.decision),
            reason=str(verdict.reason),
        )
        return _Outcome(staged=prepared.staged(ids), debounce=debounce)

    async def answer_burst(
        self, conversation_id: uuid.UUID, message_ids: Sequence[uuid.UUID]
    ) -> GenerateReply | None:
        """Request one reply for a finished burst (or record why it gets none); None when
        nothing of it is left to answer."""
        if not message_ids:
            return None
        async with self._pool.acquire() as conn, conn.transaction():
            burst = await repository.lock_burst(conn, conversation_id, message_ids)
            if not burst:
                return None
            ids = [item.message_id for item in burst]
            last = burst[-1]
            # The conversation may have been paused, blocked or opted out since the
            # messages were debounced: the rules are checked again at the last moment.
            state, now = await repository.share_guard_state(conn, conversation_id)
            standing, controls = await repository.load_standing(
                conn,
                tenant_id=last.tenant_id,
                contact_id=last.contact_id,
                conversation_id=conversation_id,
                phone_digits=phone_digits(item.reply_to for item in burst),
            )
            hold = rules.conversation_hold(state, controls, standing, now)
            if hold is not None:
                await repository.settle_burst(
                    conn, ids, decision=hold.decision, reason=hold.reason, reply_request_id=None
                )
                return None
            # The flush runs outside any message's span: continue the trace of the burst's first
            # message, so `reply.requested` (its outbox headers) carries it on.
            with _continue_trace(burst[0].trace_parent):
                staged, reply = await self._request_reply(conn, conversation_id, burst, ids)
        self._relay.notify(staged)
        return reply

    async def _request_reply(
        self,
        conn: Connection,
        conversation_id: uuid.UUID,
        burst: Sequence[repository.BurstMessage],
        ids: list[uuid.UUID],
    ) -> tuple[list[StagedEvent], GenerateReply]:
        """Stage `reply.requested` for the burst and settle its messages (in the caller's transaction)."""
        last = burst[-1]
        reply = reply_request(
            tenant_id=last.tenant_id,
            correlation_id=last.correlation_id or last.message_id,
            causation_id=last.event_id,
            conversation_id=conversation_id,
            instance_id=last.instance_id,
            instance_name=last.instance_name,
            contact_id=last.contact_id,
            reply_to=last.reply_to,
            message_ids=ids,
            delay_ms=max(item.reply_delay_ms for item in burst),
            without_text=not any((item.text or "").strip() for item in burst),
        )
        staged = await self._outbox.stage(conn, [reply])
        await repository.settle_burst(
            conn, ids, decision=Decision.REPLY, reason=None, reply_request_id=reply.event_id
        )
        return staged, reply

    async def reschedule_unanswered(self, limit: int = 500) -> int:
        """Give Redis back the bursts it lost (still `debounced` long after their window)."""
        async with self._pool.acquire() as conn:
            lost = await repository.unanswered_messages(
                conn, older_than_s=self._policy.repair_after_s, limit=limit
            )
        for item in lost:
            await self._debounce.add(item.conversation_id, item.message_id)
        if lost:
            log.warning("re-scheduled bursts Redis had lost", messages=len(lost))
        return len(lost)
