"""The prompt of one reply: the persona's instructions and the conversation so far."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from contracts import MessageCategory
from generator.persona import Persona

Speaker = Literal["contact", "business"]
Role = Literal["system", "user", "assistant"]

# What the model reads in place of a message without text.
_PLACEHOLDERS: dict[str, str] = {
    MessageCategory.AUDIO: "[áudio]",
    MessageCategory.MEDIA: "[imagem ou arquivo]",
}
_UNKNOWN_PLACEHOLDER = "[mensagem sem texto]"
# How a voice note's transcript is marked in the person's turn.
TRANSCRIBED_MARK = "[áudio transcrito]"
_LANGUAGES = {
    "pt-br": "Brazilian Portuguese",
    "pt": "Portuguese",
    "pt-pt": "European Portuguese",
    "en": "English",
    "en-us": "English",
    "en-gb": "British English",
    "es": "Spanish",
}
_NAME_LIMIT = 40
# An echo of a reply arrives after the reply row was written; a little slack covers the
# clock of the phone that stamped it.
_ECHO_SLACK = timedelta(seconds=60)


@dataclass(frozen=True)
class ContextMessage:
    """One message of the conversation as the model sees it."""

    speaker: Speaker
    text: str | None
    at: datetime
    category: str = MessageCategory.TEXT
    # Part of the burst this reply answers.
    in_burst: bool = False
    # A part of one of Mirage's own replies whose WhatsApp echo has not been stored yet.
    pending: bool = False
    push_name: str | None = None
    message_id: uuid.UUID | None = field(default=None, compare=False)
    message_type: str | None = None
    # The text is the transcript of a voice note (docs/media.md).
    transcribed: bool = False
    # The text is a vision model's description of an image sent without a caption.
    described: bool = False

    @property
    def content(self) -> str:
        """The text (marked when transcribed or described), or a placeholder saying what it was."""
        if self.text and self.text.strip():
            if self.transcribed:
                return f"{TRANSCRIBED_MARK} {self.text.strip()}"
            if self.described:
                return f"[imagem: {self.text.strip()}]"
            return self.text.strip()
        return _PLACEHOLDERS.get(self.category, _UNKNOWN_PLACEHOLDER)


@dataclass(frozen=True)
class ChatMessage:
    """One message of a chat-completion prompt."""

    role: Role
    content: str


def select_context(
    stored: Sequence[ContextMessage], pending: Sequence[ContextMessage], limit: int
) -> list[ContextMessage]:
    """The conversation the model sees: the last `limit` messages, the burst always last and whole.

    `stored` are the messages ingest recorded; `pending` the parts of Mirage's replies not yet
    echoed back (a part whose echo is already among `stored` is dropped). The burst goes last,
    after anything that happened while it was being answered, so the model knows what to answer.
    """
    echoed = [m for m in stored if m.speaker == "business"]
    unechoed = [
        part
        for part in pending
        if not any(m.content == part.content and m.at >= part.at - _ECHO_SLACK for m in echoed)
    ]
    burst = sorted((m for m in stored if m.in_burst), key=lambda m: m.at)
    others = sorted([*(m for m in stored if not m.in_burst), *unechoed], key=lambda m: m.at)
    room = max(0, limit - len(burst))
    return [*(others[-room:] if room else []), *burst]


def contact_name(context: Sequence[ContextMessage]) -> str | None:
    """The person's latest WhatsApp display name in the context."""
    for message in reversed(context):
        if message.speaker == "contact" and message.push_name:
            return message.push_name
    return None


def _language_name(code: str) -> str:
    return _LANGUAGES.get(code.lower(), code)


def system_prompt(persona: Persona, max_parts: int, person: str | None, *, media: bool = False) -> str:
    """The persona's own prompt followed by the style every reply must keep."""
    lines = [
        persona.system_prompt.strip(),
        "",
        f"You are {persona.name}, chatting with a person on WhatsApp.",
        f"Always reply in {_language_name(persona.language)}.",
        f"Keep the whole reply under {persona.max_length} characters; short chat messages, no markdown.",
        "Do not use emoji." if not persona.emoji else "Emoji are fine, sparingly.",
        "A blank line starts a new WhatsApp message; use at most "
        f"{max_parts} {'message' if max_parts == 1 else 'messages'}.",
    ]
    if person:
        lines.append(f'The person\'s WhatsApp name is "{person[:_NAME_LIMIT]}".')
    if media:
        lines.append(
            f"Lines starting with {TRANSCRIBED_MARK} are the person's voice notes, transcribed automatically "
            "(a word may be wrong); [imagem: …] describes a picture they sent. Answer them as if they had "
            "written it, without mentioning the transcription."
        )
    return "\n".join(lines)


def build_chat(persona: Persona, context: Sequence[ContextMessage], max_parts: int) -> list[ChatMessage]:
    """System instructions, then the conversation with consecutive turns of one side merged.

    Some OpenAI-compatible servers refuse two user (or assistant) turns in a row, so a burst
    of three messages becomes one user turn with three lines.
    """
    media = any(message.transcribed or message.described for message in context)
    chat = [
        ChatMessage(
            role="system", content=system_prompt(persona, max_parts, contact_name(context), media=media)
        )
    ]
    for message in context:
        role: Role = "user" if message.speaker == "contact" else "assistant"
        last = chat[-1]
        if last.role == role:
            chat[-1] = ChatMessage(role=role, content=f"{last.content}\n{message.content}")
        else:
            chat.append(ChatMessage(role=role, content=message.content))
    if chat[-1].role != "user":
        # Nothing of the person's was found: the model still needs a turn to answer.
        chat.append(ChatMessage(role="user", content=_UNKNOWN_PLACEHOLDER))
    return chat
