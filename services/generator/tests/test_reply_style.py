"""Unit tests: a model's text shaped by the persona's style."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator.persona import DEFAULT_PERSONA
from generator.reply_style import (
    ELLIPSIS,
    normalize_text,
    split_into_parts,
    strip_emoji,
    style_reply,
    truncate_at_sentence,
)

TEXT = (
    "Olá! Tudo bem com você? Aqui é a Bia. Posso ajudar com pedidos, trocas e prazos de entrega. "
    "Me conta o que você precisa."
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Oi! 😀 Tudo bem?", "Oi! Tudo bem?"),
        ("Valeu 👍🏽", "Valeu"),  # skin tone modifier
        ("Família 👨‍👩‍👧 reunida", "Família reunida"),  # zero-width-joiner sequence
        ("Do Brasil 🇧🇷 , com carinho ❤️", "Do Brasil, com carinho"),  # flag, variation selector
        ("Opção 1️⃣ ou #️⃣", "Opção ou"),  # keycaps go whole
        ("Feito ✅. Nota ⭐⭐⭐", "Feito. Nota"),
        ("Marca ©️ registrada", "Marca registrada"),
    ],
)
def test_strip_emoji_removes_pictographs_and_their_leftover_spaces(raw: str, expected: str) -> None:
    assert strip_emoji(raw) == expected


def test_strip_emoji_keeps_portuguese_text_symbols_and_line_breaks() -> None:
    text = "Ação, coração e pão: R$ 10,50 (© 2026, 50% off) → entrega às 9h!\nSegunda linha ;-)"
    assert strip_emoji(text) == text


def test_normalize_text_collapses_blank_lines_and_uses_whatsapp_bold() -> None:
    raw = "  **Oferta** de hoje  \r\n\r\n\r\n\nLeve **duas** e pague uma.\n"
    assert normalize_text(raw) == "*Oferta* de hoje\n\nLeve *duas* e pague uma."


def test_a_text_within_the_limit_is_not_truncated() -> None:
    assert truncate_at_sentence(TEXT, len(TEXT)) == TEXT


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (30, "Olá! Tudo bem com você?"),
        (60, "Olá! Tudo bem com você? Aqui é a Bia."),
        (110, "Olá! Tudo bem com você? Aqui é a Bia. Posso ajudar com pedidos, trocas e prazos de entrega."),
    ],
)
def test_truncation_cuts_after_the_last_whole_sentence(limit: int, expected: str) -> None:
    assert truncate_at_sentence(TEXT, limit) == expected


def test_truncation_between_words_with_an_ellipsis_when_no_sentence_fits() -> None:
    text = "Temos camisetas, bermudas, bonés e tênis em várias cores e tamanhos para você escolher."
    cut = truncate_at_sentence(text, 40)
    assert cut == "Temos camisetas, bermudas, bonés e…"
    assert len(cut) <= 40


def test_truncation_prefers_a_paragraph_end() -> None:
    text = "Primeiro bloco sem ponto final\n\nSegundo bloco bem mais longo que não cabe no limite"
    assert truncate_at_sentence(text, 45) == "Primeiro bloco sem ponto final"


def test_a_decimal_point_is_not_a_sentence_end() -> None:
    text = "O frete custa 12.50 para sua região e chega em dois dias úteis"
    assert truncate_at_sentence(text, 20).endswith(ELLIPSIS)


@given(st.text(min_size=0, max_size=600), st.integers(min_value=20, max_value=400))
def test_truncation_never_exceeds_the_limit(text: str, limit: int) -> None:
    assert len(truncate_at_sentence(text, limit)) <= limit


def test_split_on_blank_lines() -> None:
    assert split_into_parts("Oi, Ana!\n\nTemos sim.\nChega amanhã.\n\nPosso ajudar?", 3) == (
        "Oi, Ana!",
        "Temos sim.\nChega amanhã.",
        "Posso ajudar?",
    )


def test_parts_over_the_cap_join_the_last_part_so_nothing_is_lost() -> None:
    assert split_into_parts("a\n\nb\n  \n\nc\n\nd\n\ne", 3) == ("a", "b", "c\n\nd\n\ne")


def test_one_paragraph_is_one_part() -> None:
    assert split_into_parts("Só uma mensagem.\nCom duas linhas.", 3) == (
        "Só uma mensagem.\nCom duas linhas.",
    )
    assert split_into_parts("   \n\n ", 3) == ()


def test_style_reply_applies_emoji_rule_length_and_parts() -> None:
    persona = dataclasses.replace(DEFAULT_PERSONA, emoji=False, max_length=65)
    raw = "Oi, Ana! 😊\n\nTemos o tênis no tamanho 38. Quer que eu reserve? 👟\n\nAbraços!"
    styled = style_reply(raw, persona, max_parts=2)
    assert styled.parts == ("Oi, Ana!", "Temos o tênis no tamanho 38. Quer que eu reserve?")
    assert styled.text == "Oi, Ana!\n\nTemos o tênis no tamanho 38. Quer que eu reserve?"
    assert len(styled.text) <= 65


def test_style_reply_keeps_emoji_when_the_persona_allows_them() -> None:
    styled = style_reply("Oi! 😊", DEFAULT_PERSONA, max_parts=3)
    assert styled.parts == ("Oi! 😊",)


def test_an_emoji_only_answer_leaves_nothing_for_a_persona_without_emoji() -> None:
    styled = style_reply("👍", dataclasses.replace(DEFAULT_PERSONA, emoji=False), max_parts=3)
    assert styled.parts == ()
