"""Unit tests: which messages the model sees, and how the persona shapes the prompt."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from generator.persona import DEFAULT_PERSONA, Persona
from generator.prompt import ChatMessage, ContextMessage, build_chat, contact_name, select_context

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PERSONA = Persona(
    id=uuid.uuid4(),
    name="Bia",
    system_prompt="Você é a Bia, da Loja Teste.",
    language="pt-BR",
    max_length=300,
    emoji=False,
    temperature=0.4,
    model="persona-model",
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def contact(
    text: str | None, second: float, *, burst: bool = False, category: str = "text"
) -> ContextMessage:
    return ContextMessage(
        speaker="contact",
        text=text,
        at=at(second),
        in_burst=burst,
        category=category,
        push_name="Ana Souza",
        message_id=uuid.uuid4(),
    )


def business(text: str, second: float, *, pending: bool = False) -> ContextMessage:
    return ContextMessage(speaker="business", text=text, at=at(second), pending=pending)


def texts(context: list[ContextMessage]) -> list[str | None]:
    return [message.text for message in context]


def test_the_context_is_the_last_messages_with_the_burst_last() -> None:
    stored = [contact(f"m{i}", i) for i in range(10)] + [
        contact("b1", 20, burst=True),
        contact("b2", 21, burst=True),
    ]
    assert texts(select_context(stored, [], limit=5)) == ["m7", "m8", "m9", "b1", "b2"]


def test_the_whole_burst_is_kept_even_when_it_is_larger_than_the_window() -> None:
    stored = [contact("old", 1)] + [contact(f"b{i}", 10 + i, burst=True) for i in range(4)]
    assert texts(select_context(stored, [], limit=3)) == ["b0", "b1", "b2", "b3"]


def test_an_unechoed_reply_of_mirage_is_in_the_context_in_time_order() -> None:
    stored = [contact("oi", 1), contact("tem o tênis 38?", 30, burst=True)]
    pending = [business("Olá! Como posso ajudar?", 5, pending=True)]
    assert texts(select_context(stored, pending, limit=20)) == [
        "oi",
        "Olá! Como posso ajudar?",
        "tem o tênis 38?",
    ]


def test_a_reply_part_whose_echo_is_stored_appears_once() -> None:
    stored = [contact("oi", 1), business("Olá! Como posso ajudar?", 7), contact("preço?", 30, burst=True)]
    pending = [
        business("Olá! Como posso ajudar?", 5, pending=True),
        business("Segunda parte.", 5, pending=True),
    ]
    assert texts(select_context(stored, pending, limit=20)) == [
        "oi",
        "Segunda parte.",
        "Olá! Como posso ajudar?",
        "preço?",
    ]


def test_a_reply_written_while_the_burst_waited_goes_before_the_burst() -> None:
    # The previous reply was stored after this burst arrived: the model must still see the
    # burst as the thing to answer.
    stored = [contact("oi", 1), contact("e o preço?", 10, burst=True)]
    pending = [business("Olá! Tudo bem?", 12, pending=True)]
    assert texts(select_context(stored, pending, limit=20)) == ["oi", "Olá! Tudo bem?", "e o preço?"]


def test_the_system_prompt_carries_the_persona_and_its_style() -> None:
    chat = build_chat(PERSONA, [contact("oi", 1, burst=True)], max_parts=3)
    system = chat[0]
    assert system.role == "system"
    assert system.content.startswith("Você é a Bia, da Loja Teste.")
    assert "You are Bia" in system.content
    assert "Brazilian Portuguese" in system.content
    assert "under 300 characters" in system.content
    assert "Do not use emoji." in system.content
    assert "at most 3 messages" in system.content
    assert 'WhatsApp name is "Ana Souza"' in system.content


def test_a_persona_with_emoji_is_not_told_to_avoid_them() -> None:
    system = build_chat(DEFAULT_PERSONA, [contact("oi", 1, burst=True)], max_parts=1)[0].content
    assert "Do not use emoji." not in system
    assert "at most 1 message;" not in system  # singular, not a broken plural
    assert "at most 1 message" in system


def test_turns_map_to_roles_and_consecutive_turns_merge() -> None:
    context = [
        contact("oi", 1),
        business("Olá! Como posso ajudar?", 2),
        business("Estou por aqui.", 3, pending=True),
        contact("quero um tênis", 4, burst=True),
        contact(None, 5, burst=True, category="audio"),
        contact(None, 6, burst=True, category="media"),
    ]
    chat = build_chat(PERSONA, context, max_parts=3)
    assert chat[1:] == [
        ChatMessage(role="user", content="oi"),
        ChatMessage(role="assistant", content="Olá! Como posso ajudar?\nEstou por aqui."),
        ChatMessage(role="user", content="quero um tênis\n[áudio]\n[imagem ou arquivo]"),
    ]


def test_the_chat_always_ends_with_a_turn_of_the_person() -> None:
    chat = build_chat(PERSONA, [business("Olá!", 1)], max_parts=3)
    assert chat[-1].role == "user"
    assert build_chat(PERSONA, [], max_parts=3)[-1].role == "user"


def test_contact_name_is_the_latest_display_name_of_the_person() -> None:
    context = [
        contact("oi", 1),
        dataclasses.replace(contact("de novo", 2), push_name="Ana S."),
        business("Olá!", 3),
    ]
    assert contact_name(context) == "Ana S."
    assert contact_name([business("Olá!", 3)]) is None
