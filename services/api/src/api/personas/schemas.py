"""Request and response bodies of the persona routes (pt-BR defaults)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.input_types import Name, StorableText
from api.personas.repository import Persona

DEFAULT_SYSTEM_PROMPT = (
    "Você é um atendente simpático que conversa com clientes pelo WhatsApp. Escreva como uma pessoa "
    "real: frases curtas, linguagem simples e cordial. Responda o que foi perguntado e, se faltar "
    "informação, faça uma pergunta por vez. Nunca invente preços, prazos ou políticas: diga que vai "
    "confirmar com a equipe."
)

SystemPrompt = Annotated[StorableText, Field(min_length=1, max_length=8000)]
Language = Annotated[
    str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", examples=["pt-BR"], description="BCP 47 tag.")
]
MaxLength = Annotated[int, Field(ge=20, le=4000, description="Characters of a whole reply.")]
Temperature = Annotated[float, Field(ge=0, le=2)]
Model = Annotated[
    StorableText, Field(min_length=1, max_length=200, description="None: the generator's default.")
]


class PersonaCreate(BaseModel):
    """`POST /personas`: what is omitted gets the Brazilian Portuguese defaults."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    system_prompt: SystemPrompt = DEFAULT_SYSTEM_PROMPT
    language: Language = "pt-BR"
    max_length: MaxLength = 600
    emoji: bool = True
    temperature: Temperature = 0.7
    model: Model | None = None


class PersonaUpdate(BaseModel):
    """`PATCH /personas/{id}`: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    system_prompt: SystemPrompt | None = None
    language: Language | None = None
    max_length: MaxLength | None = None
    emoji: bool | None = None
    temperature: Temperature | None = None
    model: Model | None = None


class PersonaOut(BaseModel):
    """A persona."""

    id: uuid.UUID
    name: str
    system_prompt: str
    language: str
    max_length: int
    emoji: bool
    temperature: float
    model: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, persona: Persona) -> PersonaOut:
        """The public view of a persona row."""
        return cls(
            id=persona.id,
            name=persona.name,
            system_prompt=persona.system_prompt,
            language=persona.language,
            max_length=persona.max_length,
            emoji=persona.emoji,
            temperature=persona.temperature,
            model=persona.model,
            created_at=persona.created_at,
            updated_at=persona.updated_at,
        )


class PersonaList(BaseModel):
    """A page of personas."""

    items: list[PersonaOut]
    limit: int
    offset: int


class SandboxMessage(BaseModel):
    """One message of a made-up chat."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["contact", "persona"] = Field(description="`contact`: the person; `persona`: the bot.")
    text: Annotated[StorableText, Field(min_length=1, max_length=4000)]


class SandboxRequest(BaseModel):
    """`POST /personas/{id}/sandbox`: the chat so far, ending with the contact's message(s)."""

    model_config = ConfigDict(extra="forbid")

    messages: Annotated[list[SandboxMessage], Field(min_length=1, max_length=50)]
    contact_name: Annotated[StorableText, Field(min_length=1, max_length=100)] | None = Field(
        default=None, description="The made-up contact's WhatsApp name."
    )


class SandboxReplyOut(BaseModel):
    """The persona's reply, split into the WhatsApp messages a contact would receive."""

    reply: str
    parts: list[str]
    model: str = Field(description="The model that wrote it; `offline` for the labelled stand-in.")
    offline: bool = Field(description="True when no model is configured (a deterministic stand-in).")
    latency_ms: int
