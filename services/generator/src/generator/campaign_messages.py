"""Personalised campaign messages (`personalise.requested`, PRODUCT §4.1).

A campaign created with `personalise` has each message rewritten in the voice of the number
that sends it, after the outreach worker admitted it under the quotas:

1. read whether this send was written already and the sending number's persona (else the
   built-in default);
2. ask the model to rewrite the rendered template for this contact, keeping every fact; the
   answer is kept only if it still holds every number, price, date, link and e-mail address of
   the original (`kept_facts`) and fits the persona's length, otherwise the rendered template
   goes out as it is, with the reason recorded (so does a model failure, or no model at all);
3. in one statement: the `replies` row (kind `campaign`, id = the send id) and the
   `send.requested` the outreach worker prepared, with the final text.

A redelivered request finds its row and stages nothing; the send keeps the outreach worker's
send id, so the sender's outcome settles the campaign target as for any campaign send.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from contracts import RequestPersonalisation, SendText, stable_id
from database import Pool
from generator import repository, turn_repository
from generator.persona import DEFAULT_PERSONA, Persona
from generator.prompt import ChatMessage
from generator.replies import PRODUCER
from generator.reply_model import ModelFailure, ModelRequest, OfflineReplyModel, ReplyModel
from generator.reply_style import style_reply
from messaging import Outbox, OutboxRelay
from service_runtime import BoundAtStartup

# The consumer group of `personalise.requested` (apart from replies', so neither waits on the other).
PERSONALISE_CONSUMER = "generator-personalise"
# What `replies.model` says when the template's own text went out.
TEMPLATE_MODEL = "template"

log = structlog.get_logger(__name__)

# What a rewrite must keep: links, e-mail addresses, and every run of digits (prices, dates,
# times, codes, phone numbers) as written.
_FACT = re.compile(r"https?://[^\s<>\"]+|www\.[^\s<>\"]+|[\w.+-]+@[\w-]+\.[\w.-]+|\d(?:[\d.,:/-]*\d)?")
_TRAILING = ".,;:!?)»\"'"
# How much of each contact variable the prompt shows (names, cities: short by nature).
_VARIABLE_LIMIT = 60
_VARIABLES_SHOWN = 8
_LANGUAGES = {"pt-br": "Brazilian Portuguese", "pt": "Portuguese", "en": "English", "es": "Spanish"}


def facts_of(text: str) -> list[str]:
    """The links, addresses and digit runs of `text`, in order."""
    return [match.rstrip(_TRAILING) for match in _FACT.findall(text)]


def kept_facts(original: str, rewritten: str) -> list[str]:
    """The facts of `original` that `rewritten` lost (empty: it kept them all)."""
    kept = set(facts_of(rewritten))
    return [fact for fact in dict.fromkeys(facts_of(original)) if fact not in kept]


def _shown(variables: Mapping[str, Any]) -> list[str]:
    lines = []
    for name, value in list(variables.items())[:_VARIABLES_SHOWN]:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            lines.append(f"- {str(name)[:_VARIABLE_LIMIT]}: {str(value)[:_VARIABLE_LIMIT]}")
    return lines


def personalise_chat(persona: Persona, text: str, variables: Mapping[str, Any]) -> list[ChatMessage]:
    """The persona's prompt, how to rewrite, then the message itself as the user's."""
    language = _LANGUAGES.get(persona.language.lower(), persona.language)
    lines = [
        persona.system_prompt.strip(),
        "",
        "Right now you are not answering a customer: you are writing one WhatsApp message that"
        " the business sends to a contact. Rewrite the message the user gives you in your own"
        f" voice, in {language}, so it reads as written for this person by a real person.",
        "Keep its meaning and every fact exactly as written: prices, dates, times, numbers, codes,"
        " links and e-mail addresses. Add no fact, offer, promise or question that is not in it.",
        f"At most {persona.max_length} characters. Plain text, no markdown, no quotes around it."
        " Answer with the message only.",
        "Do not use emoji." if not persona.emoji else "An emoji is fine if it fits.",
    ]
    shown = _shown(variables)
    if shown:
        lines += ["", "What the business knows about the contact (use only if it fits naturally):", *shown]
    return [ChatMessage(role="system", content="\n".join(lines)), ChatMessage(role="user", content=text)]


@dataclass(frozen=True)
class Rewrite:
    """The text that goes out, who wrote it, and why not the model (None: the model did)."""

    text: str
    model: str
    error: str | None
    latency_ms: int = 0


class CampaignPersonaliser:
    """Consumes `personalise.requested`; its pool and relay are bound at start-up."""

    pool = BoundAtStartup[Pool]()
    relay = BoundAtStartup[OutboxRelay]()

    def __init__(self, model: ReplyModel, *, namespace: str = "") -> None:
        self.model = model
        self.offline = isinstance(model, OfflineReplyModel)
        self.outbox = Outbox(PRODUCER, namespace=namespace)

    def bind(self, pool: Pool, relay: OutboxRelay) -> None:
        """Attach the dependencies opened at start-up (the generator's pool and relay)."""
        self.pool, self.relay = pool, relay

    async def on_personalise_requested(self, event: RequestPersonalisation) -> None:
        """Rewrite one campaign message exactly once: store it and stage its send."""
        send = event.data.send
        async with self.pool.acquire() as conn:
            setup = await turn_repository.load_turn_setup(
                conn, event.tenant_id, send.instance_id, None, send.send_id, event.event_id
            )
        if setup.written:
            return
        persona = setup.persona or DEFAULT_PERSONA
        rewrite = await self.rewrite(event, persona)
        command = SendText(
            event_id=stable_id("send.requested", event.event_id),
            tenant_id=event.tenant_id,
            correlation_id=event.correlation_id,
            causation_id=event.event_id,
            data=send.model_copy(update={"text": rewrite.text}),
        )
        prepared = self.outbox.prepare([command])
        reply = repository.NewReply(
            id=send.send_id,
            tenant_id=event.tenant_id,
            request_event_id=event.event_id,
            kind="campaign",
            conversation_id=None,
            instance_id=send.instance_id,
            persona_id=persona.id,
            text=rewrite.text,
            parts=(rewrite.text,),
            model=rewrite.model,
            offline=rewrite.model == TEMPLATE_MODEL,
            latency_ms=rewrite.latency_ms,
            error=rewrite.error,
            message_ids=(),
        )
        ids = await repository.store_reply(self.pool, reply, self.outbox, prepared)
        if ids is not None:
            self.relay.notify(prepared.staged(ids))
            log.info(
                "campaign message written",
                campaign_id=str(send.campaign_id),
                target_id=str(send.target_id),
                personalised=rewrite.error is None,
                reason=rewrite.error,
            )

    async def rewrite(self, event: RequestPersonalisation, persona: Persona) -> Rewrite:
        """The model's rewrite when it keeps every fact, else the rendered template and why."""
        original = event.data.send.text
        if self.offline:
            return Rewrite(original, TEMPLATE_MODEL, error="no model configured")
        chat = personalise_chat(persona, original, event.data.variables)
        try:
            answer = await self.model.answer(
                ModelRequest(chat=chat, temperature=persona.temperature, model=persona.model)
            )
        except ModelFailure as failure:
            log.warning(
                "the model did not rewrite a campaign message; sending the template", error=str(failure)
            )
            return Rewrite(original, TEMPLATE_MODEL, error=f"model failed: {failure}")
        styled = style_reply(answer.text.strip().strip("\"'«»“”"), persona, 1).text
        if not styled:
            return Rewrite(
                original, TEMPLATE_MODEL, error="the rewrite was empty", latency_ms=answer.latency_ms
            )
        lost = kept_facts(original, styled)
        if lost:
            return Rewrite(
                original,
                TEMPLATE_MODEL,
                error=f"the rewrite dropped {', '.join(lost[:5])}",
                latency_ms=answer.latency_ms,
            )
        return Rewrite(styled, answer.model, error=None, latency_ms=answer.latency_ms)
