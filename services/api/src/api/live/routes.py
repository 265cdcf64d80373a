"""`GET /events`: the tenant's instance status changes as server-sent events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.dependencies import AUTHENTICATED, Context, CurrentTenant
from api.errors import AUTHENTICATED_ERRORS, ApiError
from api.instances import repository as instances
from api.instances.schemas import InstanceOut
from api.live.hub import LiveEvent, moment_of

router = APIRouter(tags=["realtime"], dependencies=AUTHENTICATED, responses=AUTHENTICATED_ERRORS)

_DESCRIPTION = """\
A stream of `text/event-stream` events for the authenticated tenant:

- `snapshot` (first, unless `snapshot=false`): `{"instances": [...]}` — every live instance, or, when
  the client reconnects with `Last-Event-ID`, the instances whose state changed since that event;
- `instance.status_changed`: `{"event_id", "occurred_at", "instance_id", "instance_name", "previous",
  "current", "reason", "status_code", "sending_stopped"}`, pushed within a second of the change, by
  every api replica; its SSE `id` (`<µs since epoch>-<event id>`) is what `Last-Event-ID` resumes from;
- `: ping` comments while idle (heartbeats).

`GET /instances/{id}/status` remains the polling fallback.
"""


@router.get(
    "/events",
    summary="Stream instance status changes (server-sent events)",
    description=_DESCRIPTION,
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def stream_events(
    tenant: CurrentTenant,
    context: Context,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=200)] = None,
    snapshot: Annotated[bool, Query(description="Start with a snapshot of the instances.")] = True,
) -> EventSourceResponse:
    """The tenant's instance status changes as they happen."""
    settings = context.settings.live
    if context.hub.streams(tenant.id) >= settings.max_streams_per_tenant:
        raise ApiError(
            429,
            "too_many_streams",
            f"at most {settings.max_streams_per_tenant} open streams per tenant; close one first",
            headers={"Retry-After": "5"},
        )
    subscription = context.hub.subscribe(tenant.id)
    shutdown = anyio.Event()
    since = moment_of(last_event_id)

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            if snapshot:
                # Subscribed first: a change racing the snapshot is sent twice, never lost.
                found = await instances.changed_since(context.pool, tenant.id, since, settings.snapshot_limit)
                body = {"instances": [InstanceOut.of(item).model_dump(mode="json") for item in found]}
                yield ServerSentEvent(event="snapshot", data=json.dumps(body))
            while True:
                item = await _next_or_shutdown(subscription.queue, shutdown)
                if item is None:
                    return
                yield ServerSentEvent(id=item.id, event=item.name, data=json.dumps(item.data))
                if subscription.overflowed and subscription.queue.empty():
                    return
        finally:
            context.hub.unsubscribe(subscription)

    return EventSourceResponse(
        events(),
        ping=settings.ping_interval_s,
        send_timeout=30,
        # On server shutdown the stream ends itself (and its response completes) instead of
        # being cancelled mid-response.
        shutdown_event=shutdown,
        shutdown_grace_period=1.0,
    )


async def _next_or_shutdown(
    queue: asyncio.Queue[LiveEvent | None], shutdown: anyio.Event
) -> LiveEvent | None:
    """The next queued event, or None once the server shuts down."""
    if not queue.empty():
        return queue.get_nowait()
    getting = asyncio.ensure_future(queue.get())
    stopping = asyncio.ensure_future(shutdown.wait())
    try:
        await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not getting.done():
            getting.cancel()
    return getting.result() if getting.done() and not getting.cancelled() else None
