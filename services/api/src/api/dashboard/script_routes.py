"""What the pages' scripts call: the session-authenticated twins of the api's own routes.

The browser never holds the API key, so these routes take the session cookie (and, for
changes, the session's CSRF token in `X-CSRF-Token`) and call the same route functions
and services as the key-authenticated api, with the same tenant scoping (another
tenant's id is 404), rate limits and error bodies.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import HTMLResponse, Response
from sse_starlette import EventSourceResponse

from api.dashboard.instance_actions import disconnect
from api.dashboard.instance_rows import instance_row
from api.dashboard.rendering import render
from api.dashboard.viewer import SignedIn, Viewer
from api.dependencies import Context, DatabasePool, _enforce_rate_limit
from api.instances import routes as instance_routes
from api.instances.schemas import InstanceCreate, InstanceOut, QrOut, StatusOut
from api.live import routes as live_routes
from api.personas import routes as persona_routes
from api.personas.sandbox import Sandbox
from api.personas.schemas import SandboxReplyOut, SandboxRequest


async def _counted(request: Request, context: Context, viewer: SignedIn) -> Viewer:
    # The same per-tenant, per-endpoint limit as the key-authenticated api.
    await _enforce_rate_limit(request, context, viewer.tenant)
    return viewer


Counted = Annotated[Viewer, Depends(_counted)]

router = APIRouter(prefix="/ui/api", include_in_schema=False)


class QrWithClock(QrOut):
    """The QR and the server's clock, so the countdown is right whatever the browser's clock says."""

    server_time: datetime


@router.get("/instances/rows", response_class=HTMLResponse)
async def instance_rows(request: Request, viewer: Counted, context: Context) -> Response:
    """The instances table's rows, rendered as on the page (for live refreshes)."""
    found = await context.instances.list(viewer.tenant.id, state=None, limit=500, offset=0)
    return render(
        request, "_instance_rows.html", viewer=viewer, values={"instances": [instance_row(i) for i in found]}
    )


@router.post("/instances", status_code=201)
async def create_instance(body: InstanceCreate, viewer: Counted, context: Context) -> InstanceOut:
    """Create an instance (and its first QR), as `POST /instances`."""
    return await instance_routes.create_instance(body, viewer.tenant, context)


@router.get("/instances/{instance_id}/qr")
async def instance_qr(instance_id: uuid.UUID, viewer: Counted, context: Context) -> QrWithClock:
    """The QR to scan, as `GET /instances/{id}/qr`, with the server's clock."""
    qr = await instance_routes.get_qr(instance_id, viewer.tenant, context, None)
    return QrWithClock(**qr.model_dump(), server_time=datetime.now(UTC))


@router.get("/instances/{instance_id}/status")
async def instance_status(instance_id: uuid.UUID, viewer: Counted, context: Context) -> StatusOut:
    """Refresh from Evolution, as `GET /instances/{id}/status` (the fallback of the event stream)."""
    return await instance_routes.get_status(instance_id, viewer.tenant, context)


@router.post("/instances/{instance_id}/disconnect")
async def disconnect_instance(instance_id: uuid.UUID, viewer: Counted, context: Context) -> InstanceOut:
    """Log the number out and keep the instance (`→ closed`); Reconnect pairs it again."""
    return InstanceOut.of(await disconnect(context.instances, viewer.tenant.id, instance_id))


@router.delete("/instances/{instance_id}")
async def delete_instance(instance_id: uuid.UUID, viewer: Counted, context: Context) -> InstanceOut:
    """Log out and delete, as `DELETE /instances/{id}`."""
    return await instance_routes.delete_instance(instance_id, viewer.tenant, context)


@router.get("/events")
async def events(
    viewer: Counted,
    context: Context,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=200)] = None,
) -> EventSourceResponse:
    """The tenant's instance status changes, as `GET /events` (a snapshot first)."""
    return await live_routes.stream_events(viewer.tenant, context, last_event_id, snapshot=True)


@router.post("/personas/{persona_id}/sandbox")
async def persona_sandbox(
    persona_id: uuid.UUID, body: SandboxRequest, viewer: Counted, pool: DatabasePool, sandbox: Sandbox
) -> SandboxReplyOut:
    """The persona's reply to a made-up chat, as `POST /personas/{id}/sandbox`."""
    return await persona_routes.sandbox_reply(persona_id, body, viewer.tenant, pool, sandbox)
