"""Fans status changes out to the open `/events` streams of one process, per tenant."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from api.metrics import ApiMetrics
from contracts import InstanceStatusChanged


@dataclass(frozen=True)
class LiveEvent:
    """One event to push to a tenant's streams."""

    tenant_id: uuid.UUID
    id: str
    name: str
    data: dict[str, Any]


def event_id(occurred_at: datetime, event_uuid: uuid.UUID) -> str:
    """An SSE id that sorts by time and survives a reconnect (`Last-Event-ID`): `<µs since epoch>-<uuid>`."""
    micros = int(occurred_at.timestamp() * 1_000_000)
    return f"{micros}-{event_uuid}"


def moment_of(last_event_id: str | None) -> datetime | None:
    """When the event with this SSE id happened (None when the id is not one of ours)."""
    if not last_event_id:
        return None
    head, _, _ = last_event_id.partition("-")
    if not head.isdigit() or len(head) > 17:
        return None
    try:
        return datetime.fromtimestamp(int(head) / 1_000_000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def live_event(event: InstanceStatusChanged) -> LiveEvent:
    """The stream form of an `instance.status_changed` event."""
    data = event.data
    return LiveEvent(
        tenant_id=event.tenant_id,
        id=event_id(event.occurred_at, event.event_id),
        name="instance.status_changed",
        data={
            "event_id": str(event.event_id),
            "occurred_at": event.occurred_at.isoformat(),
            "instance_id": str(data.instance_id),
            "instance_name": data.instance_name,
            "previous": data.previous.value if data.previous else None,
            "current": data.current.value,
            "reason": data.reason,
            "status_code": data.status_code,
            "sending_stopped": data.sending_stopped,
        },
    )


@dataclass(eq=False)
class Subscription:
    """One open stream: its queue of events (None ends it)."""

    tenant_id: uuid.UUID
    queue: asyncio.Queue[LiveEvent | None]
    # Set when the stream fell too far behind: it is ended and the client reconnects.
    overflowed: bool = field(default=False)


class LiveHub:
    """The open streams of this process, by tenant."""

    def __init__(self, *, queue_size: int, metrics: ApiMetrics) -> None:
        self.queue_size = queue_size
        self.metrics = metrics
        self._by_tenant: dict[uuid.UUID, set[Subscription]] = defaultdict(set)

    def subscribe(self, tenant_id: uuid.UUID) -> Subscription:
        """Open a stream for the tenant."""
        subscription = Subscription(tenant_id=tenant_id, queue=asyncio.Queue(maxsize=self.queue_size))
        self._by_tenant[tenant_id].add(subscription)
        self.metrics.live_clients.inc()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Close a stream (idempotent)."""
        streams = self._by_tenant.get(subscription.tenant_id)
        if streams is not None and subscription in streams:
            streams.discard(subscription)
            self.metrics.live_clients.dec()
            if not streams:
                del self._by_tenant[subscription.tenant_id]

    def publish(self, event: LiveEvent) -> int:
        """Push to every stream of the event's tenant; returns how many got it."""
        delivered = 0
        for subscription in list(self._by_tenant.get(event.tenant_id, ())):
            try:
                subscription.queue.put_nowait(event)
                delivered += 1
            except asyncio.QueueFull:
                # A client this far behind is cut off rather than slowing everyone down;
                # it reconnects with Last-Event-ID and gets a snapshot.
                subscription.overflowed = True
                self.unsubscribe(subscription)
        return delivered

    def close_all(self) -> None:
        """End every stream (shutdown)."""
        for streams in list(self._by_tenant.values()):
            for subscription in list(streams):
                try:
                    subscription.queue.put_nowait(None)
                except asyncio.QueueFull:
                    subscription.overflowed = True
                self.unsubscribe(subscription)

    def streams(self, tenant_id: uuid.UUID) -> int:
        """How many streams the tenant has open here."""
        return len(self._by_tenant.get(tenant_id, ()))
