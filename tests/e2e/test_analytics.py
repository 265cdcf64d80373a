"""Analytics and admin alerts on WhatsApp, end to end: the pipeline, the api and the analytics
service as processes against the real stack and the simulator.

- the stats count what the run really did (sends, inbound messages, failures, as the
  pipeline's own tables record them), and so does `GET /stats/overview`;
- a replayed event is not counted twice; `mirage-analytics rebuild` (while the service runs)
  yields identical tables;
- an alert reaches the admin's WhatsApp number once per cool-down, through another of the
  tenant's connected numbers.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from api.tenants import service as tenants
from database import Pool, PostgresSettings, create_pool
from testkit import Infra, wait_until
from testkit.stack import Instance, MirageStack, SimulatorClient

from .conftest import running_stack
from .test_reply_pipeline import read_all

pytestmark = pytest.mark.e2e

STAT_TABLES = (
    "tenant_hourly",
    "number_hourly",
    "number_failures_hourly",
    "persona_hourly",
    "inbound",
    "replies",
)


@pytest.fixture(scope="module")
async def analytics_stack(infra: Infra, database_dsn: str) -> AsyncIterator[MirageStack]:
    """The reply pipeline plus the api and the analytics service."""
    async with running_stack(
        infra,
        database_dsn,
        debounce_ms=300,
        extra_services=("api", "analytics"),
        overrides={
            # The test refreshes the views itself (`POST /refresh`).
            "analytics": {"MIRAGE_ANALYTICS_REFRESH__INTERVAL_S": "3600"},
            "api": {"MIRAGE_API_ALERTS__SWEEP_INTERVAL_S": "0.5"},
        },
    ) as mirage:
        yield mirage


@pytest.fixture
async def sim(analytics_stack: MirageStack) -> AsyncIterator[SimulatorClient]:
    """The simulator's control API, with no faults left over."""
    client = SimulatorClient(analytics_stack.simulator_url)
    await client.faults({"sendText": {"fail_next": 0, "latency_ms": 0}})
    yield client
    await client.faults({"sendText": {"fail_next": 0, "latency_ms": 0}})
    await client.close()


def _url(stack: MirageStack, service: str) -> str:
    return f"http://127.0.0.1:{stack.ports[service]}"


def _phone() -> str:
    return f"55119{uuid.uuid4().int % 10**8:08d}"


async def _truth(pool: Pool, tenant: uuid.UUID) -> tuple[int, int, int]:
    """(sent, received, failed) as the pipeline's own tables have them."""
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM sends WHERE tenant_id = $1 AND status = 'sent') AS sent,"
        " (SELECT count(*) FROM messages WHERE tenant_id = $1 AND direction = 'inbound'"
        "  AND origin = 'contact') AS received,"
        " (SELECT count(*) FROM sends WHERE tenant_id = $1 AND status IN ('failed', 'refused', 'ambiguous'))"
        "  AS failed",
        tenant,
    )
    assert row is not None
    return int(row["sent"]), int(row["received"]), int(row["failed"])


async def _counted(pool: Pool, tenant: uuid.UUID) -> tuple[int, int, int]:
    row = await pool.fetchrow(
        "SELECT coalesce(sum(sent), 0) AS s, coalesce(sum(received), 0) AS r, coalesce(sum(failed), 0) AS f"
        " FROM analytics.tenant_hourly WHERE tenant_id = $1",
        tenant,
    )
    assert row is not None
    return int(row["s"]), int(row["r"]), int(row["f"])


async def _settled(pool: Pool, tenant: uuid.UUID, sends: int) -> bool:
    rows = await pool.fetch("SELECT status FROM sends WHERE tenant_id = $1", tenant)
    return len(rows) >= sends and all(row["status"] != "sending" for row in rows)


async def _snapshot(pool: Pool, tenant: uuid.UUID) -> dict[str, list[tuple[Any, ...]]]:
    snapshot = {}
    for table in STAT_TABLES:
        rows = await pool.fetch(f"SELECT * FROM analytics.{table} WHERE tenant_id = $1", tenant)
        snapshot[table] = sorted((tuple(row.values()) for row in rows), key=repr)
    sends = await pool.fetch("SELECT * FROM analytics.sends WHERE tenant_id = $1", tenant)
    snapshot["sends"] = sorted((tuple(row.values()) for row in sends), key=repr)
    return snapshot


@pytest.fixture(scope="module")
async def pool(database_dsn: str) -> AsyncIterator[Pool]:
    """A pool on the stack's database."""
    opened = await create_pool(
        PostgresSettings(dsn=SecretStr(database_dsn)), application_name="e2e-analytics"
    )
    yield opened
    await opened.close()


async def test_stats_count_what_the_run_did_replays_count_once_and_a_rebuild_is_identical(
    analytics_stack: MirageStack, sim: SimulatorClient, pool: Pool
) -> None:
    stack = analytics_stack
    instance: Instance = await stack.create_instance()
    people = [_phone() for _ in range(6)]
    # Two sends fail for good (a 400 is not retried); the others are answered.
    await sim.faults({"sendText": {"fail_next": 2, "status": 400}})
    for index, person in enumerate(people[:2], start=1):
        await sim.inbound(instance.name, person, "oi, vocês abrem amanhã?")
        await wait_until(
            partial(_settled, pool, instance.tenant_id, index), timeout=45, message="a send settled"
        )
    for person in people[2:]:
        await sim.inbound(instance.name, person, "qual o horário de sábado?")
    await wait_until(
        lambda: _settled(pool, instance.tenant_id, len(people)), timeout=60, message="sends settled"
    )
    truth = await _truth(pool, instance.tenant_id)
    assert truth[1:] == (6, 2)
    assert truth[0] >= 4  # a reply may go out in several parts

    async def counted() -> bool:
        return await _counted(pool, instance.tenant_id) == truth

    await wait_until(counted, timeout=60, message=f"analytics counts {truth}")

    async with httpx.AsyncClient(base_url=_url(stack, "analytics"), timeout=60) as analytics:
        refreshed = await analytics.post("/refresh")
        assert refreshed.status_code == 200, refreshed.text
        issued = await tenants.issue_key(pool, instance.tenant_id)
        async with httpx.AsyncClient(
            base_url=_url(stack, "api"), timeout=30, headers={"Authorization": f"Bearer {issued.secret}"}
        ) as api:
            overview = await api.get("/stats/overview")
            assert overview.status_code == 200, overview.text
            totals = overview.json()["totals"]
            assert (totals["sent"], totals["received"], totals["failed"]) == truth
            assert totals["responses"] == 4  # the four people answered
            assert totals["p90_response_time_ms"] is not None
            numbers = (await api.get("/stats/numbers")).json()["numbers"]
            assert [number["totals"]["failures_by_code"] for number in numbers] == [{"http_400": 2}]

        # A replayed topic is not counted twice.
        records = await read_all(stack, f"{stack.topic_prefix}message.sent")
        mine = [r for r in records if str(instance.tenant_id) in (r.value or b"").decode()]
        assert len(mine) == truth[0]
        duplicates_before = _metric(
            await analytics.get("/metrics"), 'mirage_analytics_events_total{outcome="duplicate"}'
        )
        producer = AIOKafkaProducer(bootstrap_servers=stack.infra.kafka_bootstrap)
        await producer.start()
        try:
            for record in mine:
                await producer.send_and_wait(record.topic, record.value, key=record.key)
        finally:
            await producer.stop()

        async def replay_seen() -> bool:
            metrics = await analytics.get("/metrics")
            seen = _metric(metrics, 'mirage_analytics_events_total{outcome="duplicate"}')
            return seen >= duplicates_before + len(mine)

        await wait_until(replay_seen, timeout=30, message="the replayed records consumed")
        assert await _counted(pool, instance.tenant_id) == truth

    # A rebuild from Kafka, while the service runs, yields the same tables.
    before = await _snapshot(pool, instance.tenant_id)
    rebuild = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "analytics.main", "rebuild"],
        env={**os.environ, **stack.service_env("analytics")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert rebuild.returncode == 0, rebuild.stderr[-3000:]
    assert "rebuilt analytics" in rebuild.stdout
    assert await _snapshot(pool, instance.tenant_id) == before


def _metric(response: httpx.Response, sample: str) -> float:
    for line in response.text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_an_alert_reaches_the_admins_whatsapp_once_per_cool_down_through_another_number(
    analytics_stack: MirageStack, sim: SimulatorClient, pool: Pool
) -> None:
    stack = analytics_stack
    failing = await stack.create_instance()
    other = await stack.create_instance(tenant_id=failing.tenant_id)
    admin = _phone()
    await pool.execute(
        "UPDATE tenants SET admin_phone = $2, alert_cooldown_s = 3600 WHERE id = $1", failing.tenant_id, admin
    )

    async def admin_messages() -> list[dict[str, Any]]:
        return await sim.sent(number=admin)

    # A send rejected by Evolution (400: never retried) raises `send_rejected`.
    await sim.faults({"sendText": {"fail_next": 1, "status": 400}})
    await sim.inbound(failing.name, _phone(), "oi")
    [message] = await wait_until(admin_messages, timeout=60, message="the alert on the admin's WhatsApp")
    assert message["instance"] == other.name
    assert "Mirage — alerta" in message["text"]
    assert "recusado" in message["text"]  # the sender's pt-BR title

    # The same failure again within the cool-down: the alert counts 2, the admin hears once.
    await sim.faults({"sendText": {"fail_next": 1, "status": 400}})
    await sim.inbound(failing.name, _phone(), "alô?")

    async def twice() -> bool:
        occurrences = await pool.fetchval(
            "SELECT sum(occurrences) FROM admin_alerts WHERE tenant_id = $1 AND cause = 'send_rejected'",
            failing.tenant_id,
        )
        return bool(occurrences == 2)

    await wait_until(twice, timeout=60, message="the second occurrence counted")
    rows = await pool.fetch(
        "SELECT whatsapp_state, whatsapp_send_id FROM admin_alerts WHERE tenant_id = $1", failing.tenant_id
    )
    assert [row["whatsapp_state"] for row in rows] == ["staged"]
    await wait_until(
        lambda: _settled(pool, failing.tenant_id, 3), timeout=45, message="every send of the tenant settled"
    )
    purposes = await pool.fetch(
        "SELECT purpose, status FROM sends WHERE tenant_id = $1 AND purpose = 'admin_alert'",
        failing.tenant_id,
    )
    assert [(row["purpose"], row["status"]) for row in purposes] == [("admin_alert", "sent")]
    assert len(await admin_messages()) == 1
