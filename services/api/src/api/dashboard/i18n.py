"""The dashboard's languages: Brazilian Portuguese by default, English on request.

Catalogs are flat JSON objects (`catalogs/<lang>.json`) with the same keys in every
language; `{name}` placeholders are filled with `str.format`. The choice comes from
`?lang=` (then remembered in a cookie for the browser session), else that cookie,
else pt-BR.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from starlette.requests import Request

DEFAULT_LANGUAGE = "pt-BR"
LANGUAGES: dict[str, str] = {"pt-BR": "Português", "en": "English"}
LANGUAGE_COOKIE = "mirage_lang"
_ALIASES = {"pt-br": "pt-BR", "pt": "pt-BR", "en": "en", "en-us": "en", "en-gb": "en"}


def normalize_language(value: str | None) -> str | None:
    """A supported language for `value` (`pt`, `pt-BR`, `en`, …), or None."""
    if not value:
        return None
    return _ALIASES.get(value.strip().lower())


def requested_language(request: Request) -> str | None:
    """The language asked for in the query string (`?lang=en`), if any."""
    return normalize_language(request.query_params.get("lang"))


def language_of(request: Request) -> str:
    """The language to render `request` in."""
    return (
        requested_language(request)
        or normalize_language(request.cookies.get(LANGUAGE_COOKIE))
        or DEFAULT_LANGUAGE
    )


@cache
def catalog(language: str) -> dict[str, str]:
    """The messages of `language` (read once per process)."""
    name = "pt-BR.json" if language == "pt-BR" else f"{language}.json"
    text = resources.files("api.dashboard").joinpath("catalogs", name).read_text(encoding="utf-8")
    messages: dict[str, str] = json.loads(text)
    return messages


@dataclass(frozen=True)
class Translator:
    """Messages of one language; a missing key shows itself instead of failing the page."""

    language: str

    def __call__(self, key: str, **params: Any) -> str:
        """The message `key`, with `params` filled in."""
        text = catalog(self.language).get(key)
        if text is None:
            text = catalog(DEFAULT_LANGUAGE).get(key, key)
        return text.format(**params) if params else text

    def has(self, key: str) -> bool:
        """True when the catalog has `key`."""
        return key in catalog(self.language)

    def subset(self, prefix: str) -> dict[str, str]:
        """Every message whose key starts with `prefix` (what the page scripts need)."""
        return {key: value for key, value in catalog(self.language).items() if key.startswith(prefix)}
