"""`mirage-scheduler preview --pair ID --days 7`: the volume a pair will send, per number and hour.

It reads the pair from the database and plays the scheduler's own decision and round plans
forward on a fake clock (`warmup_rules.preview`); nothing is written or sent.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from datetime import datetime

import asyncpg

from contracts import utc_now
from scheduler import repository
from scheduler.pair_view import rules_of
from scheduler.settings import SchedulerSettings
from warmup_rules import CronSchedule, PreviewNumber, TypingModel, WindowError, age_today, preview

DEFAULT_CRON = "*/5 * * * *"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mirage-scheduler preview",
        description="Print the warm-up volume a pair will send, per number and local hour.",
    )
    parser.add_argument("--pair", required=True, type=uuid.UUID, help="the pair's id")
    parser.add_argument("--days", type=int, default=7, help="how many days to play forward (default 7)")
    parser.add_argument(
        "--start",
        type=datetime.fromisoformat,
        default=None,
        help="ISO start moment with an offset (default: now)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated randomness")
    return parser


async def render_preview(
    settings: SchedulerSettings, pair_id: uuid.UUID, days: int, start: datetime, seed: int
) -> str | None:
    """The preview table of a pair, or None when there is no such live pair."""
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        facts = await repository.load_pair_facts(conn, pair_id, start)
    finally:
        await conn.close()
    if facts is None:
        return None
    result = preview(
        rules_of(facts),
        PreviewNumber(facts.a.name, age_today(facts.a.declared_age_days, facts.a.declared_at, start)),
        PreviewNumber(facts.b.name, age_today(facts.b.declared_age_days, facts.b.declared_at, start)),
        start=start,
        days=days,
        cron=CronSchedule(settings.cron or DEFAULT_CRON),
        tenant_cap=facts.number_daily_quota,
        timing=settings.timing,
        typing=TypingModel(),
        seed=seed,
    )
    return result.render()


def main(argv: list[str], settings: SchedulerSettings | None = None) -> int:
    """Run the preview command; the process exit code."""
    args = _parser().parse_args(argv)
    if args.days < 1 or args.days > 60:
        sys.stderr.write("--days must be between 1 and 60" + "\n")
        return 2
    start = args.start or utc_now()
    if start.tzinfo is None:
        sys.stderr.write("--start needs an offset (2026-12-07T08:00:00-03:00)" + "\n")
        return 2
    try:
        text = asyncio.run(
            render_preview(settings or SchedulerSettings(), args.pair, args.days, start, args.seed)
        )
    except OSError as error:
        sys.stderr.write(f"mirage-scheduler preview: the database is unreachable: {error}" + "\n")
        return 1
    except asyncpg.PostgresError as error:
        sys.stderr.write(f"mirage-scheduler preview: {error} (are the migrations applied? make migrate)\n")
        return 1
    except WindowError as error:
        sys.stderr.write(f"mirage-scheduler preview: the pair's windows cannot be read: {error}" + "\n")
        return 1
    if text is None:
        sys.stderr.write(f"mirage-scheduler preview: no live warm-up pair {args.pair}" + "\n")
        return 1
    sys.stdout.write(text + "\n")
    return 0
