"""Who writes the replies: the instance's persona, or the built-in default."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Persona:
    """The voice and style of one instance's replies (a row of `personas`)."""

    id: uuid.UUID | None
    name: str
    system_prompt: str
    language: str
    # Characters of the whole reply, over all of its parts.
    max_length: int
    emoji: bool
    temperature: float
    # None: the generator's configured default model.
    model: str | None


# Used when the instance has no persona: what a contact reads is Brazilian Portuguese.
DEFAULT_PERSONA = Persona(
    id=None,
    name="Atendimento",
    system_prompt=(
        "Você é um atendente de uma empresa e conversa com clientes pelo WhatsApp. "
        "Seja caloroso, educado e prestativo, e escreva como uma pessoa real escreveria no "
        "WhatsApp: frases curtas, linguagem simples, sem formalidade excessiva. "
        "Responda o que a pessoa perguntou; se faltar informação, faça uma pergunta por vez. "
        "Nunca invente preços, prazos, políticas ou dados que você não recebeu: diga que vai "
        "verificar com a equipe."
    ),
    language="pt-BR",
    max_length=400,
    emoji=True,
    temperature=0.7,
    model=None,
)
