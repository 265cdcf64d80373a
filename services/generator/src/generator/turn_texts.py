"""Warm-up texts written without a model: the offline chit-chat bank and reactions.

Used when no model is configured (the offline generator) or when the model fails: warm-up
messages go between the operator's own numbers, so a plain, natural line is better than no
turn at all. Contacts never read these. Brazilian Portuguese, like everything on WhatsApp.
"""

from __future__ import annotations

import random

OFFLINE_TURN_MODEL = "offline"

OPENERS: tuple[str, ...] = (
    "Oi! Tudo bem?",
    "E aí, sumido(a)! Como você tá?",
    "Bom dia! Tudo certo por aí?",
    "Oi, tudo bom? Lembrei de você agora",
    "Opa! Como foi o dia?",
    "Oi oi! Novidades?",
)
REPLIES: tuple[str, ...] = (
    "Tudo ótimo por aqui, e você?",
    "Haha verdade",
    "Nossa, nem me fala",
    "Sério? Conta mais",
    "Pois é, corrido mas tudo certo",
    "Que legal!",
    "Também acho",
    "Ah, entendi",
    "Vou ver isso depois com calma",
    "Aqui tá tudo tranquilo",
    "Demais!",
    "Hoje foi puxado, mas deu tudo certo",
    "Bem lembrado",
    "Kkkk pode crer",
)
CLOSERS: tuple[str, ...] = (
    "Bom, preciso ir. Depois a gente se fala!",
    "Vou nessa, até mais!",
    "Falou, bom resto de dia!",
    "Tenho que voltar pro trabalho, depois te chamo",
    "Combinado então, até!",
)
REACTIONS: tuple[str, ...] = ("👍", "😂", "❤️", "😮", "🙏", "👏")
# A reaction for a persona without emoji.
PLAIN_REACTIONS: tuple[str, ...] = ("kkkk", "haha", "verdade", "boa")


def offline_turn(rng: random.Random, messages: int, *, opening: bool, closing: bool) -> list[str]:
    """`messages` distinct lines: an opener first when the turn opens, a closer last when it ends."""
    lines: list[str] = []
    if opening:
        lines.append(rng.choice(OPENERS))
    middle = messages - len(lines) - (1 if closing else 0)
    if middle > 0:
        lines.extend(rng.sample(REPLIES, k=min(middle, len(REPLIES))))
    if closing and len(lines) < messages:
        lines.append(rng.choice(CLOSERS))
    return lines[:messages] or [rng.choice(REPLIES)]


def reaction(rng: random.Random, *, emoji: bool) -> str:
    """A lone reaction: an emoji, or a short laugh for a persona without emoji."""
    return rng.choice(REACTIONS if emoji else PLAIN_REACTIONS)
