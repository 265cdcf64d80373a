"""Texts written without a model: confirmations, fallbacks and the offline generator.

What contacts read is Brazilian Portuguese.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from contracts import MessageCategory

OFFLINE_MODEL = "offline"
# The `model` recorded for every text of this module except the offline replies.
FIXED_MODEL = "fixed"
DEFAULT_OPT_IN_KEYWORD = "VOLTAR"
DEFAULT_OPT_OUT_KEYWORD = "PARE"
QUOTE_LIMIT = 160

MODEL_FAILURE_TEXT = "Desculpe, tive um problema para responder agora. Pode tentar de novo em alguns minutos?"

_WHITESPACE = re.compile(r"\s+")


def opt_out_confirmation(opt_in_keyword: str | None) -> str:
    """The one message an opted-out contact still receives."""
    keyword = opt_in_keyword or DEFAULT_OPT_IN_KEYWORD
    return (
        "Pronto! Você não vai mais receber mensagens nossas por aqui. "
        f"Se mudar de ideia, é só enviar {keyword}."
    )


def opt_in_confirmation(opt_out_keyword: str | None) -> str:
    """The confirmation that a contact will receive messages again."""
    keyword = opt_out_keyword or DEFAULT_OPT_OUT_KEYWORD
    return (
        "Que bom ter você de volta! Você voltou a receber nossas mensagens por aqui. "
        f"Para parar a qualquer momento, é só enviar {keyword}."
    )


def without_text_fallback(categories: Sequence[str]) -> str:
    """Asks for text when a burst had none, naming what was received (an audio, a file)."""
    if MessageCategory.AUDIO in categories:
        received = "Recebi seu áudio, mas por aqui eu só consigo ler mensagens de texto."
    elif MessageCategory.MEDIA in categories:
        received = "Recebi seu arquivo, mas por aqui eu só consigo ler mensagens de texto."
    else:
        received = "Não consegui ler sua mensagem: por aqui eu só consigo ler mensagens de texto."
    return f"{received} Pode me escrever o que você precisa?"


def first_name(push_name: str | None) -> str | None:
    """The first word of a WhatsApp display name, when it looks like a person's name."""
    if not push_name:
        return None
    words = push_name.split()
    if not words:
        return None
    word = words[0].strip(".,;:!?")
    if not word.isalpha() or len(word) > 20:
        return None
    return word[:1].upper() + word[1:]


def quote(texts: Sequence[str], limit: int = QUOTE_LIMIT) -> str:
    """The person's words on one line, shortened to `limit` characters."""
    joined = " / ".join(_WHITESPACE.sub(" ", text).strip() for text in texts if text.strip())
    if len(joined) <= limit:
        return joined
    return joined[: limit - 1].rstrip() + "…"


def offline_reply(texts: Sequence[str], contact_name: str | None) -> str:
    """The offline generator's deterministic reply, labelled as such, acknowledging the burst."""
    greeting = f"Olá, {contact_name}!" if contact_name else "Olá!"
    quoted = quote(texts)
    received = f"Recebi sua mensagem: «{quoted}»." if quoted else "Recebi sua mensagem."
    return (
        f"{greeting} Esta é uma resposta automática em modo offline (nenhum modelo de IA está "
        f"configurado). {received} Em breve alguém da equipe continua o atendimento por aqui."
    )
