"""When the scheduler scans: a cron expression (croniter), evaluated in UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import croniter


class CronError(ValueError):
    """A cron expression croniter cannot read."""


@dataclass(frozen=True)
class CronSchedule:
    """`*/5 * * * *` (five fields), or six with seconds last (`* * * * * */2`)."""

    expression: str

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.expression):
            raise CronError(f"{self.expression!r} is not a cron expression")

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after `moment` (UTC)."""
        if moment.tzinfo is None:
            raise ValueError("moments must carry a timezone")
        found: datetime = croniter(self.expression, moment.astimezone(UTC)).get_next(datetime)
        return found.astimezone(UTC)

    def between(self, start: datetime, end: datetime) -> list[datetime]:
        """Every firing in `(start, end]`, in order."""
        fires = []
        moment = self.next_after(start)
        while moment <= end:
            fires.append(moment)
            moment = self.next_after(moment)
        return fires
