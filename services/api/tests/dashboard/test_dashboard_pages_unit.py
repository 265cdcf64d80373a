"""Campaign, warm-up and metrics pieces that need no infrastructure: reading CSV files, the
weekly grid's windows, the SVG charts, and the pages drawn from api-shaped data."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.requests import Request

from api.dashboard.charts import Series, bar_chart, nice_step
from api.dashboard.rendering import render
from api.dashboard.uploads import UploadError, parse_contacts_csv, parse_multipart, size_text, upload_limit
from api.dashboard.week_grid import cells_from_windows, windows_from_cells
from api.settings import BodyLimitSettings
from api.warmup.schemas import PairOut, RoundOut

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


# --- CSV files --------------------------------------------------------------------------------


def test_a_campaign_file_becomes_contacts_with_their_lines() -> None:
    parsed = parse_contacts_csv(
        "\ufeffNome;Telefone;Cidade\r\nAna;+55 11 98888-0001;Santos\r\n\r\nBia;5511988880002;\r\n".encode()
    )
    assert parsed.phone_column == "Telefone"
    assert parsed.contacts == [
        {"phone": "+55 11 98888-0001", "variables": {"Nome": "Ana", "Cidade": "Santos"}},
        {"phone": "5511988880002", "variables": {"Nome": "Bia"}},
    ]
    assert parsed.lines == [2, 4]


def test_tabs_commas_and_quoted_cells() -> None:
    parsed = parse_contacts_csv(b'phone\tname\n5511988880001\t"Silva, Ana"\n')
    assert parsed.contacts[0]["variables"] == {"name": "Silva, Ana"}
    parsed = parse_contacts_csv(b'phone,name\n5511988880001,"Ana ""Aninha"""\n')
    assert parsed.contacts[0]["variables"] == {"name": 'Ana "Aninha"'}


@pytest.mark.parametrize(
    ("data", "code", "params"),
    [
        (b"", "empty", {}),
        (b"\n\n  \n", "empty", {}),
        (b"phone,name\n", "no_rows", {}),
        ("phone,name\n1,Jo\u00e3o\n".encode("cp1252"), "encoding", {"line": 2}),
        (b"PK\x03\x04rest", "spreadsheet", {}),
        (b"\xd0\xcf\x11\xe0rest", "spreadsheet", {}),
        (b"phone\x00,name\n", "binary", {}),
        (b"name,city\nAna,Santos\n", "missing_phone", {"columns": "name, city"}),
        (b"Phone,PHONE\n1,2\n", "duplicate_column", {"column": "phone"}),
        (b'phone,name\n1,"Ana\n', "malformed", None),
    ],
)
def test_bad_files_say_why(data: bytes, code: str, params: dict[str, Any] | None) -> None:
    with pytest.raises(UploadError) as raised:
        parse_contacts_csv(data)
    assert raised.value.code == code
    if params is not None:
        assert raised.value.params == params


def test_too_many_rows_stop_early() -> None:
    with pytest.raises(UploadError) as raised:
        parse_contacts_csv(b"phone\n" + b"5511988880001\n" * 11, max_rows=10)
    assert raised.value.code == "too_many_rows"
    assert raised.value.params == {"limit": 10}
    assert len(parse_contacts_csv(b"phone\n" + b"5511988880001\n" * 10, max_rows=10).contacts) == 10


def test_multipart_fields_and_files() -> None:
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="instances"\r\n\r\nloja-1\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="instances"\r\n\r\nloja-2\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nPromo\u00e7\u00e3o\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="c.csv"\r\n'
        "Content-Type: text/csv\r\n\r\nphone\r\n5511988880001\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    upload = parse_multipart(f"multipart/form-data; boundary={boundary}", body)
    assert upload.all("instances") == ["loja-1", "loja-2"]
    assert upload.get("name") == "Promoção"
    assert upload.files["file"] == ("c.csv", b"phone\r\n5511988880001")
    with pytest.raises(UploadError):
        parse_multipart("application/x-www-form-urlencoded", b"a=1")


def test_the_upload_limit_follows_the_apis_body_limit() -> None:
    assert upload_limit(BodyLimitSettings()) == 5 << 20, "the default leaves the upload its 5 MB"
    tight = BodyLimitSettings(by_path={})
    assert upload_limit(tight) == 1024 * 1024 - 64 * 1024
    assert size_text(upload_limit(tight)) == "960 KB"
    roomy = BodyLimitSettings(by_path={"/ui/campaigns/new": 32 << 20})
    assert upload_limit(roomy) == 5 << 20
    assert size_text(upload_limit(roomy)) == "5 MB"


# --- the weekly grid --------------------------------------------------------------------------


def test_cells_become_the_apis_windows() -> None:
    cells = ["mon-08", "mon-09", "tue-08", "tue-09", "wed-20", "sun-23", "fri-00", "bad", "mon-24", "xyz-01"]
    assert windows_from_cells(cells) == [
        {"days": ["mon", "tue"], "start": "08:00", "end": "10:00"},
        {"days": ["wed"], "start": "20:00", "end": "21:00"},
        {"days": ["fri"], "start": "00:00", "end": "01:00"},
        {"days": ["sun"], "start": "23:00", "end": "24:00"},
    ]
    assert windows_from_cells([]) == []
    every_hour = [f"{day}-{hour:02d}" for day in ("sat", "sun") for hour in range(24)]
    assert windows_from_cells(every_hour) == [{"days": ["sat", "sun"], "start": "00:00", "end": "24:00"}]


def test_windows_come_back_as_cells() -> None:
    windows = [{"days": ["mon", "tue"], "start": "08:00", "end": "10:00"}]
    state = cells_from_windows(windows)
    assert state.exact
    assert state.cells == {"mon-08", "mon-09", "tue-08", "tue-09"}
    assert windows_from_cells(state.cells) == windows
    # Across midnight: Sunday 22:30–01:00 is Sunday's last hours and Monday's first, widened.
    late = cells_from_windows([{"days": ["sun"], "start": "22:30", "end": "01:00"}])
    assert not late.exact
    assert late.cells == {"sun-22", "sun-23", "mon-00"}
    assert cells_from_windows([{"days": ["mon"], "start": "00:00", "end": "24:00"}]).cells == {
        f"mon-{hour:02d}" for hour in range(24)
    }


# --- charts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("maximum", "step"), [(0, 1), (1, 1), (3, 1), (7, 2), (10, 5), (38, 10), (1234, 500)]
)
def test_round_steps(maximum: int, step: int) -> None:
    assert nice_step(maximum) == step


def test_every_bar_has_its_value_and_a_title() -> None:
    chart = bar_chart(
        "c",
        "Per number",
        category_label="Number",
        series=[Series("sent", "Sent"), Series("failed", "Failed")],
        categories=["loja-1", "loja-2"],
        rows=[[10, 0], [4, 2]],
    )
    assert [bar.title for bar in chart.bars] == [
        "loja-1 — Sent: 10",
        "loja-1 — Failed: 0",
        "loja-2 — Sent: 4",
        "loja-2 — Failed: 2",
    ]
    tallest = max(chart.bars, key=lambda bar: bar.height)
    assert tallest.value == 10
    assert tallest.y + tallest.height == chart.plot_bottom
    assert chart.totals() == (14, 2)
    assert [tick.label for tick in chart.ticks] == ["0", "5", "10"]
    assert all(chart.plot_left <= bar.x < chart.plot_right for bar in chart.bars)
    assert bar_chart("e", "Empty", category_label="x", series=[], categories=[], rows=[]).empty


def test_many_hours_thin_out_their_labels() -> None:
    hours = [f"{hour:02d}h" for hour in range(168)]
    chart = bar_chart(
        "h",
        "Hourly",
        category_label="Hour",
        series=[Series("sent", "Sent")],
        categories=hours,
        rows=[[1]] * 168,
    )
    assert len(chart.bars) == 168
    assert 0 < len(chart.labels) < 168


# --- pages drawn from api-shaped data ---------------------------------------------------------


def _request(path: str = "/", query: bytes = b"lang=en") -> Request:
    return Request({"type": "http", "method": "GET", "path": path, "query_string": query, "headers": []})


def _number(name: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "name": name,
        "state": "connected",
        "number": "5511988880001",
        "age_days": None,
        "ramp_stage": "established",
        "initiates": True,
        "daily_cap": 200,
    }


def test_deaf_rounds_and_alerts_are_highlighted_on_the_pair_page() -> None:
    pair = PairOut.model_validate(
        {
            "id": uuid.uuid4(),
            "name": "a <-> b",
            "status": "quarantined",
            "instance_a": _number("a"),
            "instance_b": _number("b"),
            "persona_a": None,
            "persona_b": None,
            "time_zone": "America/Sao_Paulo",
            "windows": [{"days": ["mon"], "start": "08:00", "end": "12:00"}],
            "min_gap_minutes": 30,
            "gap_jitter_minutes": 10,
            "turns": {"min": 2, "max": 6},
            "profile": "normal",
            "max_rounds_per_day": 8,
            "initiator": "alternate",
            "initiator_weight_a": 0.5,
            "quarantined_until": NOW + timedelta(hours=24),
            "quarantine_reason": "deaf",
            "last_round_at": NOW,
            "next_round_not_before": None,
            "next_window_at": None,
            "created_at": NOW,
            "updated_at": NOW,
        }
    )
    turn = {
        "index": 0,
        "from": "a",
        "to": "b",
        "text": "Oi! Tudo bem?",
        "reaction": False,
        "status": "abandoned",
        "requested_at": NOW,
        "sent_at": NOW,
        "delivered_at": None,
        "messages": [],
    }
    deaf = RoundOut.model_validate(
        {
            "id": uuid.uuid4(),
            "state": "deaf",
            "trigger": "cron",
            "topic": "futebol",
            "script_id": "s",
            "initiator": "a",
            "responder": "b",
            "planned_turns": 2,
            "turns_completed": 0,
            "messages_sent": 1,
            "messages_delivered": 0,
            "started_at": NOW,
            "completed_at": NOW,
            "duration_ms": 600_000,
            "reason": None,
            "turns": [turn],
        }
    )

    class Alert:
        title = "Warm-up messages do not arrive"
        detail = "a -> b"
        last_seen_at = NOW

    response = render(
        _request(),
        "warmup_pair.html",
        viewer=None,
        values={
            "pair": pair,
            "rounds": [deaf],
            "skips": [],
            "deaf_alerts": [Alert()],
            "deaf_rounds": [deaf],
            "tones": {"quarantined": "bad"},
            "round_tones": {"deaf": "bad"},
            "persona_names": {},
            "windows_text": ["Mon: 08:00–12:00"],
        },
    )
    page = bytes(response.body).decode()
    assert 'id="deaf-alerts"' in page
    assert "Deaf rounds: messages did not arrive" in page
    assert "a -&gt; b" in page
    assert 'class="round round-deaf"' in page
    assert "never arrived at the other number" in page
    assert re.search(r"a → b\s*<span[^>]*>Abandoned", page)
