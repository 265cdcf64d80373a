"""The prompt of one warm-up turn: the persona as a person chatting with someone it knows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from contracts import TurnLine
from generator.persona import Persona
from generator.prompt import ChatMessage, Role

# Chit-chat is short, whatever the persona allows for answering customers.
MAX_TURN_CHARS = 300
_NAME_LIMIT = 40
_LANGUAGES = {"pt-br": "Brazilian Portuguese", "pt": "Portuguese", "en": "English", "es": "Spanish"}


def _language(code: str) -> str:
    return _LANGUAGES.get(code.lower(), code)


def turn_system_prompt(
    persona: Persona,
    *,
    messages: int,
    listener_name: str | None,
    topic: str | None,
    opening: bool,
    closing: bool,
) -> str:
    """The persona's own prompt, then how to chat in this turn."""
    other = f'"{listener_name[:_NAME_LIMIT]}"' if listener_name else "someone you know"
    lines = [
        persona.system_prompt.strip(),
        "",
        f"Right now you are not serving a customer: you are {persona.name}, chatting on WhatsApp with"
        f" {other}, a friend. It is casual small talk" + (f" (the topic: {topic})." if topic else "."),
        f"Write like a real person on a phone, in {_language(persona.language)}: short, informal,"
        " no markdown, no links, no lists. Never say you are a bot, an assistant or an AI, and do not"
        " talk about work for the business unless the other person does.",
        "Do not use emoji." if not persona.emoji else "An emoji now and then is fine.",
        f"Write exactly {messages} short WhatsApp {'message' if messages == 1 else 'messages'}"
        + ("." if messages == 1 else ", separated by a blank line."),
    ]
    if opening:
        lines.append("You start the conversation: greet and bring up the topic.")
    if closing:
        lines.append("This is your last message for now: wrap up naturally (you have to go, talk later).")
    return "\n".join(lines)


def turn_chat(
    persona: Persona,
    history: Sequence[TurnLine],
    speaker_instance_id: uuid.UUID,
    *,
    messages: int,
    listener_name: str | None,
    topic: str | None,
    closing: bool,
) -> list[ChatMessage]:
    """System instructions, then the round so far: the speaker's lines as the assistant's, the peer's
    as the user's (consecutive lines of one side merged, as some servers require)."""
    opening = not history
    chat = [
        ChatMessage(
            role="system",
            content=turn_system_prompt(
                persona,
                messages=messages,
                listener_name=listener_name,
                topic=topic,
                opening=opening,
                closing=closing,
            ),
        )
    ]
    for line in history:
        role: Role = "assistant" if line.speaker_instance_id == speaker_instance_id else "user"
        if chat[-1].role == role:
            chat[-1] = ChatMessage(role=role, content=f"{chat[-1].content}\n{line.text}")
        else:
            chat.append(ChatMessage(role=role, content=line.text))
    if chat[-1].role != "user":
        # The opening (or a second go in a row): the model still needs a user turn to answer.
        cue = "(Start the conversation now.)" if opening else "(Go on with the conversation.)"
        chat.append(ChatMessage(role="user", content=cue))
    return chat
