"""`mirage-scheduler preview --pair ID --days 7` against a pair in the real database."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from database import Pool, PostgresSettings
from scheduler import preview_cli
from scheduler.settings import SchedulerSettings

from .conftest import new_pair, new_tenant

MONDAY = datetime.fromisoformat("2026-12-07T00:00:00-03:00")


async def test_preview_prints_the_volume_per_number_and_hour(
    db_pool: Pool, postgres_settings: PostgresSettings
) -> None:
    tenant = await new_tenant(db_pool)
    pair = await new_pair(db_pool, tenant, min_delay_s=1800, jitter_s=600, min_turns=2, max_turns=6)
    settings = SchedulerSettings(postgres=postgres_settings)
    text = await preview_cli.render_preview(settings, pair, 7, MONDAY, seed=1)
    assert text is not None
    lines = text.splitlines()
    assert tenant.numbers[0].name in lines[0]
    assert "America/Sao_Paulo" in lines[0]
    hours = {line.split()[1] for line in lines[2:] if line[:4].isdigit() and "total" not in line}
    # Mornings 08:00–11:00 on weekdays only (a round starting at 10:55 may end after 11:00).
    assert hours <= {"8h", "9h", "10h", "11h"}
    days = {line.split()[0] for line in lines[2:] if line[:4].isdigit()}
    assert days == {"2026-12-07", "2026-12-08", "2026-12-09", "2026-12-10", "2026-12-11"}
    assert lines[-1].startswith("rounds: ")


def test_preview_command_refuses_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert preview_cli.main(["--pair", str(uuid.uuid4()), "--days", "0"]) == 2
    assert "--days" in capsys.readouterr().err
    assert preview_cli.main(["--pair", str(uuid.uuid4()), "--start", "2026-12-07T08:00:00"]) == 2
    assert "offset" in capsys.readouterr().err


async def test_preview_of_an_unknown_pair_says_so(postgres_settings: PostgresSettings) -> None:
    settings = SchedulerSettings(postgres=postgres_settings)
    text = await preview_cli.render_preview(settings, uuid.uuid4(), 7, MONDAY, seed=1)
    assert text is None
