"""What a pair will send over the next days, from the same decision and plan the scheduler uses.

The preview runs the scheduler's cron on a fake clock: at every firing it asks `decide`, and a
started round is played out with `plan_round` and the timing models (reading, thinking, typing
at 35–55 WPM). Every number is connected, every message arrives, and the numbers' daily
counters hold only what the preview itself sent (outreach is not in it). Days are counted in
the pair's time zone.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from warmup_rules.cron import CronSchedule
from warmup_rules.decision import PairRules, PairState, Participant, decide
from warmup_rules.plan import Side, plan_round
from warmup_rules.ramp import number_daily_cap
from warmup_rules.timing import TurnTiming, TypingModel

# Characters of a made-up message (what the generator writes is short chat).
_MESSAGE_CHARS = (12, 110)
_REACTION_CHARS = 2


@dataclass(frozen=True)
class PreviewNumber:
    """One number of the previewed pair."""

    name: str
    # Declared age when the preview starts (None: established).
    age_days: int | None


@dataclass
class Preview:
    """Messages per local day, hour and number; rounds started; skips by reason."""

    rules: PairRules
    a: PreviewNumber
    b: PreviewNumber
    start: datetime
    days: int
    volume: dict[tuple[date, int], Counter[Side]] = field(default_factory=dict)
    rounds: int = 0
    skips: Counter[str] = field(default_factory=Counter)

    def count(self, moment: datetime, side: Side) -> None:
        """Record one message sent by `side` at `moment`."""
        local = self.rules.schedule.local(moment)
        self.volume.setdefault((local.date(), local.hour), Counter())[side] += 1

    def day_totals(self) -> dict[date, Counter[Side]]:
        """Messages per local day and number."""
        totals: dict[date, Counter[Side]] = {}
        for (day, _), sides in sorted(self.volume.items()):
            totals.setdefault(day, Counter()).update(sides)
        return totals

    def render(self) -> str:
        """A plain-text table: per local day and hour, the messages each number sends."""
        a, b = self.a.name, self.b.name
        width = max(len(a), len(b), 6)
        zone = self.rules.schedule.zone.key
        lines = [
            f"warm-up preview: {a} <-> {b}, {zone}, profile {self.rules.profile},"
            f" {self.days} days from {self.rules.schedule.local(self.start):%Y-%m-%d %H:%M}",
            f"{'date':<10}  {'hour':>5}  {a:>{width}}  {b:>{width}}",
        ]
        totals = self.day_totals()
        for day, sides in totals.items():
            for (volume_day, hour), counted in sorted(self.volume.items()):
                if volume_day == day:
                    lines.append(
                        f"{day:%Y-%m-%d}  {hour:>3}h  {counted[Side.A]:>{width}}  {counted[Side.B]:>{width}}"
                    )
            lines.append(f"{day:%Y-%m-%d}  {'total':>5}  {sides[Side.A]:>{width}}  {sides[Side.B]:>{width}}")
        all_a = sum(sides[Side.A] for sides in totals.values())
        all_b = sum(sides[Side.B] for sides in totals.values())
        lines.append(f"{'all days':<10}  {'':>5}  {all_a:>{width}}  {all_b:>{width}}")
        skipped = ", ".join(f"{reason} {count}" for reason, count in self.skips.most_common()) or "none"
        lines.append(f"rounds: {self.rounds}; scans skipped: {skipped}")
        return "\n".join(lines)


def preview(
    rules: PairRules,
    a: PreviewNumber,
    b: PreviewNumber,
    *,
    start: datetime,
    days: int,
    cron: CronSchedule,
    tenant_cap: int,
    timing: TurnTiming | None = None,
    typing: TypingModel | None = None,
    seed: int = 0,
) -> Preview:
    """Play the scheduler forward `days` days from `start` on a fake clock."""
    timing = timing or TurnTiming()
    typing = typing or TypingModel()
    # A seeded generator, not a secret: the same preview every time it is asked.
    rng = random.Random(seed)  # noqa: S311
    result = Preview(rules=rules, a=a, b=b, start=start, days=days)
    numbers = {Side.A: a, Side.B: b}
    sent: Counter[tuple[Side, date]] = Counter()
    rounds_on: Counter[date] = Counter()
    busy_until: datetime | None = None
    next_not_before: datetime | None = None
    last_initiator: Side | None = None

    def local_day(moment: datetime) -> date:
        return rules.schedule.local(moment).date()

    def participant(side: Side, moment: datetime) -> Participant:
        number = numbers[side]
        age = None if number.age_days is None else number.age_days + (moment - start).days
        return Participant(
            name=number.name,
            connected=True,
            age_days=age,
            sent_today=sent[(side, local_day(moment))],
            daily_cap=number_daily_cap(age, rules.profile, tenant_cap),
        )

    for fire in cron.between(start, start + timedelta(days=days)):
        state = PairState(
            round_in_progress=busy_until is not None and fire < busy_until,
            next_round_not_before=next_not_before,
            rounds_today=rounds_on[local_day(fire)],
            last_initiator=last_initiator,
        )
        decision = decide(rules, state, participant(Side.A, fire), participant(Side.B, fire), fire, rng)
        if decision.initiator is None:
            result.skips[str(decision.reason)] += 1
            continue
        plan = plan_round(decision.initiator, rules.min_turns, rules.max_turns, timing, rng)
        result.rounds += 1
        rounds_on[local_day(fire)] += 1
        last_initiator = decision.initiator
        clock = fire
        for turn in plan.turns:
            if turn.index > 0:
                clock += timedelta(seconds=timing.answer_wait(rng))
            if not rules.schedule.turn_may_go(clock):
                break
            speaker = participant(turn.speaker, clock)
            if speaker.sent_today + turn.messages > speaker.daily_cap:
                break
            for _ in range(turn.messages):
                chars = _REACTION_CHARS if turn.reaction else rng.randint(*_MESSAGE_CHARS)
                clock += timedelta(milliseconds=typing.typing_ms("x" * chars, rng))
                sent[(turn.speaker, local_day(clock))] += 1
                result.count(clock, turn.speaker)
        busy_until = clock
        next_not_before = (
            clock + rules.min_gap + timedelta(seconds=rng.uniform(0, rules.jitter.total_seconds()))
        )
    return result
