"""`GET /events` on real servers: two api replicas both push a status change within a second."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from api.app import create_app
from api.settings import LiveSettings
from testkit import wait_until
from testkit.asgi import served

from .conftest import Stack, TenantKey, instance_name
from .sse_reader import SseReader

pytestmark = pytest.mark.integration


def _connected_for(instance_id: str) -> Callable[[SseReader], bool]:
    def seen(reader: SseReader) -> bool:
        return any(
            event.json()["instance_id"] == instance_id and event.json()["current"] == "connected"
            for event in reader.named("instance.status_changed")
        )

    return seen


async def test_two_replicas_both_stream_a_status_change_within_a_second(
    stack: Stack, tenant: TenantKey
) -> None:
    settings = stack.api_settings(live=LiveSettings(ping_interval_s=0.5))
    first, second = create_app(settings), create_app(settings)
    async with (
        served(first) as first_url,
        served(second) as second_url,
        httpx.AsyncClient(timeout=30) as client,
    ):
        await wait_until(
            lambda: first.state.live_listener.ready.is_set() and second.state.live_listener.ready.is_set(),
            timeout=20,
            message="both live listeners assigned",
        )
        name = instance_name()
        created = await client.post(f"{first_url}/instances", json={"name": name}, headers=tenant.headers)
        assert created.status_code == 201, created.text
        instance_id = created.json()["id"]
        readers = [SseReader(client, f"{url}/events", tenant.headers) for url in (first_url, second_url)]
        for reader in readers:
            reader.start()
        await wait_until(
            lambda: all(reader.named("snapshot") for reader in readers), timeout=10, message="snapshots"
        )
        for reader in readers:
            assert reader.status == 200
            assert reader.response_headers is not None
            assert reader.response_headers["content-type"].startswith("text/event-stream")
            assert "x-ratelimit-remaining" in reader.response_headers
            snapshot = reader.named("snapshot")[0].json()
            assert instance_id in [item["id"] for item in snapshot["instances"]]

        await stack.scan(name)
        scanned_at = time.monotonic()
        seen = _connected_for(instance_id)
        await wait_until(lambda: all(seen(reader) for reader in readers), timeout=10, message="both streams")
        for reader in readers:
            event = next(
                e
                for e in reader.named("instance.status_changed")
                if e.json()["instance_id"] == instance_id and e.json()["current"] == "connected"
            )
            assert event.received_at - scanned_at < 1.0
            assert event.id is not None
            assert event.id.split("-", 1)[1] == event.json()["event_id"]
            assert event.json()["previous"] == "open"
        # Heartbeats keep idle streams alive.
        await wait_until(lambda: all(reader.comments for reader in readers), timeout=5, message="pings")
        for reader in readers:
            await reader.stop()
        # A closed stream is forgotten by the hub.
        await wait_until(
            lambda: (
                first.state.context.hub.streams(tenant.id) == 0
                and second.state.context.hub.streams(tenant.id) == 0
            ),
            timeout=5,
            message="streams released",
        )


async def test_streams_are_tenant_scoped_and_resume_with_last_event_id(
    stack: Stack, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    app = create_app(stack.api_settings())
    async with served(app) as url, httpx.AsyncClient(timeout=30) as client:
        await wait_until(app.state.live_listener.ready.is_set, timeout=20, message="listener")
        mine = SseReader(client, f"{url}/events", tenant.headers)
        theirs = SseReader(client, f"{url}/events", other_tenant.headers)
        mine.start()
        theirs.start()
        await wait_until(
            lambda: mine.named("snapshot") and theirs.named("snapshot"), timeout=10, message="snapshots"
        )
        name = instance_name()
        created = await client.post(f"{url}/instances", json={"name": name}, headers=tenant.headers)
        instance_id = created.json()["id"]
        seen = _connected_for(instance_id)
        await stack.scan(name)
        await wait_until(lambda: seen(mine), timeout=10, message="my event")
        last = mine.named("instance.status_changed")[-1]
        await mine.stop()
        assert theirs.named("instance.status_changed") == []
        assert theirs.named("snapshot")[0].json() == {"instances": []}
        await theirs.stop()

        # Reconnecting from the last event: the snapshot holds only what changed after it.
        resumed = SseReader(client, f"{url}/events", {**tenant.headers, "Last-Event-ID": last.id or ""})
        resumed.start()
        await wait_until(lambda: resumed.named("snapshot"), timeout=10, message="resumed snapshot")
        assert resumed.named("snapshot")[0].json()["instances"] == []
        await resumed.stop()
        # Without it, the snapshot holds every live instance.
        fresh = SseReader(client, f"{url}/events", tenant.headers)
        fresh.start()
        await wait_until(lambda: fresh.named("snapshot"), timeout=10, message="fresh snapshot")
        [listed] = fresh.named("snapshot")[0].json()["instances"]
        assert (listed["id"], listed["state"]) == (instance_id, "connected")
        await fresh.stop()


async def test_events_need_a_key(stack: Stack) -> None:
    app = create_app(stack.api_settings())
    async with served(app) as url, httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{url}/events")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        wrong = await client.get(f"{url}/events", headers={"X-API-Key": f"mrg_live_{uuid.uuid4().hex}"})
        assert wrong.status_code == 401
