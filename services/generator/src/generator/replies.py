"""Answering `reply.requested`: write the reply, store it, stage its events and sends.

A request goes through three steps, and only the last one holds a database transaction:

1. read what the reply needs (persona, context) on a pooled connection, released at once;
2. ask the model, holding no connection, so hundreds of conversations can wait on a slow
   model while the pool stays free;
3. in one transaction: claim the event, insert the `replies` row, stage `reply.generated`
   and one `send.requested` per part in the outbox; after COMMIT hand them to the relay.

A redelivered request finds its reply row in step 1 (or loses the claim in step 3) and
produces nothing new. Every id of the outputs derives from the request's event id.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from dataclasses import dataclass

import structlog

from contracts import (
    Envelope,
    GenerateReply,
    ReplyGenerated,
    ReplyGeneratedData,
    ReplyIntent,
    ReplyKind,
    SendPurpose,
    SendText,
    SendTextData,
    stable_id,
)
from database import Pool
from generator import fixed_texts, media_replies, repository
from generator.persona import DEFAULT_PERSONA, Persona
from generator.prompt import ContextMessage, build_chat, contact_name, select_context
from generator.reply_model import ModelFailure, ModelRequest, ReplyModel
from generator.reply_style import style_reply
from generator.settings import GeneratorSettings
from generator.typing_delay import TypingDelays
from generator.vision import VisionFailure, VisionModel
from messaging import Outbox, OutboxRelay, PermanentFailure

# The consumer name of the processed-event ledger and the producer name of the outbox.
CONSUMER = "generator"
PRODUCER = "generator"
APP_ORIGIN = "bot"


log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReplyDraft:
    """A reply's text and provenance, before it is stored and sent."""

    kind: ReplyKind
    text: str
    parts: tuple[str, ...]
    model: str
    persona_id: uuid.UUID | None = None
    offline: bool = False
    latency_ms: int = 0
    # Why the model gave no answer, when this is the fallback sent instead.
    error: str | None = None
    purpose: SendPurpose = SendPurpose.REPLY
    # What the model reported it used (published on `reply.generated` for cost analytics).
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def _uncaptioned_image(message: ContextMessage) -> bool:
    return message.message_type == "imageMessage" and not (message.text or "").strip()


def fixed_draft(kind: ReplyKind, text: str, *, purpose: SendPurpose = SendPurpose.REPLY) -> ReplyDraft:
    """A one-message reply written without a model."""
    return ReplyDraft(kind=kind, text=text, parts=(text,), model=fixed_texts.FIXED_MODEL, purpose=purpose)


def reply_id_for(request_event_id: uuid.UUID) -> uuid.UUID:
    """The id of the reply to one request (the same on every redelivery)."""
    return stable_id("reply", request_event_id)


def send_id_for(request_event_id: uuid.UUID, part_index: int) -> uuid.UUID:
    """The send id of one part of the reply to one request."""
    return stable_id("send", request_event_id, part_index)


def reply_events(request: GenerateReply, draft: ReplyDraft, delays: list[int]) -> list[Envelope]:
    """`reply.generated` and one `send.requested` per part, all derived from the request."""
    data = request.data
    reply_id = reply_id_for(request.event_id)
    generated = ReplyGenerated(
        event_id=stable_id("reply.generated", request.event_id),
        tenant_id=request.tenant_id,
        correlation_id=request.correlation_id,
        causation_id=request.event_id,
        data=ReplyGeneratedData(
            reply_id=reply_id,
            conversation_id=data.conversation_id,
            instance_id=data.instance_id,
            text=draft.text,
            parts=draft.parts,
            model=draft.model,
            persona_id=draft.persona_id,
            offline=draft.offline,
            latency_ms=draft.latency_ms,
            kind=draft.kind,
            message_ids=data.message_ids,
            prompt_tokens=draft.prompt_tokens,
            completion_tokens=draft.completion_tokens,
        ),
    )
    sends = [
        SendText(
            event_id=stable_id("send.requested", request.event_id, index),
            tenant_id=request.tenant_id,
            correlation_id=request.correlation_id,
            causation_id=request.event_id,
            data=SendTextData(
                send_id=send_id_for(request.event_id, index),
                instance_id=data.instance_id,
                instance_name=data.instance_name,
                conversation_id=data.conversation_id,
                contact_id=data.contact_id,
                to=data.reply_to,
                text=part,
                typing_delay_ms=delay,
                purpose=draft.purpose,
                app_origin=APP_ORIGIN,
                reply_id=reply_id,
                part_index=index,
            ),
        )
        for index, (part, delay) in enumerate(zip(draft.parts, delays, strict=True))
    ]
    return [generated, *sends]


class ReplyGenerator:
    """Consumes `reply.requested`; its database pool and outbox relay are bound at start-up."""

    def __init__(
        self, settings: GeneratorSettings, model: ReplyModel, vision: VisionModel | None = None
    ) -> None:
        self.settings = settings
        self.model = model
        # Describes images sent without a caption (docs/media.md); None: they get the fallback.
        self.vision = vision
        self.delays = TypingDelays(settings.typing)
        self.outbox = Outbox(PRODUCER, namespace=settings.kafka.topic_prefix)
        self._pool: Pool | None = None
        self._relay: OutboxRelay | None = None

    def bind(self, pool: Pool, relay: OutboxRelay) -> None:
        """Attach the dependencies opened at start-up."""
        self._pool = pool
        self._relay = relay

    @property
    def pool(self) -> Pool:
        """The database pool (bound at start-up)."""
        if self._pool is None:
            raise RuntimeError("the generator handled an event before start-up bound its pool")
        return self._pool

    @property
    def relay(self) -> OutboxRelay:
        """The outbox relay (bound at start-up)."""
        if self._relay is None:
            raise RuntimeError("the generator handled an event before start-up bound its relay")
        return self._relay

    async def on_reply_requested(self, event: GenerateReply) -> None:
        """Answer one request exactly once: store the reply and stage its events."""
        draft = await self.draft_reply(event)
        if draft is not None:
            await self.store_reply(event, draft)

    async def draft_reply(self, event: GenerateReply) -> ReplyDraft | None:
        """What the reply says; None when the request was already answered."""
        data = event.data
        if data.intent in (ReplyIntent.OPT_OUT_CONFIRMATION, ReplyIntent.OPT_IN_CONFIRMATION):
            async with self.pool.acquire() as conn:
                keywords = await repository.load_consent_keywords(conn, event.tenant_id)
            if data.intent == ReplyIntent.OPT_OUT_CONFIRMATION:
                return fixed_draft(
                    "confirmation",
                    fixed_texts.opt_out_confirmation(keywords.opt_in),
                    # The one message the sender lets through to an opted-out contact.
                    purpose=SendPurpose.OPT_OUT_CONFIRMATION,
                )
            return fixed_draft("confirmation", fixed_texts.opt_in_confirmation(keywords.opt_out))
        if data.without_text:
            return await self._without_text(event)
        return await self._answer(event)

    async def _without_text(self, event: GenerateReply) -> ReplyDraft | None:
        """A burst with no text (a voice note that could not be transcribed, an image without a
        caption, a document…): the model when it can look at an image, else the persona's
        fixed reply for that kind of media, or silence (docs/media.md)."""
        data = event.data
        async with self.pool.acquire() as conn:
            setup = await repository.load_reply_setup(conn, event.tenant_id, data.instance_id, event.event_id)
            if setup.answered:
                return None
            burst = await repository.load_burst_media(conn, data.conversation_id, data.message_ids)
        persona = setup.persona or DEFAULT_PERSONA
        decided = media_replies.plan(
            burst,
            language=persona.language,
            emoji=persona.emoji,
            persona_replies=setup.media_replies,
            vision=self.vision is not None,
        )
        if isinstance(decided, media_replies.UseModel):
            return await self._answer(event)
        if isinstance(decided, media_replies.Silence):
            # Nothing is stored or sent: a redelivery decides the same silence again.
            log.info(
                "media left unanswered", kinds=list(decided.kinds), conversation_id=str(data.conversation_id)
            )
            return None
        log.info("media fallback", reason=decided.reason, conversation_id=str(data.conversation_id))
        return self._media_fallback(persona, decided)

    def _media_fallback(self, persona: Persona, decided: media_replies.FixedReply) -> ReplyDraft:
        return ReplyDraft(
            kind="fallback",
            text=decided.text,
            parts=(decided.text,),
            model=fixed_texts.FIXED_MODEL,
            persona_id=persona.id,
            error=decided.reason,
        )

    async def _answer(self, event: GenerateReply) -> ReplyDraft | None:
        data = event.data
        limit = self.settings.reply.context_messages
        async with self.pool.acquire() as conn:
            setup, stored, pending = await repository.load_setup_and_context(
                conn,
                tenant_id=event.tenant_id,
                instance_id=data.instance_id,
                request_event_id=event.event_id,
                conversation_id=data.conversation_id,
                burst_ids=data.message_ids,
                limit=limit,
            )
            # Checked before the model is paid for; the claim in `store_reply` is the real guard.
            if setup.answered:
                return None
            unseen = [m.message_id for m in stored if m.in_burst and _uncaptioned_image(m) and m.message_id]
            images = await repository.load_images(conn, unseen) if self.vision and unseen else {}
        persona = setup.persona or DEFAULT_PERSONA
        found = {message.message_id for message in stored if message.in_burst}
        if missing := [str(m) for m in data.message_ids if m not in found]:
            log.warning("burst messages not found; answering without them", missing=missing)
        context = select_context(stored, pending, limit)
        if images:
            context, failure = await self._describe_images(context, images, persona)
            if failure is not None and not any((m.text or "").strip() for m in context if m.in_burst):
                # Nothing of the burst can be read: the persona's image fallback, with the reason.
                fallback = media_replies.plan(
                    [media_replies.BurstMedia("media", "imageMessage", failure_reason=failure)],
                    language=persona.language,
                    emoji=persona.emoji,
                    persona_replies=setup.media_replies,
                    vision=False,
                )
                assert isinstance(fallback, media_replies.FixedReply)
                return self._media_fallback(persona, fallback)
        try:
            return await self._model_draft(persona, context)
        except ModelFailure as failure:
            return self._on_model_failure(persona, failure)

    async def _describe_images(
        self, context: list[ContextMessage], images: dict[uuid.UUID, tuple[bytes, str]], persona: Persona
    ) -> tuple[list[ContextMessage], str | None]:
        """The context with each stored image of the burst described; the last failure, if any."""
        vision = self.vision
        assert vision is not None
        ids = [m.message_id for m in context if m.message_id is not None and m.message_id in images]
        results = await asyncio.gather(
            *(vision.describe(*images[i], persona.language) for i in ids), return_exceptions=True
        )
        described: dict[uuid.UUID | None, str] = {}
        failure: str | None = None
        for message_id, result in zip(ids, results, strict=True):
            if isinstance(result, VisionFailure):
                failure = f"vision_failed: {result}"
                log.warning("image not described", message_id=str(message_id), error=str(result))
            elif isinstance(result, BaseException):
                raise result
            else:
                described[message_id] = result[0]
        return [
            dataclasses.replace(m, text=described[m.message_id], described=True)
            if m.message_id in described
            else m
            for m in context
        ], failure

    async def _model_draft(self, persona: Persona, context: list[ContextMessage]) -> ReplyDraft:
        max_parts = self.settings.reply.max_parts
        request = ModelRequest(
            chat=build_chat(persona, context, max_parts),
            temperature=persona.temperature,
            model=persona.model,
            burst_texts=tuple(m.text for m in context if m.in_burst and m.text),
            contact_name=contact_name(context),
        )
        answer = await self.model.answer(request)
        styled = style_reply(answer.text, persona, max_parts)
        if not styled.parts:
            # An emoji-only answer for a persona without emoji leaves nothing to send.
            raise ModelFailure("nothing left after the persona's style", model=answer.model, retryable=True)
        return ReplyDraft(
            kind="reply",
            text=styled.text,
            parts=styled.parts,
            model=answer.model,
            persona_id=persona.id,
            offline=answer.offline,
            latency_ms=answer.latency_ms,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
        )

    def _on_model_failure(self, persona: Persona, failure: ModelFailure) -> ReplyDraft:
        if self.settings.model.on_failure == "dead_letter":
            if failure.retryable:
                raise failure  # the consumer retries the event, then dead-letters it
            raise PermanentFailure(str(failure)) from failure
        log.error("the model gave no answer; sending the fallback", error=str(failure))
        return ReplyDraft(
            kind="fallback",
            text=fixed_texts.MODEL_FAILURE_TEXT,
            parts=(fixed_texts.MODEL_FAILURE_TEXT,),
            model=fixed_texts.FIXED_MODEL,
            persona_id=persona.id,
            error=str(failure),
        )

    async def store_reply(self, event: GenerateReply, draft: ReplyDraft) -> None:
        """Insert the reply and stage its events in one statement, once per request."""
        data = event.data
        delays = self.delays.for_parts(draft.parts, seed=event.event_id)
        # A suspected bot loop is answered slowly: the guard's pause comes before the first part.
        delays[0] += data.delay_ms
        events = reply_events(event, draft, delays)
        reply = repository.NewReply(
            id=reply_id_for(event.event_id),
            tenant_id=event.tenant_id,
            request_event_id=event.event_id,
            kind=draft.kind,
            conversation_id=data.conversation_id,
            instance_id=data.instance_id,
            persona_id=draft.persona_id,
            text=draft.text,
            parts=draft.parts,
            model=draft.model,
            offline=draft.offline,
            latency_ms=draft.latency_ms,
            error=draft.error,
            message_ids=data.message_ids,
        )
        prepared = self.outbox.prepare(events)
        ids = await repository.store_reply(self.pool, reply, self.outbox, prepared)
        if ids is not None:
            self.relay.notify(prepared.staged(ids))
