"""Unit tests: typing delays proportional to length, jittered, bounded, switchable off."""

from __future__ import annotations

import random
import statistics
import uuid

import pytest

from generator.settings import TypingSettings
from generator.typing_delay import TypingDelays

SETTINGS = TypingSettings(ms_per_char=40, min_ms=800, max_ms=8_000, jitter=0.25)


@pytest.mark.parametrize("length", [0, 1, 10, 19, 20, 50, 100, 150, 199, 200, 250, 1_000, 5_000])
def test_every_delay_stays_within_min_and_max(length: int) -> None:
    delays = TypingDelays(SETTINGS)
    for seed in range(200):
        delay = delays.for_part("x" * length, random.Random(seed))
        assert SETTINGS.min_ms <= delay <= SETTINGS.max_ms


def test_the_delay_is_proportional_to_the_length_within_the_jitter() -> None:
    delays = TypingDelays(SETTINGS)
    for seed in range(200):
        delay = delays.for_part("x" * 100, random.Random(seed))  # 100 chars x 40 ms = 4 s
        assert 3_000 <= delay <= 5_000
    short = statistics.mean(delays.for_part("x" * 50, random.Random(s)) for s in range(200))
    long = statistics.mean(delays.for_part("x" * 150, random.Random(s)) for s in range(200))
    assert 1_800 <= short <= 2_200
    assert 5_400 <= long <= 6_600


def test_jitter_varies_the_delay_between_requests() -> None:
    delays = TypingDelays(SETTINGS)
    seen = {delays.for_parts(["x" * 100], uuid.uuid4())[0] for _ in range(50)}
    assert len(seen) > 10


def test_the_same_request_always_gets_the_same_delays() -> None:
    delays = TypingDelays(SETTINGS)
    seed = uuid.uuid4()
    parts = ["Oi, Ana!", "Temos sim, no tamanho 38.", "Posso reservar?"]
    assert delays.for_parts(parts, seed) == delays.for_parts(parts, seed)
    assert len(delays.for_parts(parts, seed)) == 3


def test_no_jitter_gives_the_exact_proportional_delay() -> None:
    delays = TypingDelays(TypingSettings(ms_per_char=30, min_ms=0, max_ms=10_000, jitter=0))
    assert delays.for_parts(["x" * 10, "x" * 100], uuid.uuid4()) == [300, 3_000]


@pytest.mark.parametrize(
    "settings",
    [
        TypingSettings(human_delays=False),
        TypingSettings(ms_per_char=0, min_ms=0, max_ms=0, jitter=0),
        TypingSettings(ms_per_char=0, min_ms=0, jitter=0.5),
    ],
)
def test_human_delays_off_or_all_zero_gives_no_delay(settings: TypingSettings) -> None:
    delays = TypingDelays(settings)
    assert not delays.enabled
    assert delays.for_parts(["x" * 300, "y"], uuid.uuid4()) == [0, 0]
