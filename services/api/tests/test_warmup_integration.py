"""Warm-up pairs through the api: create, read, change, pause, delete, tick (through a real
scheduler app), rounds and skips; validation and tenant isolation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from api.warmup.scheduler_link import SchedulerLink, SchedulerLinkSettings
from database import Pool
from scheduler.app import create_app as create_scheduler_app
from scheduler.settings import SchedulerRuntime, SchedulerSettings
from testkit.asgi import served
from testkit.ports import free_port

from .conftest import Api, Stack, TenantKey

pytestmark = pytest.mark.integration

ALWAYS = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "24:00"}]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


async def numbers(pool: Pool, tenant: TenantKey, count: int = 2) -> list[dict[str, Any]]:
    """Connected instances of the tenant, stored as ingest and the api would have left them."""
    found = []
    for _ in range(count):
        name = f"warm-{uuid.uuid4().hex[:10]}"
        phone = f"55119{uuid.uuid4().int % 10**8:08d}"
        instance_id = await pool.fetchval(
            "INSERT INTO instances (tenant_id, name, webhook_secret, state, owner_jid)"
            " VALUES ($1, $2, 's', 'connected', $3) RETURNING id",
            tenant.id,
            name,
            f"{phone}@s.whatsapp.net",
        )
        found.append({"id": str(instance_id), "name": name, "number": phone})
    return found


def pair_body(a: dict[str, Any], b: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The pinned creation body."""
    return {
        "instance_a": a["name"],
        "instance_b": b["name"],
        "time_zone": "America/Sao_Paulo",
        "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "11:00"}],
        "min_gap_minutes": 45,
        "turns": {"min": 2, "max": 6},
        "profile": "normal",
        **extra,
    }


async def test_a_pair_is_created_read_changed_paused_and_deleted(
    shared_api: Api, tenant: TenantKey, db_pool: Pool
) -> None:
    client, headers = shared_api.client, tenant.headers
    a, b = await numbers(db_pool, tenant)
    created = await client.post("/warmup/pairs", json=pair_body(a, b, age_a_days=1), headers=headers)
    assert created.status_code == 201, created.text
    pair = created.json()
    assert pair["status"] == "active"
    assert pair["name"] == f"{a['name']} <-> {b['name']}"
    assert pair["instance_a"]["name"] == a["name"]
    assert pair["instance_a"]["number"] == a["number"]
    assert (pair["instance_a"]["ramp_stage"], pair["instance_a"]["initiates"]) == ("receive_first", False)
    assert pair["instance_a"]["daily_cap"] == 10
    assert (pair["instance_b"]["ramp_stage"], pair["instance_b"]["daily_cap"]) == ("established", 200)
    assert pair["windows"] == [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "11:00"}
    ]
    assert (pair["min_gap_minutes"], pair["turns"]) == (45, {"min": 2, "max": 6})
    assert pair["max_rounds_per_day"] == 8
    assert pair["next_window_at"] is not None

    listed = (await client.get("/warmup/pairs", headers=headers)).json()
    assert [item["id"] for item in listed["items"]] == [pair["id"]]
    assert (await client.get(f"/warmup/pairs/{pair['id']}", headers=headers)).json() == pair

    persona = (
        await client.post("/personas", json={"name": f"Bia {uuid.uuid4().hex[:6]}"}, headers=headers)
    ).json()
    changed = await client.patch(
        f"/warmup/pairs/{pair['id']}",
        json={
            "profile": "soft",
            "turns": {"min": 3, "max": 4},
            "windows": [{"days": ["fri"], "start": "22:00", "end": "02:00"}],
            "persona_a": persona["id"],
            "max_rounds_per_day": 3,
        },
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["profile"], body["turns"], body["persona_a"], body["max_rounds_per_day"]) == (
        "soft",
        {"min": 3, "max": 4},
        persona["id"],
        3,
    )
    assert body["instance_b"]["daily_cap"] == 100  # soft halves an established number's budget
    cleared = await client.patch(f"/warmup/pairs/{pair['id']}", json={"persona_a": None}, headers=headers)
    assert cleared.json()["persona_a"] is None
    assert cleared.json()["profile"] == "soft"  # what was not given did not change

    paused = await client.post(f"/warmup/pairs/{pair['id']}/pause", headers=headers)
    assert paused.json()["status"] == "paused"
    resumed = await client.post(f"/warmup/pairs/{pair['id']}/resume", headers=headers)
    assert resumed.json()["status"] == "active"

    deleted = await client.delete(f"/warmup/pairs/{pair['id']}", headers=headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/warmup/pairs/{pair['id']}", headers=headers)
    assert gone.status_code == 404
    assert gone.json() == {"error": {"code": "warmup_pair_not_found", "message": "warmup pair not found"}}
    assert (await client.get("/warmup/pairs", headers=headers)).json()["items"] == []
    # The numbers are free for a new pair.
    again = await client.post("/warmup/pairs", json=pair_body(a, b), headers=headers)
    assert again.status_code == 201


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"instance_a": "no-such-instance"}, "unknown_instance"),
        ({"instance_b": "SAME"}, "same_instance"),
        ({"persona_a": str(uuid.uuid4())}, "unknown_persona"),
        ({"windows": [{"days": ["mon"], "start": "8:00", "end": "11:00"}]}, "validation_error"),
        ({"windows": [{"days": ["mon"], "start": "08:00", "end": "08:00"}]}, "validation_error"),
        ({"windows": [{"days": ["funday"], "start": "08:00", "end": "09:00"}]}, "validation_error"),
        ({"time_zone": "Mars/Olympus"}, "validation_error"),
        ({"turns": {"min": 5, "max": 3}}, "validation_error"),
        ({"turns": {"min": 1, "max": 3}}, "validation_error"),
        ({"profile": "reckless"}, "validation_error"),
        ({"min_gap_minutes": -1}, "validation_error"),
        ({"surprise": True}, "validation_error"),
    ],
)
async def test_bad_pairs_are_refused_with_the_error_body(
    shared_api: Api, tenant: TenantKey, db_pool: Pool, change: dict[str, Any], code: str
) -> None:
    a, b = await numbers(db_pool, tenant)
    body = pair_body(a, b, **change)
    if body["instance_b"] == "SAME":
        body["instance_b"] = a["name"]
    response = await shared_api.client.post("/warmup/pairs", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


async def test_the_same_two_numbers_form_one_live_pair(
    shared_api: Api, tenant: TenantKey, db_pool: Pool
) -> None:
    a, b = await numbers(db_pool, tenant)
    assert (
        await shared_api.client.post("/warmup/pairs", json=pair_body(a, b), headers=tenant.headers)
    ).status_code == 201
    reversed_pair = pair_body(b, a)
    duplicate = await shared_api.client.post("/warmup/pairs", json=reversed_pair, headers=tenant.headers)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "warmup_pair_exists"


async def test_another_tenants_pair_is_404_everywhere(
    shared_api: Api, tenant: TenantKey, other_tenant: TenantKey, db_pool: Pool
) -> None:
    a, b = await numbers(db_pool, tenant)
    pair = (
        await shared_api.client.post("/warmup/pairs", json=pair_body(a, b), headers=tenant.headers)
    ).json()
    # Nor can another tenant pair the first one's numbers.
    stolen = await shared_api.client.post("/warmup/pairs", json=pair_body(a, b), headers=other_tenant.headers)
    assert (stolen.status_code, stolen.json()["error"]["code"]) == (422, "unknown_instance")
    for method, path, body in (
        ("GET", f"/warmup/pairs/{pair['id']}", None),
        ("PATCH", f"/warmup/pairs/{pair['id']}", {"profile": "soft"}),
        ("DELETE", f"/warmup/pairs/{pair['id']}", None),
        ("POST", f"/warmup/pairs/{pair['id']}/pause", None),
        ("POST", f"/warmup/pairs/{pair['id']}/resume", None),
        ("POST", f"/warmup/pairs/{pair['id']}/tick", None),
        ("GET", f"/warmup/pairs/{pair['id']}/rounds", None),
        ("GET", f"/warmup/pairs/{pair['id']}/skips", None),
    ):
        response = await shared_api.client.request(method, path, json=body, headers=other_tenant.headers)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "warmup_pair_not_found"
    assert (await shared_api.client.get("/warmup/pairs", headers=other_tenant.headers)).json()["items"] == []
    assert (
        await shared_api.client.get(f"/warmup/pairs/{pair['id']}", headers=tenant.headers)
    ).status_code == 200


@pytest.fixture
async def scheduler_link(
    stack: Stack, shared_api: Api, tenant: TenantKey, db_pool: Pool
) -> AsyncIterator[None]:
    """A real scheduler app on a port of its own (no cron), for the api's ticks."""
    settings = SchedulerSettings(
        runtime=SchedulerRuntime(log_level="WARNING", log_json=False),
        kafka=stack.kafka,
        postgres=stack.postgres,
        redis=stack.redis,
        cron="",
        only_tenants=(tenant.id,),
        control_token=SecretStr("tick-token"),
    )
    async with served(create_scheduler_app(settings)) as url:
        shared_api.app.state.warmup_scheduler = SchedulerLink(
            SchedulerLinkSettings(url=url, token=SecretStr("tick-token"))
        )
        yield
    shared_api.app.state.warmup_scheduler = None
    # No later scheduler of the session (the end-to-end stack shares the database) may find
    # this test's round still running.
    await db_pool.execute("DELETE FROM warmup_pairs WHERE tenant_id = $1", tenant.id)


@pytest.mark.usefixtures("scheduler_link")
async def test_tick_runs_the_schedulers_decision_and_rounds_show_it(
    shared_api: Api, tenant: TenantKey, db_pool: Pool
) -> None:
    client, headers = shared_api.client, tenant.headers
    a, b = await numbers(db_pool, tenant)
    tomorrow = DAYS[(datetime.now(UTC) + timedelta(days=1)).weekday()]
    closed = [{"days": [tomorrow], "start": "00:00", "end": "24:00"}]
    pair = (
        await client.post(
            "/warmup/pairs",
            json=pair_body(a, b, time_zone="UTC", windows=closed, turns={"min": 2, "max": 2}),
            headers=headers,
        )
    ).json()

    skipped = await client.post(f"/warmup/pairs/{pair['id']}/tick", headers=headers)
    assert skipped.status_code == 200, skipped.text
    assert (skipped.json()["decision"], skipped.json()["reason"], skipped.json()["round_id"]) == (
        "skipped",
        "outside_window",
        None,
    )
    await client.patch(f"/warmup/pairs/{pair['id']}", json={"windows": ALWAYS}, headers=headers)
    started = await client.post(f"/warmup/pairs/{pair['id']}/tick", headers=headers)
    assert started.json()["decision"] == "started", started.text
    round_id = started.json()["round_id"]

    rounds = (await client.get(f"/warmup/pairs/{pair['id']}/rounds", headers=headers)).json()
    [current] = rounds["items"]
    assert current["id"] == round_id
    assert (current["state"], current["trigger"], current["planned_turns"]) == ("started", "manual", 2)
    assert current["initiator"] == a["name"]
    first, second = current["turns"]
    assert (first["from"], first["to"], first["status"]) == (a["name"], b["name"], "requested")
    assert first["requested_at"] is not None
    assert first["text"] is None  # not written yet: no generator in this test
    assert (second["from"], second["status"]) == (b["name"], "planned")

    busy = (await client.post(f"/warmup/pairs/{pair['id']}/tick", headers=headers)).json()
    assert busy["reason"] == "round_in_progress"
    await client.post(f"/warmup/pairs/{pair['id']}/pause", headers=headers)
    paused = (await client.post(f"/warmup/pairs/{pair['id']}/tick", headers=headers)).json()
    assert paused["reason"] == "paused"
    skips = (await client.get(f"/warmup/pairs/{pair['id']}/skips", headers=headers)).json()["items"]
    assert [(skip["reason"], skip["trigger"], skip["occurrences"]) for skip in skips] == [
        ("paused", "manual", 1),
        ("round_in_progress", "manual", 1),
        ("outside_window", "manual", 1),
    ]


async def test_tick_answers_503_when_the_scheduler_is_down(
    shared_api: Api, tenant: TenantKey, db_pool: Pool
) -> None:
    a, b = await numbers(db_pool, tenant)
    pair = (
        await shared_api.client.post("/warmup/pairs", json=pair_body(a, b), headers=tenant.headers)
    ).json()
    shared_api.app.state.warmup_scheduler = SchedulerLink(
        SchedulerLinkSettings(url=f"http://127.0.0.1:{free_port()}", timeout_s=2)
    )
    try:
        response = await shared_api.client.post(f"/warmup/pairs/{pair['id']}/tick", headers=tenant.headers)
    finally:
        shared_api.app.state.warmup_scheduler = None
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "scheduler_unavailable"
