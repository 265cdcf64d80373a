"""Shaping a model's text into what a person reads on WhatsApp: length, emoji, parts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from generator.persona import Persona

# Pictographs have no place in a reply whose persona turned emoji off. Ranges rather than a
# dependency: the Unicode blocks that hold emoji, plus the joiners and selectors of sequences.
_EMOJI = re.compile(
    # With the spaces before a run of emoji, and after it when punctuation follows.
    "[ \t]*(?:(?:"
    r"[0-9#*]\uFE0F?\u20E3"  # keycaps (1️⃣) go whole, not leaving their digit behind
    r"|[\u00A9\u00AE\u203C\u2049\u2122\u2139\u2194-\u2199\u21A9\u21AA]\uFE0F"  # ©️ ™️ ↔️ as emoji only
    "|["
    "\U0001f000-\U0001faff"  # emoticons, pictographs, transport, flags, skin tones
    "\u2600-\u27bf"  # miscellaneous symbols and dingbats (☀ ✅ ❤)
    "\u2b00-\u2bff"  # stars, squares and arrows drawn as emoji (⭐ ⬆)
    "\u2300-\u23ff"  # ⌚ ⏰ ⏳
    "\u3030\u303d\u3297\u3299"
    "\ufe0e\ufe0f\u200d\u20e3"  # variation selectors, zero-width joiner, keycap mark
    "\U000e0020-\U000e007f"  # tags of subdivision flags
    "]"
    "))+"
    r"(?:[ \t]+(?=[,.;:!?…]))?"
)
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_MARKDOWN_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
# A sentence ends at . ! ? or … (closing quotes or brackets may follow) before a space or the end.
_SENTENCE_END = re.compile(r"[.!?…][\"'”»)\]]*(?=\s|$)")
# Cutting at a sentence end that keeps less than this share of the room reads worse than a
# cut between words.
_MIN_SENTENCE_SHARE = 0.4
ELLIPSIS = "…"


@dataclass(frozen=True)
class StyledReply:
    """A reply ready to send: the whole text and the WhatsApp messages it is split into."""

    text: str
    parts: tuple[str, ...]


def normalize_text(text: str) -> str:
    """Trim lines, keep at most one blank line between paragraphs, use WhatsApp's *bold*."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n")).strip()
    text = _BLANK_LINES.sub("\n\n", text)
    return _MARKDOWN_BOLD.sub(r"*\1*", text)


def strip_emoji(text: str) -> str:
    """`text` without emoji, and without the spaces their removal would leave doubled."""
    stripped = _EMOJI.sub("", text)
    return "\n".join(line.strip() for line in stripped.split("\n")).strip()


def truncate_at_sentence(text: str, max_length: int) -> str:
    """At most `max_length` characters, cut after the last whole sentence that fits.

    When no sentence end keeps a fair share of the room (a first sentence longer than the
    limit), the cut falls between words and is marked with an ellipsis.
    """
    if len(text) <= max_length:
        return text
    best = 0
    for match in _SENTENCE_END.finditer(text):
        if match.end() > max_length:
            break
        best = match.end()
    paragraph_end = text.rfind("\n", 0, max_length + 1)
    best = max(best, paragraph_end)
    if best >= max_length * _MIN_SENTENCE_SHARE:
        return text[:best].rstrip()
    room = text[: max_length - len(ELLIPSIS)]
    space = max(room.rfind(" "), room.rfind("\n"))
    if space > 0:
        room = room[:space]
    return room.rstrip(" \n,;:-–—") + ELLIPSIS


def split_into_parts(text: str, max_parts: int) -> tuple[str, ...]:
    """Paragraphs (blank-line separated) as separate messages; the excess joins the last one."""
    paragraphs = [paragraph.strip() for paragraph in _PARAGRAPH_BREAK.split(text) if paragraph.strip()]
    if len(paragraphs) <= max_parts:
        return tuple(paragraphs)
    head = paragraphs[: max_parts - 1]
    tail = "\n\n".join(paragraphs[max_parts - 1 :])
    return (*head, tail)


def style_reply(text: str, persona: Persona, max_parts: int) -> StyledReply:
    """Apply the persona's style (emoji, max length) and split the result into messages."""
    styled = normalize_text(text)
    if not persona.emoji:
        styled = strip_emoji(styled)
    styled = truncate_at_sentence(styled, persona.max_length)
    parts = split_into_parts(styled, max_parts)
    return StyledReply(text="\n\n".join(parts), parts=parts)
