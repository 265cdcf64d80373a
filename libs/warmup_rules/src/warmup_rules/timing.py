"""How long people take: reading, thinking between turns, typing, and the gap between rounds.

Every figure is drawn from a distribution, never fixed, and every model has a `scale` so
tests and the end-to-end run can shrink the whole timeline without changing its shape.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field, model_validator

Range = tuple[float, float]


def _ordered(value: Range, name: str) -> None:
    low, high = value
    if low < 0 or high < low:
        raise ValueError(f"{name} must be (low, high) with 0 <= low <= high")


class TurnTiming(BaseModel):
    """The pause between a message arriving and the peer starting to type its answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Seconds until the message is read (most people look at the phone soon, some do not).
    read_delay_s: Range = (1.0, 8.0)
    long_read_probability: float = Field(default=0.1, ge=0, le=1)
    long_read_s: Range = (20.0, 90.0)
    # Seconds of thinking between reading and typing: 5–30 s, now and then a long pause.
    turn_gap_s: Range = (5.0, 30.0)
    long_pause_probability: float = Field(default=0.1, ge=0, le=1)
    long_pause_s: Range = (60.0, 240.0)
    # Chance that a turn (never the opening one) is a reaction instead of text.
    reaction_probability: float = Field(default=0.08, ge=0, le=1)
    # Multiplies every duration above (1: real time; 0.01 for tests).
    scale: float = Field(default=1.0, ge=0)

    @model_validator(mode="after")
    def _ranges(self) -> TurnTiming:
        for name in ("read_delay_s", "long_read_s", "turn_gap_s", "long_pause_s"):
            _ordered(getattr(self, name), name)
        return self

    def read_delay(self, rng: random.Random) -> float:
        """Seconds before the arrived message is read."""
        low, high = self.long_read_s if rng.random() < self.long_read_probability else self.read_delay_s
        return rng.uniform(low, high) * self.scale

    def think_gap(self, rng: random.Random) -> float:
        """Seconds between reading and starting to type."""
        low, high = self.long_pause_s if rng.random() < self.long_pause_probability else self.turn_gap_s
        return rng.uniform(low, high) * self.scale

    def answer_wait(self, rng: random.Random) -> float:
        """Seconds from a turn's arrival to the next turn being written."""
        return self.read_delay(rng) + self.think_gap(rng)


# A side sends 1, 2 or 3 messages in a row, with these weights.
MESSAGES_IN_A_ROW: tuple[tuple[int, float], ...] = ((1, 0.7), (2, 0.2), (3, 0.1))


def messages_in_a_row(rng: random.Random) -> int:
    """How many messages one side sends before the other answers (70/20/10 %)."""
    counts = [count for count, _ in MESSAGES_IN_A_ROW]
    weights = [weight for _, weight in MESSAGES_IN_A_ROW]
    return rng.choices(counts, weights=weights)[0]


class TypingModel(BaseModel):
    """Typing time of one message from its length: 35–55 words a minute, with pauses."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    words_per_minute: Range = (35.0, 55.0)
    chars_per_word: float = Field(default=5.0, gt=0)
    # Now and then the writer stops for a moment (rethinks, looks away).
    pause_probability: float = Field(default=0.3, ge=0, le=1)
    pause_s: Range = (0.5, 3.0)
    min_ms: int = Field(default=800, ge=0)
    # Evolution's sendText blocks for its whole `delay`: keep one message's typing bounded.
    max_ms: int = Field(default=25_000, ge=0)
    # Multiplies the result (1: real time; 0 switches typing delays off).
    scale: float = Field(default=1.0, ge=0)

    @model_validator(mode="after")
    def _ranges(self) -> TypingModel:
        _ordered(self.words_per_minute, "words_per_minute")
        _ordered(self.pause_s, "pause_s")
        if self.words_per_minute[0] <= 0:
            raise ValueError("words_per_minute must be positive")
        return self

    def typing_ms(self, text: str, rng: random.Random) -> int:
        """Milliseconds of "typing…" before `text` is sent."""
        if self.scale == 0:
            return 0
        words = max(1.0, len(text.strip()) / self.chars_per_word)
        seconds = words / rng.uniform(*self.words_per_minute) * 60
        if rng.random() < self.pause_probability:
            seconds += rng.uniform(*self.pause_s)
        bounded = min(float(self.max_ms), max(float(self.min_ms), seconds * 1000))
        return round(bounded * self.scale)


def round_gap_s(min_gap_s: float, jitter_s: float, rng: random.Random) -> float:
    """Seconds from the end of a round to the earliest start of the next: the gap plus jitter."""
    return min_gap_s + rng.uniform(0, max(0.0, jitter_s))
