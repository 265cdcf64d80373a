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

# How a persona answers media it cannot read (docs/media.md; the generator's `media_replies.py`).
MEDIA_BEHAVIOURS = ("acknowledge", "silence")
# The persona's own reply text is a sentence: something besides lowercase letters, or two words.
# A bare lowercase word is refused, so a misspelt behaviour ("silent") is never sent to a contact
# as the reply; neither is a blank text. (Unanchored, as JSON Schema and pydantic apply it.)
OWN_TEXT_PATTERN = r"[^a-z_\s]|\S\s+\S"
BEHAVIOUR_PATTERN = rf"^(?:{'|'.join(MEDIA_BEHAVIOURS)})$|{OWN_TEXT_PATTERN}"

MediaBehaviour = Annotated[
    StorableText,
    Field(
        min_length=1,
        max_length=1000,
        pattern=BEHAVIOUR_PATTERN,
        examples=["acknowledge", "silence", "Recebi seu vídeo! Pode me contar por escrito?"],
        description="`acknowledge`, `silence` or the persona's own reply text.",
    ),
]
OwnText = Annotated[
    StorableText,
    Field(
        min_length=1,
        max_length=1000,
        pattern=OWN_TEXT_PATTERN,
        examples=["Não consegui ouvir seu áudio. Pode escrever?"],
        description="The persona's own reply text.",
    ),
]


class MediaReplies(BaseModel):
    """How the persona answers media it cannot read, per kind: `acknowledge` (a short fixed reply in
    the persona's language), `silence` (no reply) or the persona's own reply text. Kinds left out
    (or null) keep the defaults: acknowledge, except stickers (silence)."""

    model_config = ConfigDict(extra="forbid")

    video: MediaBehaviour | None = None
    document: MediaBehaviour | None = None
    location: MediaBehaviour | None = None
    contact: MediaBehaviour | None = None
    sticker: MediaBehaviour | None = None
    other: MediaBehaviour | None = Field(default=None, description="Any other message without text.")
    audio_fallback: OwnText | None = Field(
        default=None, description="Own text of the reply to a voice note that could not be transcribed."
    )
    image_fallback: OwnText | None = Field(
        default=None, description="Own text of the reply to an image that could not be looked at."
    )

    def stored(self) -> dict[str, str]:
        """What `personas.media_replies` holds: the kinds given."""
        return {key: value for key, value in self.model_dump().items() if value is not None}


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
    media_replies: MediaReplies = Field(default_factory=MediaReplies)


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
    media_replies: MediaReplies | None = Field(
        default=None, description="Replaces the persona's media replies as a whole (`{}`: the defaults)."
    )


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
    media_replies: dict[str, str] = Field(
        description="How the persona answers media it cannot read, per kind (see `MediaReplies`)."
    )
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
            media_replies=persona.media_replies,
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
