"""The live hub: tenant scoping, overflow, SSE ids (unit)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from api.live.hub import LiveEvent, LiveHub, event_id, live_event, moment_of
from api.metrics import ApiMetrics
from contracts import InstanceState, InstanceStatusChanged, InstanceStatusChangedData


def event(tenant: uuid.UUID, n: int = 0) -> LiveEvent:
    return LiveEvent(tenant_id=tenant, id=f"{n}-x", name="instance.status_changed", data={"n": n})


def test_events_reach_only_their_tenants_streams() -> None:
    hub = LiveHub(queue_size=10, metrics=ApiMetrics())
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    a, b, c = hub.subscribe(mine), hub.subscribe(mine), hub.subscribe(theirs)
    assert hub.publish(event(mine)) == 2
    assert (a.queue.qsize(), b.queue.qsize(), c.queue.qsize()) == (1, 1, 0)
    hub.unsubscribe(a)
    hub.unsubscribe(a)  # idempotent
    assert hub.streams(mine) == 1
    assert hub.publish(event(mine)) == 1


def test_a_stream_too_far_behind_is_cut_off() -> None:
    hub = LiveHub(queue_size=2, metrics=ApiMetrics())
    tenant = uuid.uuid4()
    slow = hub.subscribe(tenant)
    for n in range(3):
        hub.publish(event(tenant, n))
    assert slow.overflowed
    assert hub.streams(tenant) == 0
    assert slow.queue.qsize() == 2


def test_close_all_ends_every_stream() -> None:
    hub = LiveHub(queue_size=5, metrics=ApiMetrics())
    stream = hub.subscribe(uuid.uuid4())
    hub.close_all()
    assert stream.queue.get_nowait() is None


def test_sse_ids_carry_the_moment_for_last_event_id() -> None:
    moment = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)
    value = event_id(moment, uuid.UUID(int=1))
    assert value == f"{int(moment.timestamp() * 1_000_000)}-{uuid.UUID(int=1)}"
    assert moment_of(value) == moment
    for junk in (None, "", "abc", "-1-x", "9" * 30):
        assert moment_of(junk) is None


def test_a_status_change_becomes_a_stream_event() -> None:
    change = InstanceStatusChanged(
        tenant_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        data=InstanceStatusChangedData(
            instance_id=uuid.uuid4(),
            instance_name="loja",
            previous=InstanceState.OPEN,
            current=InstanceState.CONNECTED,
            reason="paired",
        ),
    )
    pushed = live_event(change)
    assert pushed.tenant_id == change.tenant_id
    assert pushed.id.endswith(str(change.event_id))
    assert (pushed.data["previous"], pushed.data["current"], pushed.data["reason"]) == (
        "open",
        "connected",
        "paired",
    )
