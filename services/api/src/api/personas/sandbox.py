"""The persona sandbox: a persona's reply to a made-up chat, without touching any contact.

It runs the persona through the same OpenAI-compatible model the generator uses (any
server: OpenAI, a local one, the simulator's `/v1/chat/completions`) with the same
instructions and the same shaping (emoji, length, parts), and stores nothing: no
conversation, no message, no send. The api cannot import the generator, so the prompt
and style rules below mirror `generator.prompt` and `generator.reply_style`; a test
compares them with the generator's own functions so the two cannot drift apart unseen.

The model is configured like the generator's: the first set of
`MIRAGE_API_SANDBOX_MODEL__<X>`, `MIRAGE_GENERATOR_MODEL__<X>`, the shared
`MIRAGE_MODEL__<X>` and (key and URL only) `OPENAI_API_KEY` / `OPENAI_BASE_URL`, for
`<X>` in `API_KEY`, `BASE_URL`, `MODEL`, `TIMEOUT_S`, `OFFLINE`. Neither key nor base
URL: a clearly labelled offline reply, as the generator's offline generator writes.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import httpx
from fastapi import Depends, Request

from api.domain_errors import DomainError, ErrorKind
from api.personas.repository import Persona

OFFLINE_MODEL = "offline"
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
KEYLESS_API_KEY = "no-key-configured"
# The generator's default `reply.max_parts`.
MAX_PARTS = 3
_ENV_PREFIXES = ("MIRAGE_API_SANDBOX_MODEL__", "MIRAGE_GENERATOR_MODEL__", "MIRAGE_MODEL__")
_OPENAI_FALLBACKS = {"API_KEY": "OPENAI_API_KEY", "BASE_URL": "OPENAI_BASE_URL"}
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
_QUOTE_LIMIT = 160

Speaker = Literal["contact", "persona"]


@dataclass(frozen=True)
class SandboxModel:
    """Where the sandbox's model answers."""

    api_key: str | None
    base_url: str
    model: str
    timeout_s: float


def _setting(environ: Mapping[str, str], name: str) -> str | None:
    for prefix in _ENV_PREFIXES:
        value = environ.get(f"{prefix}{name}")
        if value:
            return value
    fallback = _OPENAI_FALLBACKS.get(name)
    return (environ.get(fallback) or None) if fallback else None


def model_from_environ(environ: Mapping[str, str]) -> SandboxModel | None:
    """The configured model, or None for the offline stand-in (no key and no base URL)."""
    if (_setting(environ, "OFFLINE") or "").lower() in {"1", "true", "yes", "on"}:
        return None
    api_key = _setting(environ, "API_KEY")
    base_url = _setting(environ, "BASE_URL")
    if api_key is None and base_url is None:
        return None
    try:
        timeout_s = float(_setting(environ, "TIMEOUT_S") or 30.0)
    except ValueError:
        timeout_s = 30.0
    return SandboxModel(
        api_key=api_key,
        base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
        model=_setting(environ, "MODEL") or DEFAULT_MODEL,
        timeout_s=max(1.0, min(timeout_s, 120.0)),
    )


@dataclass(frozen=True)
class Turn:
    """One message of the made-up chat."""

    speaker: Speaker
    text: str


@dataclass(frozen=True)
class SandboxAnswer:
    """The persona's reply, shaped as the contact would receive it."""

    text: str
    parts: tuple[str, ...]
    model: str
    offline: bool
    latency_ms: int


# --- the prompt (mirrors generator.prompt) ------------------------------------------------


def _language_name(code: str) -> str:
    return _LANGUAGES.get(code.lower(), code)


def system_prompt(persona: Persona, max_parts: int, person: str | None) -> str:
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
    return "\n".join(lines)


def build_chat(persona: Persona, turns: Sequence[Turn], person: str | None) -> list[dict[str, str]]:
    """System instructions, then the chat with consecutive turns of one side merged."""
    chat = [{"role": "system", "content": system_prompt(persona, MAX_PARTS, person)}]
    for turn in turns:
        role = "user" if turn.speaker == "contact" else "assistant"
        if chat[-1]["role"] == role:
            chat[-1] = {"role": role, "content": f"{chat[-1]['content']}\n{turn.text.strip()}"}
        else:
            chat.append({"role": role, "content": turn.text.strip()})
    return chat


# --- shaping the reply (mirrors generator.reply_style) --------------------------------------

_EMOJI = re.compile(
    "[ \t]*(?:(?:"
    r"[0-9#*]\uFE0F?\u20E3"
    r"|[\u00A9\u00AE\u203C\u2049\u2122\u2139\u2194-\u2199\u21A9\u21AA]\uFE0F"
    "|["
    "\U0001f000-\U0001faff"
    "\u2600-\u27bf"
    "\u2b00-\u2bff"
    "\u2300-\u23ff"
    "\u3030\u303d\u3297\u3299"
    "\ufe0e\ufe0f\u200d\u20e3"
    "\U000e0020-\U000e007f"
    "]"
    "))+"
    r"(?:[ \t]+(?=[,.;:!?…]))?"
)
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_MARKDOWN_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_SENTENCE_END = re.compile(r"[.!?…][\"'”»)\]]*(?=\s|$)")
_MIN_SENTENCE_SHARE = 0.4
_ELLIPSIS = "…"
_WHITESPACE = re.compile(r"\s+")


def _normalize(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n")).strip()
    text = _BLANK_LINES.sub("\n\n", text)
    return _MARKDOWN_BOLD.sub(r"*\1*", text)


def _strip_emoji(text: str) -> str:
    stripped = _EMOJI.sub("", text)
    return "\n".join(line.strip() for line in stripped.split("\n")).strip()


def _truncate(text: str, max_length: int) -> str:
    if len(text) <= max_length:
        return text
    best = 0
    for match in _SENTENCE_END.finditer(text):
        if match.end() > max_length:
            break
        best = match.end()
    best = max(best, text.rfind("\n", 0, max_length + 1))
    if best >= max_length * _MIN_SENTENCE_SHARE:
        return text[:best].rstrip()
    room = text[: max_length - len(_ELLIPSIS)]
    space = max(room.rfind(" "), room.rfind("\n"))
    if space > 0:
        room = room[:space]
    return room.rstrip(" \n,;:-–—") + _ELLIPSIS


def _split(text: str, max_parts: int) -> tuple[str, ...]:
    paragraphs = [paragraph.strip() for paragraph in _PARAGRAPH_BREAK.split(text) if paragraph.strip()]
    if len(paragraphs) <= max_parts:
        return tuple(paragraphs)
    return (*paragraphs[: max_parts - 1], "\n\n".join(paragraphs[max_parts - 1 :]))


def shape_reply(text: str, persona: Persona, max_parts: int = MAX_PARTS) -> tuple[str, tuple[str, ...]]:
    """The persona's style applied (emoji, max length) and the text split into messages."""
    styled = _normalize(text)
    if not persona.emoji:
        styled = _strip_emoji(styled)
    styled = _truncate(styled, persona.max_length)
    parts = _split(styled, max_parts)
    return "\n\n".join(parts), parts


def offline_reply(texts: Sequence[str], contact_name: str | None) -> str:
    """The offline generator's labelled, deterministic reply (as `generator.fixed_texts`)."""
    first = (contact_name or "").split()
    word = first[0].strip(".,;:!?") if first else ""
    name = word[:1].upper() + word[1:] if word.isalpha() and len(word) <= 20 else None
    greeting = f"Olá, {name}!" if name else "Olá!"
    joined = " / ".join(_WHITESPACE.sub(" ", text).strip() for text in texts if text.strip())
    if len(joined) > _QUOTE_LIMIT:
        joined = joined[: _QUOTE_LIMIT - 1].rstrip() + "…"
    received = f"Recebi sua mensagem: «{joined}»." if joined else "Recebi sua mensagem."
    return (
        f"{greeting} Esta é uma resposta automática em modo offline (nenhum modelo de IA está "
        f"configurado). {received} Em breve alguém da equipe continua o atendimento por aqui."
    )


# --- running it ------------------------------------------------------------------------------


def _model_failure(message: str) -> DomainError:
    return DomainError(ErrorKind.UPSTREAM, "model_unavailable", f"the model gave no reply: {message}"[:300])


class PersonaSandbox:
    """Asks the configured model for a persona's reply; nothing is stored or sent."""

    def __init__(
        self, model: SandboxModel | None, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.model = model
        self.transport = transport

    async def reply(self, persona: Persona, turns: Sequence[Turn], contact_name: str | None) -> SandboxAnswer:
        """The persona's answer to the last contact turns of `turns`."""
        if not turns or turns[-1].speaker != "contact":
            raise DomainError(ErrorKind.INVALID, "validation_error", "the last message must be the contact's")
        if self.model is None:
            burst: list[str] = []
            for turn in reversed(turns):
                if turn.speaker != "contact":
                    break
                burst.insert(0, turn.text)
            text, parts = shape_reply(offline_reply(burst, contact_name), persona)
            return SandboxAnswer(text=text, parts=parts, model=OFFLINE_MODEL, offline=True, latency_ms=0)
        model = persona.model or self.model.model
        body: dict[str, Any] = {
            "model": model,
            "messages": build_chat(persona, turns, contact_name),
            "temperature": persona.temperature,
            "n": 1,
        }
        started = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=self.model.timeout_s, transport=self.transport) as client:
                response = await client.post(
                    f"{self.model.base_url}/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {self.model.api_key or KEYLESS_API_KEY}"},
                )
        except httpx.HTTPError as error:
            raise _model_failure(f"{type(error).__name__}: {error}") from error
        if response.status_code >= 400:
            raise _model_failure(f"HTTP {response.status_code}")
        try:
            answer = response.json()
            content = answer["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise _model_failure("a malformed answer") from error
        if not isinstance(content, str) or not content.strip():
            raise _model_failure("an empty answer")
        text, parts = shape_reply(content, persona)
        return SandboxAnswer(
            text=text,
            parts=parts,
            model=str(answer.get("model") or model),
            offline=False,
            latency_ms=round((time.monotonic() - started) * 1000),
        )


def _sandbox(request: Request) -> PersonaSandbox:
    # Built from the environment on first use (never at import); tests set their own.
    sandbox: PersonaSandbox | None = getattr(request.app.state, "persona_sandbox", None)
    if sandbox is None:
        sandbox = PersonaSandbox(model_from_environ(os.environ))
        request.app.state.persona_sandbox = sandbox
    return sandbox


Sandbox = Annotated[PersonaSandbox, Depends(_sandbox)]
"""The process's persona sandbox."""
