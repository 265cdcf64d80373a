"""Human-like typing delays: proportional to a message's length, with jitter."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence

from generator.settings import TypingSettings


class TypingDelays:
    """Computes `SendText.typing_delay_ms` for the parts of one reply."""

    def __init__(self, settings: TypingSettings) -> None:
        self.settings = settings

    @property
    def enabled(self) -> bool:
        """False when human delays are switched off or every setting is zero."""
        s = self.settings
        return s.human_delays and (s.ms_per_char > 0 or s.min_ms > 0) and s.max_ms > 0

    def for_part(self, text: str, rng: random.Random) -> int:
        """Milliseconds of "typing…" before `text` is sent, within `[min_ms, max_ms]`."""
        if not self.enabled:
            return 0
        s = self.settings
        base = len(text) * s.ms_per_char
        jittered = base * (1 + rng.uniform(-s.jitter, s.jitter))
        return round(min(float(s.max_ms), max(float(s.min_ms), jittered)))

    def for_parts(self, parts: Sequence[str], seed: uuid.UUID) -> list[int]:
        """One delay per part; the jitter is seeded by the request, so a retry computes the same."""
        # A seeded generator, not a secret: the same request always gets the same delays.
        rng = random.Random(seed.int)  # noqa: S311
        return [self.for_part(part, rng) for part in parts]
