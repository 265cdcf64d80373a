"""Outreach campaigns end to end: api → outreach → sender → simulator, with the guard's opt-outs.

Every service runs as its own process against the real Kafka, PostgreSQL and Redis: the api
creates the campaign and publishes one `outreach.requested` per row, the outreach worker takes
the quotas in Redis and hands one send per number at a time to the sender, and the scanner
requests waiting targets again from their due times in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from api.tenants import service as tenants
from database import Pool
from testkit import Infra, wait_until
from testkit.stack import Instance, MirageStack, SimulatorClient

from .conftest import running_stack

pytestmark = pytest.mark.e2e

ZONE = "America/Sao_Paulo"
QUICK = {"min_gap_s": 0.05, "max_gap_s": 0.2}


@pytest.fixture(scope="module")
async def outreach_stack(infra: Infra, database_dsn: str) -> AsyncIterator[MirageStack]:
    """The pipeline plus the api and the outreach worker, scanning five times a second."""
    async with running_stack(
        infra,
        database_dsn,
        debounce_ms=300,
        extra_services=("api", "outreach"),
        overrides={"outreach": {"MIRAGE_OUTREACH_POLICY__SCAN_INTERVAL_S": "0.2"}},
    ) as mirage:
        yield mirage


@dataclass
class Operator:
    """A tenant with one connected number and an api client holding its key."""

    tenant_id: uuid.UUID
    number: Instance
    api: httpx.AsyncClient


@pytest.fixture
async def operator(outreach_stack: MirageStack, db_pool: Pool) -> AsyncIterator[Operator]:
    slug = f"out-{uuid.uuid4().hex[:10]}"
    tenant = await tenants.create_tenant(db_pool, slug, slug, time_zone=ZONE)
    key = await tenants.issue_key(db_pool, tenant.id)
    number = await outreach_stack.create_instance(tenant_id=tenant.id)
    url = f"http://127.0.0.1:{outreach_stack.ports['api']}"
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key.secret}"}, timeout=60
    ) as client:
        yield Operator(tenant_id=tenant.id, number=number, api=client)


@pytest.fixture
async def sim(outreach_stack: MirageStack) -> AsyncIterator[SimulatorClient]:
    client = SimulatorClient(outreach_stack.simulator_url)
    yield client
    await client.faults({"sendText": None})
    await client.close()


def phones(count: int) -> list[str]:
    base = uuid.uuid4().int % 10**6
    return [f"55119{(base + index) % 10**6:06d}{index % 100:02d}" for index in range(count)]


async def set_quotas(operator: Operator, **quotas: int) -> dict[str, Any]:
    response = await operator.api.patch("/tenant", json={"quotas": quotas})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def create_campaign(operator: Operator, contacts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    body = {
        "name": "Black Friday",
        "instances": [operator.number.name],
        "contacts": contacts,
        "template": "Oi {{name}}, temos novidades para você!",
        "pacing": QUICK,
        **extra,
    }
    response = await operator.api.post("/outreach/campaigns", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def campaign(operator: Operator, campaign_id: str) -> dict[str, Any]:
    response = await operator.api.get(f"/outreach/campaigns/{campaign_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def targets(operator: Operator, campaign_id: str, state: str | None = None) -> list[dict[str, Any]]:
    params: dict[str, str | int] = {"limit": 1000, **({"state": state} if state else {})}
    response = await operator.api.get(f"/outreach/campaigns/{campaign_id}/targets", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_ten_contacts_on_a_number_allowed_three_a_day_send_three_and_wait_seven_for_tomorrow(
    operator: Operator, sim: SimulatorClient
) -> None:
    tenant = await set_quotas(operator, daily=100, hourly=100, per_number_daily=3)
    assert tenant["quotas"] == {"daily": 100, "hourly": 100, "per_number_daily": 3}
    numbers = phones(10)
    contacts = [{"phone": phone, "variables": {"name": f"Pessoa {i}"}} for i, phone in enumerate(numbers)]
    created = await create_campaign(operator, contacts)
    assert created["state"] == "running"
    assert created["report"] == {"accepted": 10, "rejected": []}

    async def settled() -> bool:
        counts = (await campaign(operator, created["id"]))["counts"]
        return bool(counts["sent"] == 3 and counts["rescheduled"] == 7)

    await wait_until(settled, timeout=60, message="3 sent and 7 rescheduled", interval=0.5)
    view = await campaign(operator, created["id"])
    assert view["counts"] == {
        "queued": 0,
        "rescheduled": 7,
        "sending": 0,
        "sent": 3,
        "skipped": 0,
        "failed": 0,
    }

    tomorrow = datetime.now(ZoneInfo(ZONE)).date().toordinal() + 1
    for target in await targets(operator, created["id"], "rescheduled"):
        due = datetime.fromisoformat(target["next_attempt_at"]).astimezone(ZoneInfo(ZONE))
        assert (due.date().toordinal(), due.hour, due.minute) == (tomorrow, 0, 0), target
        assert target["reason"] == "quota_number"

    sent = await sim.sent(instance=operator.number.name)
    campaign_texts = [row for row in sent if row["text"].startswith("Oi Pessoa")]
    assert len(campaign_texts) == 3
    assert len({row["number"] for row in campaign_texts}) == 3, "three different people, once each"
    usage = (await operator.api.get("/tenant")).json()["usage"]
    assert usage["daily"] == 3
    assert [n["used"] for n in usage["numbers"]] == [3]

    # Nothing more goes out while the day lasts: the scanner leaves tomorrow's targets alone.
    await asyncio.sleep(1.5)
    assert (
        len([r for r in await sim.sent(instance=operator.number.name) if r["text"].startswith("Oi Pessoa")])
        == 3
    )


async def test_pare_mid_campaign_skips_the_contact_with_one_confirmation_and_nao_pare_is_answered(
    operator: Operator, sim: SimulatorClient, outreach_stack: MirageStack
) -> None:
    numbers = phones(5)
    stopper, chatter = numbers[-1], numbers[-2]
    contacts = [{"phone": phone, "variables": {"name": f"Cliente {i}"}} for i, phone in enumerate(numbers)]
    # About two seconds between sends: the last rows wait long enough for the people to write.
    created = await create_campaign(operator, contacts, pacing={"min_gap_s": 1.5, "max_gap_s": 2.0})
    await sim.inbound(operator.number.name, stopper, "Pare!", push_name="Quem Para")
    await sim.inbound(operator.number.name, chatter, "não pare de me mandar novidades", push_name="Quem Fica")

    async def finished() -> dict[str, Any] | None:
        view = await campaign(operator, created["id"])
        return view if view["state"] == "completed" else None

    view = await wait_until(finished, timeout=60, message="the campaign completed")
    assert view["counts"]["sent"] == 4
    assert view["counts"]["skipped"] == 1
    skipped = await targets(operator, created["id"], "skipped")
    assert [(t["phone"], t["reason"]) for t in skipped] == [(stopper, "opted_out")]

    to_stopper = await sim.sent(instance=operator.number.name, number=stopper)
    assert len(to_stopper) == 1, to_stopper
    assert "não vai mais receber" in to_stopper[0]["text"], "exactly one confirmation, no campaign message"

    async def chatter_answered() -> list[dict[str, Any]] | None:
        rows = await sim.sent(instance=operator.number.name, number=chatter)
        answers = [row for row in rows if not row["text"].startswith("Oi Cliente")]
        return answers or None

    answers = await wait_until(chatter_answered, timeout=30, message="'não pare' answered")
    assert all("não vai mais receber" not in row["text"] for row in answers)
    sent_to_chatter = list(await sim.sent(instance=operator.number.name, number=chatter))
    assert any(r["text"].startswith("Oi Cliente") for r in sent_to_chatter), "still in the campaign"

    consent = (await operator.api.get(f"/contacts/{stopper}/consent")).json()
    assert consent["opted_out"] is True
    assert [(e["action"], e["keyword"], e["text"], e["channel"]) for e in consent["events"]] == [
        ("opt_out", "PARE", "Pare!", "whatsapp")
    ]
    assert consent["events"][0]["message_id"] is not None
    assert consent["events"][0]["instance"] == operator.number.name


async def test_a_reply_on_a_number_waits_for_at_most_one_campaign_send(
    operator: Operator, sim: SimulatorClient, db_pool: Pool
) -> None:
    await set_quotas(operator, daily=5000, hourly=5000, per_number_daily=5000)
    await sim.faults({"sendText": {"latency_ms": 150}})
    contacts = [{"phone": phone, "variables": {"name": "Lote"}} for phone in phones(1000)]
    created = await create_campaign(operator, contacts, pacing={"min_gap_s": 0, "max_gap_s": 0})
    assert created["report"]["accepted"] == 1000

    async def campaign_flowing() -> bool:
        return bool((await campaign(operator, created["id"]))["counts"]["sent"] >= 5)

    await wait_until(campaign_flowing, timeout=60, message="the campaign is sending")
    person = phones(1)[0]
    await sim.inbound(operator.number.name, person, "oi, queria saber do meu pedido", push_name="Bia")

    async def answered() -> list[dict[str, Any]] | None:
        return await sim.sent(instance=operator.number.name, number=person) or None

    reply = (await wait_until(answered, timeout=30, message="the reply"))[0]
    requested_at = await db_pool.fetchval(
        "SELECT r.created_at FROM replies r JOIN conversations c ON c.id = r.conversation_id"
        " JOIN contacts ct ON ct.id = c.contact_id WHERE c.instance_id = $1 AND ct.phone = $2",
        operator.number.id,
        person,
    )
    assert requested_at is not None
    replied_at = datetime.fromisoformat(reply["at"])
    everything = await sim.sent(instance=operator.number.name)
    in_between = [
        row
        for row in everything
        if row["text"].startswith("Oi Lote") and requested_at < datetime.fromisoformat(row["at"]) < replied_at
    ]
    assert len(in_between) <= 1, f"{len(in_between)} campaign sends went out ahead of the reply"
    after = [
        row
        for row in everything
        if row["text"].startswith("Oi Lote") and datetime.fromisoformat(row["at"]) > replied_at
    ]
    assert (await campaign(operator, created["id"]))["counts"]["sent"] < 1000, (
        "the campaign was still running"
    )
    del after
    cancelled = await operator.api.post(f"/outreach/campaigns/{created['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text

    async def all_skipped() -> bool:
        counts = (await campaign(operator, created["id"]))["counts"]
        return bool(counts["queued"] == 0 and counts["rescheduled"] == 0 and counts["sending"] == 0)

    await wait_until(all_skipped, timeout=60, message="the cancelled campaign's targets skipped")
    view = await campaign(operator, created["id"])
    assert view["state"] == "cancelled"
    assert view["counts"]["sent"] + view["counts"]["skipped"] == 1000
    skipped = await operator.api.get(
        f"/outreach/campaigns/{created['id']}/targets", params={"state": "skipped", "limit": 1}
    )
    assert skipped.json()["items"][0]["reason"] == "campaign_cancelled"


async def test_campaign_creation_reports_rows_refuses_bad_templates_and_a_spent_day(
    operator: Operator, db_pool: Pool
) -> None:
    blocked, stopped, good = phones(3)
    await operator.api.post("/blacklist", json={"phone": blocked})
    erased = await operator.api.post(f"/contacts/{stopped}/erase")
    assert erased.status_code == 200, erased.text
    assert erased.json()["suppressed"] is True
    contacts = [
        {"phone": good, "variables": {"name": "Ana"}},
        {"phone": "12ab", "variables": {"name": "?"}},
        {"phone": good, "variables": {"name": "Ana"}},
        {"phone": blocked, "variables": {"name": "Bia"}},
        {"phone": stopped, "variables": {"name": "Caio"}},
    ]
    await set_quotas(operator, daily=1, hourly=10, per_number_daily=10)
    created = await create_campaign(operator, contacts)
    assert created["report"] == {
        "accepted": 1,
        "rejected": [
            {"row": 1, "phone": "12ab", "reason": "invalid_phone"},
            {"row": 2, "phone": good, "reason": "duplicate"},
            {"row": 3, "phone": blocked, "reason": "blacklisted"},
            {"row": 4, "phone": stopped, "reason": "opted_out"},
        ],
    }

    bad = await operator.api.post(
        "/outreach/campaigns",
        json={
            "name": "x",
            "instances": [operator.number.name],
            "contacts": [
                {"phone": phones(1)[0], "variables": {"name": "A"}},
                {"phone": phones(1)[0], "variables": {}},
            ],
            "template": "Oi {{name}}",
        },
    )
    assert bad.status_code == 422, bad.text
    assert bad.json()["error"]["code"] == "template_render_failed"
    assert [item["row"] for item in bad.json()["error"]["details"]] == [1]

    async def day_spent() -> bool:
        return bool((await operator.api.get("/tenant")).json()["usage"]["daily"] == 1)

    await wait_until(day_spent, timeout=30, message="the one send of the day")
    before = await db_pool.fetchval("SELECT count(*) FROM campaigns WHERE tenant_id = $1", operator.tenant_id)
    spent = await operator.api.post(
        "/outreach/campaigns",
        json={
            "name": "tarde demais",
            "instances": [operator.number.name],
            "contacts": [{"phone": phones(1)[0], "variables": {"name": "A"}}],
            "template": "Oi {{name}}",
        },
    )
    assert spent.status_code == 429, spent.text
    assert spent.json()["error"] == "daily_limit_reached"
    after = await db_pool.fetchval("SELECT count(*) FROM campaigns WHERE tenant_id = $1", operator.tenant_id)
    assert after == before, "nothing is created"

    async def first_completed() -> bool:
        return bool((await campaign(operator, created["id"]))["state"] == "completed")

    await wait_until(first_completed, timeout=30, message="the one target sent")
    listed = (await operator.api.get("/outreach/campaigns")).json()["items"]
    assert [item["id"] for item in listed] == [created["id"]]
    steer = f"/outreach/campaigns/{created['id']}"
    assert (await operator.api.post(f"{steer}/pause")).json()["state"] == "paused"
    assert (await operator.api.post(f"{steer}/resume")).json()["state"] == "completed"
    assert (await operator.api.post(f"{steer}/cancel")).json()["state"] == "cancelled"
    refused = await operator.api.post(f"{steer}/resume")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "campaign_state_conflict"
    other = await operator.api.post(f"/outreach/campaigns/{uuid.uuid4()}/pause")
    assert other.status_code == 404
    unknown = await operator.api.get(f"/outreach/campaigns/{uuid.uuid4()}/targets")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "campaign_not_found"


async def test_warm_up_comes_before_campaigns_on_a_numbers_daily_budget(
    operator: Operator, outreach_stack: MirageStack, sim: SimulatorClient
) -> None:
    # The number warms up with a second one: an established number in a normal pair keeps
    # back what 8 rounds of 2–6 turns are expected to send from it (23) for its warm-up.
    peer = await outreach_stack.create_instance(tenant_id=operator.tenant_id)
    pair = await operator.api.post(
        "/warmup/pairs",
        json={
            "instance_a": operator.number.name,
            "instance_b": peer.name,
            "time_zone": ZONE,
            "windows": [],
            "min_gap_minutes": 60,
            "turns": {"min": 2, "max": 6},
            "profile": "normal",
        },
    )
    assert pair.status_code == 201, pair.text
    await set_quotas(operator, daily=100, hourly=100, per_number_daily=30)
    contacts = [{"phone": phone, "variables": {"name": f"Pessoa {i}"}} for i, phone in enumerate(phones(10))]
    created = await create_campaign(operator, contacts)

    async def settled() -> bool:
        counts = (await campaign(operator, created["id"]))["counts"]
        return bool(counts["sent"] == 7 and counts["rescheduled"] == 3)

    await wait_until(settled, timeout=60, message="7 sent and 3 kept for tomorrow", interval=0.5)
    for target in await targets(operator, created["id"], "rescheduled"):
        assert target["reason"] == "quota_number"
    usage = (await operator.api.get("/tenant")).json()["usage"]
    assert usage["daily"] == 7, "the 23 sends left today belong to the number's warm-up"

    # Paused, the pair keeps nothing back: tomorrow's targets are not moved, but a new
    # campaign may use the whole budget that is left.
    paused = await operator.api.post(f"/warmup/pairs/{pair.json()['id']}/pause")
    assert paused.status_code == 200, paused.text
    more = await create_campaign(operator, [{"phone": p, "variables": {"name": "X"}} for p in phones(2)])

    async def more_sent() -> bool:
        return bool((await campaign(operator, more["id"]))["counts"]["sent"] == 2)

    await wait_until(more_sent, timeout=60, message="the paused pair's reserve is free again", interval=0.5)


async def test_a_personalised_campaign_is_rewritten_by_the_model_in_the_numbers_voice(
    operator: Operator, sim: SimulatorClient, db_pool: Pool
) -> None:
    await set_quotas(operator, daily=100, hourly=100, per_number_daily=50)
    contacts = [{"phone": phone, "variables": {"name": f"Pessoa {i}"}} for i, phone in enumerate(phones(2))]
    created = await create_campaign(
        operator, contacts, template="Oi {{name}}, o cupom BF25 vale até 30/11!", personalise=True
    )

    async def sent() -> bool:
        return bool((await campaign(operator, created["id"]))["counts"]["sent"] == 2)

    await wait_until(sent, timeout=60, message="both personalised messages sent", interval=0.5)
    texts = sorted(
        row["text"] for row in await sim.sent(instance=operator.number.name) if "BF25" in row["text"]
    )
    # The simulator's model quotes what it was given: the rewrite went through the model and
    # kept the facts, so it was sent instead of the template.
    assert len(texts) == 2
    for index, text in enumerate(texts):
        assert text.startswith("Olá! Você disse: «Oi Pessoa"), text
        assert "30/11" in text
        assert f"Pessoa {index}" in text
    rows = await db_pool.fetch(
        "SELECT r.kind, r.error FROM replies r JOIN campaign_target_progress p ON p.send_id = r.id"
        " WHERE p.campaign_id = $1",
        uuid.UUID(created["id"]),
    )
    assert [(row["kind"], row["error"]) for row in rows] == [("campaign", None)] * 2
