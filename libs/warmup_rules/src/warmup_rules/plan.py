"""The shape of one round, drawn when it starts: who opens, how many turns, who says what."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from warmup_rules.timing import TurnTiming, messages_in_a_row


class Side(StrEnum):
    """One of the pair's two numbers."""

    A = "a"
    B = "b"

    @property
    def other(self) -> Side:
        """The peer."""
        return Side.B if self is Side.A else Side.A


class InitiatorMode(StrEnum):
    """How the number that opens a round is picked."""

    ALTERNATE = "alternate"
    WEIGHTED = "weighted"


# What the two personas chat about (the generator's prompt names it); Brazilian small talk.
TOPICS: tuple[str, ...] = (
    "os planos para o fim de semana",
    "o jogo de futebol de ontem",
    "uma receita que deu certo",
    "o trânsito de hoje",
    "uma série nova",
    "o tempo (calor, chuva)",
    "o dia de trabalho",
    "uma viagem que está planejando",
    "a academia",
    "onde almoçar",
    "um aniversário chegando",
    "um filme que viu",
    "o preço das coisas no mercado",
    "um pet",
    "música que anda ouvindo",
)


@dataclass(frozen=True)
class TurnPlan:
    """One side's go: 1–3 messages in a row, or a reaction."""

    index: int
    speaker: Side
    messages: int
    reaction: bool = False


@dataclass(frozen=True)
class RoundPlan:
    """Every turn of a round, in order."""

    initiator: Side
    topic: str
    turns: tuple[TurnPlan, ...]


def choose_initiator(
    mode: InitiatorMode,
    weight_a: float,
    last: Side | None,
    allowed: frozenset[Side],
    rng: random.Random,
) -> Side | None:
    """Who opens the round: alternating with the last round, or `weight_a` against B.

    Only a side in `allowed` may open (a number still receiving first may not); None when
    neither may.
    """
    if not allowed:
        return None
    if len(allowed) == 1:
        return next(iter(allowed))
    if mode is InitiatorMode.ALTERNATE:
        return Side.A if last is None else last.other
    return Side.A if rng.random() < weight_a else Side.B


def plan_round(
    initiator: Side, min_turns: int, max_turns: int, timing: TurnTiming, rng: random.Random
) -> RoundPlan:
    """A round of `min_turns`–`max_turns` turns, the sides alternating from `initiator`."""
    if not 2 <= min_turns <= max_turns:
        raise ValueError("a round has at least 2 turns and min_turns <= max_turns")
    count = rng.randint(min_turns, max_turns)
    turns = []
    speaker = initiator
    for index in range(count):
        # The opening is always text: there is nothing to react to yet.
        reaction = index > 0 and rng.random() < timing.reaction_probability
        messages = 1 if reaction else messages_in_a_row(rng)
        turns.append(TurnPlan(index=index, speaker=speaker, messages=messages, reaction=reaction))
        speaker = speaker.other
    return RoundPlan(initiator=initiator, topic=rng.choice(TOPICS), turns=tuple(turns))
