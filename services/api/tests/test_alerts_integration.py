"""Admin alerts: intake through the real consumer, cool-down aggregation, lifecycle alerts, delivery."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from contracts import AdminAlert, AdminAlertData, AlertCause, AlertSeverity, Topic, partition_key, utc_now
from database import Pool
from testkit import wait_until
from testkit.asgi import served

from .conftest import Api, Stack, TenantKey, connected_instance

pytestmark = pytest.mark.integration


@pytest.fixture
async def producer(stack: Stack) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(bootstrap_servers=stack.kafka.bootstrap_servers)
    await client.start()
    yield client
    await client.stop()


def alert(tenant: TenantKey, key: str, **changes: Any) -> AdminAlert:
    data: dict[str, Any] = {
        "cause": AlertCause.SEND_EXHAUSTED,
        "severity": AlertSeverity.WARNING,
        "alert_key": key,
        "title": "Sends failing",
        "detail": "3 attempts",
        "context": {"instance_name": "loja"},
    }
    data.update(changes.pop("data", {}))
    return AdminAlert(
        tenant_id=tenant.id, correlation_id=uuid.uuid4(), data=AdminAlertData(**data), **changes
    )


async def publish(producer: AIOKafkaProducer, stack: Stack, *events: AdminAlert) -> None:
    for event in events:
        await producer.send_and_wait(
            stack.kafka.topic(Topic.ADMIN_ALERT), event.to_json_bytes(), key=partition_key(event)
        )


async def rows(pool: Pool, tenant: TenantKey) -> list[Any]:
    return await pool.fetch(
        "SELECT * FROM admin_alerts WHERE tenant_id = $1 ORDER BY first_seen_at", tenant.id
    )


async def test_a_storm_is_one_row_counting_up(
    shared_api: Api, stack: Stack, tenant: TenantKey, producer: AIOKafkaProducer
) -> None:
    storm = [alert(tenant, "send_exhausted:loja") for _ in range(30)]
    # A redelivered event (same id) is not counted twice.
    await publish(producer, stack, *storm, storm[0])
    await wait_until(
        lambda: _occurrences(shared_api.pool, tenant, "send_exhausted:loja", 30),
        timeout=20,
        message="30 counted",
    )
    [row] = await rows(shared_api.pool, tenant)
    assert row["occurrences"] == 30
    assert row["delivery_state"] == "not_configured"

    listed = await shared_api.client.get(
        "/alerts", params={"cause": "send_exhausted"}, headers=tenant.headers
    )
    [item] = listed.json()["items"]
    assert item["occurrences"] == 30
    assert item["context"]["instance_name"] == "loja"
    acked = await shared_api.client.post(f"/alerts/{item['id']}/acknowledge", headers=tenant.headers)
    assert acked.json()["acknowledged_at"] is not None
    assert (
        await shared_api.client.get("/alerts", params={"acknowledged": "false"}, headers=tenant.headers)
    ).json()["items"] == []

    # After an acknowledgement the next occurrence is a new alert; so is one past the cool-down.
    later = alert(tenant, "send_exhausted:loja", occurred_at=utc_now() + timedelta(seconds=2))
    much_later = alert(tenant, "send_exhausted:loja", occurred_at=utc_now() + timedelta(hours=1))
    other_key = alert(tenant, "send_exhausted:outra", data={"severity": AlertSeverity.CRITICAL})
    await publish(producer, stack, later, much_later, other_key)
    await wait_until(lambda: _count(shared_api.pool, tenant, 4), timeout=20, message="4 rows")
    found = await rows(shared_api.pool, tenant)
    assert sorted(row["occurrences"] for row in found) == [1, 1, 1, 30]
    critical = await shared_api.client.get("/alerts", params={"severity": "critical"}, headers=tenant.headers)
    assert [item["alert_key"] for item in critical.json()["items"]] == ["send_exhausted:outra"]


async def test_resolutions_count_against_the_open_alert_until_all_its_occurrences_are_resolved(
    shared_api: Api, stack: Stack, tenant: TenantKey, producer: AIOKafkaProducer
) -> None:
    key = "send_ambiguous:loja"
    ambiguous = {"cause": AlertCause.SEND_AMBIGUOUS}
    resolved = {"cause": AlertCause.SEND_AMBIGUOUS, "resolved": True, "severity": AlertSeverity.INFO}
    first_resolution = alert(tenant, key, data=resolved)
    await publish(producer, stack, alert(tenant, key, data=ambiguous), alert(tenant, key, data=ambiguous))
    await wait_until(lambda: _occurrences(shared_api.pool, tenant, key, 2), timeout=20, message="2 counted")
    # One of the two ambiguous sends turned out sent; a redelivery of that resolution counts once.
    await publish(producer, stack, first_resolution, first_resolution)
    await wait_until(
        lambda: shared_api.pool.fetchval(
            "SELECT resolved_occurrences FROM admin_alerts WHERE tenant_id = $1 AND alert_key = $2",
            tenant.id,
            key,
        ),
        timeout=20,
        message="one resolution",
    )
    [half] = (await shared_api.client.get("/alerts", headers=tenant.headers)).json()["items"]
    assert (half["occurrences"], half["resolved_occurrences"], half["resolved_at"]) == (2, 1, None)
    await publish(producer, stack, alert(tenant, key, data=resolved))
    await wait_until(
        lambda: shared_api.pool.fetchval(
            "SELECT resolved_at FROM admin_alerts WHERE tenant_id = $1 AND alert_key = $2", tenant.id, key
        ),
        timeout=20,
        message="the alert resolved",
    )
    [done] = (await shared_api.client.get("/alerts", headers=tenant.headers)).json()["items"]
    assert done["resolved_occurrences"] == 2
    assert done["resolved_at"] is not None
    assert len(await rows(shared_api.pool, tenant)) == 1, "a resolution is not an occurrence"


async def _occurrences(pool: Pool, tenant: TenantKey, key: str, expected: int) -> bool:
    value = await pool.fetchval(
        "SELECT sum(occurrences) FROM admin_alerts WHERE tenant_id = $1 AND alert_key = $2", tenant.id, key
    )
    return bool(value == expected)


async def _count(pool: Pool, tenant: TenantKey, expected: int) -> bool:
    found = await pool.fetchval("SELECT count(*) FROM admin_alerts WHERE tenant_id = $1", tenant.id)
    return bool(found == expected)


@pytest.mark.parametrize(
    ("reason", "cause", "severity", "stopped"),
    [(401, "instance_logged_out", "warning", False), (403, "instance_likely_banned", "critical", True)],
)
async def test_a_lost_or_banned_number_raises_an_alert(
    shared_api: Api, stack: Stack, tenant: TenantKey, reason: int, cause: str, severity: str, stopped: bool
) -> None:
    instance = await connected_instance(shared_api, stack, tenant)
    await stack.disconnect(instance["name"], reason)

    async def raised() -> list[Any]:
        response = await shared_api.client.get("/alerts", params={"cause": cause}, headers=tenant.headers)
        items: list[Any] = response.json()["items"]
        return items

    [item] = await wait_until(raised, timeout=20, message=f"{cause} alert")
    assert item["instance_id"] == instance["id"]
    assert item["severity"] == severity
    assert item["alert_key"] == f"{cause}:{instance['id']}"
    assert instance["name"] in item["title"]
    state = (await shared_api.client.get(f"/instances/{instance['id']}", headers=tenant.headers)).json()
    assert state["state"] == "disconnected"
    assert state["sending_stopped"] is stopped


class Receiver:
    """An alert webhook endpoint that records what it gets."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.app = Starlette(routes=[Route("/alerts", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> JSONResponse:
        self.bodies.append(await request.json())
        return JSONResponse({"ok": True})


async def test_alerts_are_delivered_to_the_webhook_at_most_once_per_cool_down(
    shared_api: Api, stack: Stack, tenant: TenantKey, producer: AIOKafkaProducer
) -> None:
    receiver = Receiver()
    async with served(receiver.app, lifespan="off") as url:
        updated = await shared_api.client.patch(
            "/tenant",
            json={"alert_webhook_url": f"{url}/alerts", "alert_cooldown_s": 600},
            headers=tenant.headers,
        )
        assert updated.status_code == 200
        first = alert(tenant, "quota_exhausted:t", data={"cause": AlertCause.QUOTA_EXHAUSTED})
        await publish(producer, stack, first)
        await wait_until(lambda: len(receiver.bodies) == 1, timeout=20, message="first delivery")
        storm = [
            alert(tenant, "quota_exhausted:t", data={"cause": AlertCause.QUOTA_EXHAUSTED}) for _ in range(5)
        ]
        await publish(producer, stack, *storm)
        await wait_until(
            lambda: _occurrences(shared_api.pool, tenant, "quota_exhausted:t", 6), timeout=20, message="storm"
        )
        # Acknowledged, then it happens again inside the cool-down: a new row, not delivered again.
        [row] = await rows(shared_api.pool, tenant)
        await shared_api.client.post(f"/alerts/{row['id']}/acknowledge", headers=tenant.headers)
        await publish(
            producer, stack, alert(tenant, "quota_exhausted:t", data={"cause": AlertCause.QUOTA_EXHAUSTED})
        )
        await wait_until(lambda: _count(shared_api.pool, tenant, 2), timeout=20, message="second row")

        async def settled() -> bool:
            states = {r["delivery_state"] for r in await rows(shared_api.pool, tenant)}
            return states == {"delivered", "suppressed"}

        await wait_until(settled, timeout=20, message="delivery decided")
        assert len(receiver.bodies) == 1
        body = receiver.bodies[0]
        assert body["type"] == "mirage.admin_alert"
        assert body["alert"]["alert_key"] == "quota_exhausted:t"
        assert body["alert"]["cause"] == "quota_exhausted"
