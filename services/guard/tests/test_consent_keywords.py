"""Opt-out and opt-in keywords: equal after normalisation, never merely contained."""

from __future__ import annotations

import pytest

from guard.consent_keywords import ConsentAction, ConsentRequest, consent_request, normalize_keyword_text

OPT_OUT = ("PARE", "STOP", "SAIR", "CANCELAR", "DESCADASTRAR", "REMOVER", "UNSUBSCRIBE")
OPT_IN = ("VOLTAR", "START", "INICIAR")


def request(text: str | None) -> ConsentRequest | None:
    return consent_request(text, opt_out_keywords=OPT_OUT, opt_in_keywords=OPT_IN)


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("  PARE  ", "pare"),
        ("Pare!!!", "pare"),
        ("pÁrE.", "pare"),
        ("Não quero mais", "nao quero mais"),
        ("Descadastrar, por favor", "descadastrar por favor"),
        ("PARE 🛑", "pare"),
        ("s-t-o-p", "stop"),
        ("a\t\nb", "a b"),
        ("!!!", ""),
    ],
)
def test_normalization_trims_folds_case_and_strips_accents_and_punctuation(
    text: str, normalized: str
) -> None:
    assert normalize_keyword_text(text) == normalized


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("PARE", "PARE"),
        ("pare", "PARE"),
        (" Pare! ", "PARE"),
        ("stop.", "STOP"),
        ("Sair", "SAIR"),
        ("cancelar", "CANCELAR"),
        ("DESCADASTRAR", "DESCADASTRAR"),
        ("Remover", "REMOVER"),
        ("unsubscribe", "UNSUBSCRIBE"),
    ],
)
def test_a_text_equal_to_an_opt_out_keyword_opts_out(text: str, keyword: str) -> None:
    assert request(text) == ConsentRequest(ConsentAction.OPT_OUT, keyword)


@pytest.mark.parametrize("text", ["VOLTAR", "voltar!", "Start", "iniciar"])
def test_a_text_equal_to_an_opt_in_keyword_opts_in(text: str) -> None:
    found = request(text)
    assert found is not None
    assert found.action is ConsentAction.OPT_IN


@pytest.mark.parametrize(
    "text",
    [
        "não pare",
        "please stop sending me this",
        "stop it",
        "pare de mandar mensagem",
        "PARED",
        "oi",
        "",
        "   ",
        "🛑",
        None,
    ],
)
def test_a_keyword_inside_a_sentence_or_no_text_is_not_a_consent_change(text: str | None) -> None:
    assert request(text) is None


def test_tenant_keywords_are_normalized_like_the_text() -> None:
    found = consent_request("nao quero mais!", opt_out_keywords=["Não quero mais"], opt_in_keywords=[])
    assert found == ConsentRequest(ConsentAction.OPT_OUT, "Não quero mais")
    assert consent_request("PARE", opt_out_keywords=["Não quero mais"], opt_in_keywords=[]) is None


def test_a_word_configured_both_ways_opts_out() -> None:
    found = consent_request("stop", opt_out_keywords=["STOP"], opt_in_keywords=["STOP"])
    assert found == ConsentRequest(ConsentAction.OPT_OUT, "STOP")
