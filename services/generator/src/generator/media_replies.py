"""What the persona says to media it cannot read (docs/media.md).

A burst without text reaches the generator when a voice note could not be transcribed, an
image came without a caption, or the person sent a video, document, sticker, location or
contact. Each kind has a behaviour: answer through the model (an image, when a vision model
is configured), a short fixed reply in the persona's language ("could you type it?", an
acknowledgement), or silence. A persona's `media_replies` overrides the defaults per kind,
with `acknowledge`, `silence` or its own text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from contracts import MessageCategory
from contracts.media_kinds import MEDIA_KINDS

Behaviour = Literal["acknowledge", "silence"]
ACKNOWLEDGE: Behaviour = "acknowledge"
SILENCE: Behaviour = "silence"

# Who answers first when a burst mixes kinds: a voice note asks to be typed before anything else.
_PRIORITY = ("audio", "image", "video", "document", "location", "contact", "sticker", "other")

# Keys of `personas.media_replies` with the persona's own fallback texts.
AUDIO_FALLBACK_KEY = "audio_fallback"
IMAGE_FALLBACK_KEY = "image_fallback"

_TEXTS: dict[str, dict[str, str]] = {
    "pt": {
        "audio": (
            "Recebi seu áudio, mas não consegui ouvir direito por aqui. Pode me escrever o que você precisa?"
        ),
        "image": (
            "Recebi sua imagem, mas por aqui eu não consigo ver imagens. "
            "Pode me contar em texto o que ela mostra ou o que você precisa?"
        ),
        "video": (
            "Recebi seu vídeo! Por aqui eu não consigo assistir vídeos. "
            "Pode me contar por escrito o que precisa?"
        ),
        "document": "Recebi seu documento, obrigado! Se precisar de algo sobre ele, me conta por escrito.",
        "location": "Recebi sua localização, obrigado! Como posso ajudar?",
        "contact": "Recebi o contato que você enviou, obrigado! Como posso ajudar?",
        "sticker": "😊",
        "other": "Não consegui ler sua mensagem por aqui. Pode me escrever o que você precisa?",
    },
    "en": {
        "audio": (
            "I got your voice message, but I couldn't hear it properly here. Could you type what you need?"
        ),
        "image": "I got your picture, but I can't see images here. Could you tell me in text what it shows?",
        "video": "I got your video! I can't watch videos here. Could you tell me in text what you need?",
        "document": "I got your document, thank you! If you need anything about it, just tell me in text.",
        "location": "I got your location, thank you! How can I help?",
        "contact": "I got the contact you sent, thank you! How can I help?",
        "sticker": "😊",
        "other": "I couldn't read your message here. Could you type what you need?",
    },
    "es": {
        "audio": "Recibí tu audio, pero no pude escucharlo bien por aquí. ¿Me escribes lo que necesitas?",
        "image": (
            "Recibí tu imagen, pero por aquí no puedo ver imágenes. ¿Me cuentas por escrito qué muestra?"
        ),
        "video": "¡Recibí tu video! Por aquí no puedo ver videos. ¿Me cuentas por escrito qué necesitas?",
        "document": "Recibí tu documento, ¡gracias! Si necesitas algo sobre él, cuéntamelo por escrito.",
        "location": "Recibí tu ubicación, ¡gracias! ¿En qué te puedo ayudar?",
        "contact": "Recibí el contacto que enviaste, ¡gracias! ¿En qué te puedo ayudar?",
        "sticker": "😊",
        "other": "No pude leer tu mensaje por aquí. ¿Me escribes lo que necesitas?",
    },
}
# Kinds the persona acknowledges unless configured otherwise; a sticker gets silence.
DEFAULT_BEHAVIOURS: Mapping[str, Behaviour] = {
    "video": ACKNOWLEDGE,
    "document": ACKNOWLEDGE,
    "location": ACKNOWLEDGE,
    "contact": ACKNOWLEDGE,
    "sticker": SILENCE,
    "other": ACKNOWLEDGE,
}


@dataclass(frozen=True)
class BurstMedia:
    """One message of a burst without text, with what the guard's media step recorded."""

    category: str
    message_type: str | None = None
    # `message_media.status` / `failure_reason` (None: the step wrote nothing).
    status: str | None = None
    failure_reason: str | None = None
    # The image's bytes are stored (a vision model can look at them).
    has_content: bool = False

    @property
    def kind(self) -> str:
        """audio, image, video, document, sticker, location, contact or other."""
        if self.message_type in MEDIA_KINDS:
            return MEDIA_KINDS[self.message_type]
        if self.category == MessageCategory.AUDIO:
            return "audio"
        return "other"


@dataclass(frozen=True)
class UseModel:
    """Answer through the model: the burst's images are described by the vision model first."""


@dataclass(frozen=True)
class FixedReply:
    """A fixed text, and why the media could not be read (recorded on the reply)."""

    text: str
    reason: str


@dataclass(frozen=True)
class Silence:
    """No reply: every kind in the burst is configured to be left unanswered."""

    kinds: tuple[str, ...]


MediaPlan = UseModel | FixedReply | Silence


def _texts(language: str) -> dict[str, str]:
    return _TEXTS.get(language.lower().split("-", 1)[0], _TEXTS["pt"])


def _without_emoji(text: str, emoji: bool) -> str:
    if emoji:
        return text
    return "".join(char for char in text if ord(char) < 0x2600).strip() or "Ok!"


def plan(
    burst: Sequence[BurstMedia],
    *,
    language: str,
    emoji: bool,
    persona_replies: Mapping[str, str],
    vision: bool,
) -> MediaPlan:
    """How the persona answers a burst that had no text."""
    texts = _texts(language)
    kinds = {item.kind for item in burst} or {"other"}
    first = next(kind for kind in _PRIORITY if kind in kinds) if kinds & set(_PRIORITY) else "other"
    if first == "audio":
        audio = next(item for item in burst if item.kind == "audio")
        reason = audio.failure_reason or "not_transcribed"
        text = persona_replies.get(AUDIO_FALLBACK_KEY) or texts["audio"]
        return FixedReply(_without_emoji(text, emoji), reason)
    if first == "image":
        if vision and any(item.kind == "image" and item.has_content for item in burst):
            return UseModel()
        image = next(item for item in burst if item.kind == "image")
        reason = image.failure_reason or ("image_not_stored" if vision else "no_vision_model")
        text = persona_replies.get(IMAGE_FALLBACK_KEY) or texts["image"]
        return FixedReply(_without_emoji(text, emoji), reason)
    answered = [kind for kind in _PRIORITY if kind in kinds and _behaviour(kind, persona_replies) != SILENCE]
    if not answered:
        return Silence(tuple(sorted(kinds)))
    kind = answered[0]
    configured = persona_replies.get(kind)
    text = configured if configured and configured not in (ACKNOWLEDGE, SILENCE) else texts[kind]
    return FixedReply(_without_emoji(text, emoji), f"{kind}_acknowledged")


def _behaviour(kind: str, persona_replies: Mapping[str, str]) -> str:
    configured = persona_replies.get(kind)
    if configured:
        return SILENCE if configured == SILENCE else ACKNOWLEDGE
    return DEFAULT_BEHAVIOURS.get(kind, ACKNOWLEDGE)
