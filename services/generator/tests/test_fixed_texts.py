"""Unit tests: texts written without a model (confirmations, fallbacks, offline replies)."""

from __future__ import annotations

import pytest

from generator.fixed_texts import (
    first_name,
    offline_reply,
    opt_in_confirmation,
    opt_out_confirmation,
    quote,
    without_text_fallback,
)


def test_the_offline_reply_is_labelled_and_quotes_the_burst() -> None:
    reply = offline_reply(["oi", "quero saber o preço do tênis"], "Ana")
    assert reply.startswith("Olá, Ana!")
    assert "resposta automática em modo offline" in reply
    assert "«oi / quero saber o preço do tênis»" in reply


def test_the_offline_reply_is_deterministic_and_works_without_a_name_or_text() -> None:
    assert offline_reply(["oi"], None) == offline_reply(["oi"], None)
    assert offline_reply([], None).startswith("Olá! Esta é uma resposta automática em modo offline")
    assert "Recebi sua mensagem." in offline_reply(["  "], None)


def test_a_long_quote_is_shortened_on_one_line() -> None:
    quoted = quote(["palavra " * 100, "fim"], limit=50)
    assert len(quoted) == 50
    assert quoted.endswith("…")
    assert "\n" not in quote(["linha um\nlinha dois"])


@pytest.mark.parametrize(
    ("push_name", "expected"),
    [
        ("Ana Souza", "Ana"),
        ("joão", "João"),
        ("Loja 123", "Loja"),
        ("🌸 Maria", None),
        ("123", None),
        ("", None),
        (None, None),
    ],
)
def test_first_name_takes_a_plausible_given_name(push_name: str | None, expected: str | None) -> None:
    assert first_name(push_name) == expected


def test_confirmations_name_the_tenants_keywords() -> None:
    assert "é só enviar VOLTAR" in opt_out_confirmation(None)
    assert "é só enviar INICIAR" in opt_out_confirmation("INICIAR")
    assert "é só enviar PARE" in opt_in_confirmation(None)
    assert "é só enviar SAIR" in opt_in_confirmation("SAIR")


@pytest.mark.parametrize(
    ("categories", "received"),
    [
        (["audio"], "Recebi seu áudio"),
        (["media", "audio"], "Recebi seu áudio"),
        (["media"], "Recebi seu arquivo"),
        (["other"], "Não consegui ler sua mensagem"),
        ([], "Não consegui ler sua mensagem"),
    ],
)
def test_the_without_text_fallback_names_what_arrived_and_asks_for_text(
    categories: list[str], received: str
) -> None:
    text = without_text_fallback(categories)
    assert text.startswith(received)
    assert text.endswith("Pode me escrever o que você precisa?")
