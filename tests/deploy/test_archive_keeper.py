"""Which backups become weekly/monthly archives (the chart's CronJob and the backup drill run it)."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.deploy

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "mirage" / "files" / "archive_keeper.py"


@pytest.fixture(scope="module")
def keeper() -> ModuleType:
    """The script as a module (it lives in the chart so the CronJob's ConfigMap can carry it)."""
    spec = importlib.util.spec_from_file_location("archive_keeper", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is being built.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def daily_backups(keeper: ModuleType, days: int, now: datetime) -> list[Any]:
    """One backup a day at 03:00 UTC for `days` days up to `now`."""
    first = (now - timedelta(days=days)).replace(hour=3, minute=0, second=0, microsecond=0)
    return [
        keeper.Backup(backup_id=f"b{i:03d}", begin=first + timedelta(days=i))
        for i in range(days)
        if first + timedelta(days=i) <= now
    ]


def test_first_backup_of_each_recent_week_and_month(keeper: ModuleType) -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday
    backups = daily_backups(keeper, 400, now)
    chosen = keeper.choose_archives(backups, now, 8, 12)
    by_id = {b.backup_id: b.begin for b in backups}
    monthly = sorted(by_id[i] for i, why in chosen.items() if why == "monthly")
    weekly = sorted(by_id[i] for i, why in chosen.items() if why == "weekly")
    # Twelve months back from December 2026: January to December, each on the 1st.
    assert [(d.year, d.month, d.day) for d in monthly] == [(2026, m, 1) for m in range(1, 13)]
    # Weekly archives are Mondays (ISO weeks) within eight weeks; a Monday that is also the 1st
    # counts as monthly, so at most eight in total and all Mondays.
    assert all(d.isoweekday() == 1 for d in weekly)
    assert all(now - d < timedelta(weeks=8) for d in weekly)
    assert 6 <= len(weekly) <= 8
    # Nothing older than the longest horizon stays.
    assert min(by_id[i] for i in chosen) >= datetime(2026, 1, 1, tzinfo=UTC)


def test_nothing_kept_when_both_horizons_are_zero(keeper: ModuleType) -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert keeper.choose_archives(daily_backups(keeper, 60, now), now, 0, 0) == {}


def test_parse_backups_takes_only_completed_ones(keeper: ModuleType) -> None:
    listing = json.dumps(
        {
            "backups_list": [
                {"backup_id": "a", "status": "DONE", "begin_time_iso": "2026-12-01T03:00:00+00:00"},
                {"backup_id": "b", "status": "FAILED", "begin_time_iso": "2026-12-02T03:00:00+00:00"},
                {"backup_id": "c", "status": "DONE", "begin_time_iso": "2026-12-02T03:00:00"},
            ]
        }
    )
    backups = keeper.parse_backups(listing)
    assert [b.backup_id for b in backups] == ["a", "c"]
    assert all(b.begin.tzinfo is not None for b in backups)
