"""Warm-up rounds end to end: api → scheduler → generator → sender → simulator → ingest → scheduler.

Every service runs as its own process against the real Kafka, PostgreSQL and Redis; two
instances of one tenant talk through the simulator, which delivers a send to another
instance's number as that instance's inbound message. A round moves a turn only when the
previous turn arrived at the peer; a direction the simulator drops ends the round `deaf`.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from api.tenants import service as tenants
from contracts import RoundCompleted, parse_event
from database import Pool
from testkit import Infra, wait_until
from testkit.stack import Instance, MirageStack, SimulatorClient

from .conftest import running_stack

pytestmark = pytest.mark.e2e

# A turn that has not arrived this long after it was requested ends the round.
TURN_TIMEOUT_S = 20
ALWAYS = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "24:00"}]


@pytest.fixture(scope="module")
async def warm_stack(infra: Infra, database_dsn: str) -> AsyncIterator[MirageStack]:
    """The pipeline plus the scheduler and the api, with the warm-up timeline shrunk."""
    async with running_stack(
        infra,
        database_dsn,
        debounce_ms=300,
        extra_services=("scheduler", "api"),
        overrides={
            # Typing at 35–55 WPM, twenty times faster.
            "generator": {"MIRAGE_GENERATOR_WARMUP_TYPING__SCALE": "0.05"},
            "scheduler": {
                # No automatic scans: rounds start through the api's tick.
                "MIRAGE_SCHEDULER_CRON": "",
                "MIRAGE_SCHEDULER_TIMER_INTERVAL_S": "0.2",
                "MIRAGE_SCHEDULER_LEADER_RETRY_S": "1",
                "MIRAGE_SCHEDULER_TURN_TIMEOUT_S": str(TURN_TIMEOUT_S),
                "MIRAGE_SCHEDULER_TIMING__SCALE": "0.02",
            },
        },
    ) as mirage:
        yield mirage


@dataclass
class Operator:
    """A tenant with two connected numbers and an api client holding its key."""

    tenant_id: uuid.UUID
    a: Instance
    b: Instance
    api: httpx.AsyncClient


@pytest.fixture
async def operator(warm_stack: MirageStack, db_pool: Pool) -> AsyncIterator[Operator]:
    """A tenant of its own with two connected numbers, and its api client."""
    slug = f"warm-{uuid.uuid4().hex[:10]}"
    tenant = await tenants.create_tenant(db_pool, slug, slug)
    key = await tenants.issue_key(db_pool, tenant.id)
    a = await warm_stack.create_instance(tenant_id=tenant.id)
    b = await warm_stack.create_instance(tenant_id=tenant.id)
    url = f"http://127.0.0.1:{warm_stack.ports['api']}"
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key.secret}"}, timeout=30
    ) as client:
        yield Operator(tenant_id=tenant.id, a=a, b=b, api=client)


@pytest.fixture
async def sim(warm_stack: MirageStack) -> AsyncIterator[SimulatorClient]:
    """The simulator's control API; delivery faults are cleared afterwards."""
    client = SimulatorClient(warm_stack.simulator_url)
    yield client
    await client.faults({"deliveries": None})
    await client.close()


async def create_pair(operator: Operator, **extra: Any) -> dict[str, Any]:
    """A pair of the operator's two numbers, open all week, through the api."""
    body = {
        "instance_a": operator.a.name,
        "instance_b": operator.b.name,
        "time_zone": "America/Sao_Paulo",
        "windows": ALWAYS,
        "min_gap_minutes": 0,
        "turns": {"min": 3, "max": 3},
        "profile": "normal",
        **extra,
    }
    response = await operator.api.post("/warmup/pairs", json=body)
    assert response.status_code == 201, response.text
    pair: dict[str, Any] = response.json()
    return pair


async def round_in_state(
    operator: Operator, pair_id: str, states: set[str], timeout: float
) -> dict[str, Any]:
    """The pair's latest round, once it is in one of `states`."""

    async def latest() -> dict[str, Any] | None:
        response = await operator.api.get(f"/warmup/pairs/{pair_id}/rounds")
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items[0] if items and items[0]["state"] in states else None

    found: dict[str, Any] = await wait_until(
        latest, timeout=timeout, interval=0.3, message=f"a round {states}"
    )
    return found


async def read_all(stack: MirageStack, topic: str, timeout_s: float = 10) -> list[Any]:
    """Every event of a logical topic of this stack, read from the beginning."""
    consumer = AIOKafkaConsumer(
        f"{stack.topic_prefix}{topic}",
        bootstrap_servers=stack.infra.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            if not batch and records:
                break
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()
    return [parse_event(record.value) for record in records]


async def test_a_round_goes_turn_by_turn_between_two_numbers_and_nobody_replies(
    warm_stack: MirageStack, operator: Operator, sim: SimulatorClient, db_pool: Pool
) -> None:
    pair = await create_pair(operator)
    assert pair["status"] == "active"
    assert pair["instance_a"]["number"] == operator.a.number
    assert pair["instance_b"]["number"] == operator.b.number
    assert operator.a.number != operator.b.number

    started = time.monotonic()
    tick = await operator.api.post(f"/warmup/pairs/{pair['id']}/tick")
    assert tick.status_code == 200, tick.text
    assert tick.json()["decision"] == "started"
    round_id = tick.json()["round_id"]
    done = await round_in_state(
        operator, pair["id"], {"completed", "deaf", "timed_out", "aborted"}, timeout=120
    )
    elapsed = time.monotonic() - started
    assert done["id"] == round_id
    assert done["state"] == "completed", done
    assert done["turns_completed"] == 3
    assert done["trigger"] == "manual"

    turns = done["turns"]
    assert [turn["from"] for turn in turns] == [operator.a.name, operator.b.name, operator.a.name]
    assert [turn["to"] for turn in turns] == [operator.b.name, operator.a.name, operator.b.name]
    for turn in turns:
        assert turn["status"] == "delivered"
        assert turn["text"]
        assert turn["sent_at"] is not None
        assert turn["delivered_at"] is not None
        assert turn["sent_at"] <= turn["delivered_at"]
        assert all(message["delivered_at"] is not None for message in turn["messages"])
    # Turn n+1 was asked for, and sent, only after turn n had arrived at the other number.
    for before, after in itertools.pairwise(turns):
        assert after["requested_at"] >= before["delivered_at"]
        assert after["sent_at"] > before["delivered_at"]

    # Every message went through the simulator to the peer number, and arrived there.
    messages = [message["text"] for turn in turns for message in turn["messages"]]
    assert done["messages_delivered"] == len(messages)
    relayed = await sim.http.get("/_sim/relayed")
    ours = [row for row in relayed.json() if {row["from"], row["to"]} == {operator.a.name, operator.b.name}]
    assert sorted(row["text"] for row in ours) == sorted(messages)
    assert {row["outcome"] for row in ours} == {"delivered"}

    # The guard saw each arrival as one of the tenant's own messages, and the reply path sent nothing.
    async def all_decided() -> list[Any] | None:
        rows = await db_pool.fetch(
            "SELECT d.decision, d.reason FROM messages m JOIN guard_decisions d ON d.message_id = m.id"
            " WHERE m.tenant_id = $1 AND m.direction = 'inbound'",
            operator.tenant_id,
        )
        return rows if len(rows) >= len(messages) else None

    decisions = await wait_until(all_decided, timeout=30, message="the guard's decision on every arrival")
    assert {row["decision"] for row in decisions} == {"ignored"}
    assert {row["reason"] for row in decisions} <= {"own_message", "own_number"}
    purposes = await db_pool.fetch(
        "SELECT purpose, count(*) AS n FROM sends WHERE tenant_id = $1 GROUP BY purpose", operator.tenant_id
    )
    assert {row["purpose"]: row["n"] for row in purposes} == {"warmup": len(messages)}
    sent_between = await sim.sent(instance=operator.a.name) + await sim.sent(instance=operator.b.name)
    assert sorted(row["text"] for row in sent_between) == sorted(messages)

    completed = [
        event
        for event in await read_all(warm_stack, "round.completed")
        if isinstance(event, RoundCompleted) and str(event.data.round_id) == round_id
    ]
    assert len(completed) == 1
    assert completed[0].data.outcome == "completed"
    assert completed[0].data.messages_delivered == len(messages)
    assert 0 < completed[0].data.duration_ms <= elapsed * 1000

    again = await operator.api.post(f"/warmup/pairs/{pair['id']}/tick")
    assert again.json()["decision"] in {"started", "skipped"}  # no gap configured: another round may go


async def test_a_direction_the_network_drops_ends_the_round_deaf_with_one_alert(
    warm_stack: MirageStack, operator: Operator, sim: SimulatorClient, db_pool: Pool
) -> None:
    pair = await create_pair(operator)
    await sim.faults({"deliveries": {"drop_from": operator.a.name, "to": operator.b.name}})
    tick = await operator.api.post(f"/warmup/pairs/{pair['id']}/tick")
    assert tick.json()["decision"] == "started", tick.text
    # The first turn goes from A (the pair alternates, starting with A) and never arrives at B.
    deaf = await round_in_state(
        operator, pair["id"], {"completed", "deaf", "timed_out", "aborted"}, timeout=TURN_TIMEOUT_S + 60
    )
    assert deaf["state"] == "deaf", deaf
    assert deaf["reason"] == f"deaf: {operator.a.name} -> {operator.b.name}"
    [first, *_] = deaf["turns"]
    assert first["from"] == operator.a.name
    assert first["sent_at"] is not None
    assert first["delivered_at"] is None
    assert all(turn["status"] != "delivered" for turn in deaf["turns"])

    async def stored_alerts() -> list[Any] | None:
        rows = await db_pool.fetch(
            "SELECT title, occurrences, context FROM admin_alerts"
            " WHERE tenant_id = $1 AND cause = 'warmup_deaf'",
            operator.tenant_id,
        )
        return rows or None

    [alert] = await wait_until(stored_alerts, timeout=30, message="the deaf alert stored by the api")
    assert alert["occurrences"] == 1
    assert operator.a.name in alert["title"]
    assert operator.b.name in alert["title"]
    assert alert["context"]["direction"] == f"{operator.a.name} -> {operator.b.name}"
    events = [
        event
        for event in await read_all(warm_stack, "admin.alert")
        if event.tenant_id == operator.tenant_id and event.data.cause == "warmup_deaf"
    ]
    assert len(events) == 1

    # The pair rests for a day: a tick now is skipped as quarantined.
    shown = (await operator.api.get(f"/warmup/pairs/{pair['id']}")).json()
    assert shown["status"] == "quarantined"
    again = await operator.api.post(f"/warmup/pairs/{pair['id']}/tick")
    assert (again.json()["decision"], again.json()["reason"]) == ("skipped", "quarantined")
    relayed = await sim.http.get("/_sim/relayed", params={"from": operator.a.name, "to": operator.b.name})
    assert {row["outcome"] for row in relayed.json()} == {"dropped"}
