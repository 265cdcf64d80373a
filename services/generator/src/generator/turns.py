"""Writing warm-up turns (`turn.requested`): the scheduler's numbers chatting like people.

Like a reply, a turn goes through three steps and holds a transaction only in the last:

1. read whether the turn was written already and the speaker's persona (the pair's choice,
   else the instance's, else a built-in one);
2. write the text: a reaction is one emoji; otherwise the model writes 1–3 short messages with
   the persona, the round's history and its topic (the offline bank when no model is
   configured, or when the model fails: warm-up is between the operator's own numbers);
3. in one statement: the `replies` row (kind `warmup_turn`, id = the turn's id, so the
   scheduler finds it) and one `send.requested` per message, purpose `warmup`, with
   `app_origin=bot`, the round's `script_id` and a typing delay at 35–55 words a minute.

A redelivered request finds its row and produces nothing new; every id derives from the
request's event id (or the turn's id).
"""

from __future__ import annotations

import dataclasses
import random
import uuid

import structlog

from contracts import Envelope, RequestTurn, SendPurpose, SendText, SendTextData, stable_id
from database import Pool
from generator import repository, turn_repository
from generator.persona import Persona
from generator.replies import APP_ORIGIN, PRODUCER, ReplyDraft
from generator.reply_model import ModelFailure, ModelRequest, OfflineReplyModel, ReplyModel
from generator.reply_style import style_reply
from generator.turn_prompt import MAX_TURN_CHARS, turn_chat
from generator.turn_texts import OFFLINE_TURN_MODEL, offline_turn, reaction
from messaging import Outbox, OutboxRelay
from service_runtime import BoundAtStartup
from warmup_rules import TypingModel

# The consumer group of `turn.requested` (apart from `reply.requested`'s, so neither waits on the other).
TURN_CONSUMER = "generator-turns"

log = structlog.get_logger(__name__)

# Who speaks when neither the pair nor the instance names a persona.
WARMUP_PERSONA = Persona(
    id=None,
    name="Alex",
    system_prompt=(
        "Você é uma pessoa simpática e descontraída que conversa com amigos pelo WhatsApp, "
        "em português do Brasil, com frases curtas e naturais."
    ),
    language="pt-BR",
    max_length=MAX_TURN_CHARS,
    emoji=True,
    temperature=0.9,
    model=None,
)


def turn_id_of(event: RequestTurn) -> uuid.UUID:
    """The turn's id: the scheduler's, else one derived from the request."""
    return event.data.turn_id or stable_id("warmup.turn", event.event_id)


def turn_sends(event: RequestTurn, draft: ReplyDraft, delays: list[int]) -> list[Envelope]:
    """One `send.requested` per message of the turn, from the speaker to the peer's number."""
    data = event.data
    turn_id = turn_id_of(event)
    return [
        SendText(
            event_id=stable_id("send.requested", event.event_id, index),
            tenant_id=event.tenant_id,
            correlation_id=event.correlation_id,
            causation_id=event.event_id,
            data=SendTextData(
                send_id=stable_id("send", event.event_id, index),
                instance_id=data.speaker_instance_id,
                instance_name=data.speaker_instance_name,
                to=data.listener_number,
                text=part,
                typing_delay_ms=delay,
                purpose=SendPurpose.WARMUP,
                app_origin=APP_ORIGIN,
                script_id=data.script_id,
                reply_id=turn_id,
                part_index=index,
                round_id=data.round_id,
            ),
        )
        for index, (part, delay) in enumerate(zip(draft.parts, delays, strict=True))
    ]


class TurnWriter:
    """Consumes `turn.requested`; its pool and relay are bound at start-up."""

    pool = BoundAtStartup[Pool]()
    relay = BoundAtStartup[OutboxRelay]()

    def __init__(self, model: ReplyModel, typing: TypingModel, *, namespace: str = "") -> None:
        self.model = model
        self.typing = typing
        self.offline = isinstance(model, OfflineReplyModel)
        self.outbox = Outbox(PRODUCER, namespace=namespace)

    def bind(self, pool: Pool, relay: OutboxRelay) -> None:
        """Attach the dependencies opened at start-up (the generator's pool and relay)."""
        self.pool, self.relay = pool, relay

    async def on_turn_requested(self, event: RequestTurn) -> None:
        """Write one turn exactly once: store it and stage its sends."""
        data = event.data
        turn_id = turn_id_of(event)
        async with self.pool.acquire() as conn:
            setup = await turn_repository.load_turn_setup(
                conn, event.tenant_id, data.speaker_instance_id, data.persona_id, turn_id, event.event_id
            )
        if setup.written:
            return
        persona = setup.persona or WARMUP_PERSONA
        # Seeded by the turn: a retry writes (offline) and types the same way.
        rng = random.Random(turn_id.int)  # noqa: S311 - not a secret
        draft = await self.draft(event, persona, rng)
        delays = [self.typing.typing_ms(part, rng) for part in draft.parts]
        delays[0] += data.delay_ms
        prepared = self.outbox.prepare(turn_sends(event, draft, delays))
        reply = repository.NewReply(
            id=turn_id,
            tenant_id=event.tenant_id,
            request_event_id=event.event_id,
            kind="warmup_turn",
            conversation_id=None,
            instance_id=data.speaker_instance_id,
            persona_id=draft.persona_id,
            text=draft.text,
            parts=draft.parts,
            model=draft.model,
            offline=draft.offline,
            latency_ms=draft.latency_ms,
            error=draft.error,
            message_ids=(),
        )
        ids = await repository.store_reply(self.pool, reply, self.outbox, prepared)
        if ids is not None:
            self.relay.notify(prepared.staged(ids))
            log.info(
                "warm-up turn written",
                round_id=str(data.round_id),
                turn=data.turn_index,
                messages=len(draft.parts),
                offline=draft.offline,
            )

    async def draft(self, event: RequestTurn, persona: Persona, rng: random.Random) -> ReplyDraft:
        """The turn's messages: a reaction, the model's, or the offline bank's."""
        data = event.data
        if data.reaction:
            text = reaction(rng, emoji=persona.emoji)
            return self._fixed(text, (text,), persona)
        if self.offline:
            return self._offline(event, persona, rng, error=None)
        chat = turn_chat(
            persona,
            data.history,
            data.speaker_instance_id,
            messages=data.messages,
            listener_name=data.listener_name,
            topic=data.topic,
            closing=data.closing,
        )
        try:
            answer = await self.model.answer(
                ModelRequest(chat=chat, temperature=persona.temperature, model=persona.model)
            )
        except ModelFailure as failure:
            log.warning("the model wrote no warm-up turn; using the offline bank", error=str(failure))
            return self._offline(event, persona, rng, error=str(failure))
        short = dataclasses.replace(persona, max_length=min(persona.max_length, MAX_TURN_CHARS))
        styled = style_reply(answer.text, short, data.messages)
        if not styled.parts:
            return self._offline(event, persona, rng, error="nothing left after the persona's style")
        return ReplyDraft(
            kind="reply",
            text=styled.text,
            parts=styled.parts,
            model=answer.model,
            persona_id=persona.id,
            offline=answer.offline,
            latency_ms=answer.latency_ms,
            purpose=SendPurpose.WARMUP,
        )

    def _offline(
        self, event: RequestTurn, persona: Persona, rng: random.Random, error: str | None
    ) -> ReplyDraft:
        data = event.data
        lines = offline_turn(rng, data.messages, opening=not data.history, closing=data.closing)
        return ReplyDraft(
            kind="reply",
            text="\n\n".join(lines),
            parts=tuple(lines),
            model=OFFLINE_TURN_MODEL,
            persona_id=persona.id,
            offline=True,
            error=error,
            purpose=SendPurpose.WARMUP,
        )

    @staticmethod
    def _fixed(text: str, parts: tuple[str, ...], persona: Persona) -> ReplyDraft:
        return ReplyDraft(
            kind="reply",
            text=text,
            parts=parts,
            model="fixed",
            persona_id=persona.id,
            purpose=SendPurpose.WARMUP,
        )
