"""Opt-out and re-opt-in keywords (PRODUCT §4.2): a message is a keyword only when it *is* one."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache


class ConsentAction(StrEnum):
    """What a keyword asks for."""

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


@dataclass(frozen=True)
class ConsentRequest:
    """A message that is exactly one of the tenant's consent keywords."""

    action: ConsentAction
    # The keyword as the tenant configured it (`PARE`), for the consent ledger.
    keyword: str


def normalize_keyword_text(text: str) -> str:
    """Trimmed, case-folded, without accents, punctuation or symbols, single-spaced."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept: list[str] = []
    for char in decomposed:
        category = unicodedata.category(char)
        if category == "Mn":  # combining accents: "não" → "nao"
            continue
        # Punctuation and symbols (emoji included) vanish; other separators become spaces.
        if category[0] in "PS":
            continue
        kept.append(" " if char.isspace() or category[0] in "ZC" else char)
    return " ".join("".join(kept).split())


# The tenants' keywords are few and change rarely: each is normalized once, not on every
# message (a dozen per message was 4 % of the guard's profile at 80 msg/s).
_normalized_keyword = lru_cache(maxsize=4096)(normalize_keyword_text)


def _matching(normalized: str, keywords: Iterable[str]) -> str | None:
    for keyword in keywords:
        if normalized == _normalized_keyword(keyword):
            return keyword
    return None


def consent_request(
    text: str | None, *, opt_out_keywords: Iterable[str], opt_in_keywords: Iterable[str]
) -> ConsentRequest | None:
    """The consent change `text` asks for, when the whole text equals a keyword; else None.

    "não pare" or a sentence that contains "stop" is not a keyword. When a word is
    configured as both (a tenant's mistake), opting out wins: it is the safe reading.
    """
    if not text:
        return None
    normalized = normalize_keyword_text(text)
    if not normalized:
        return None
    keyword = _matching(normalized, opt_out_keywords)
    if keyword is not None:
        return ConsentRequest(ConsentAction.OPT_OUT, keyword)
    keyword = _matching(normalized, opt_in_keywords)
    if keyword is not None:
        return ConsentRequest(ConsentAction.OPT_IN, keyword)
    return None
