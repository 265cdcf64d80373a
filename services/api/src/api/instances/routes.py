"""HTTP routes of instances: translate requests into `InstanceService` calls."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.dependencies import AUTHENTICATED, Context, CurrentTenant
from api.errors import AUTHENTICATED_ERRORS, CONFLICT, NOT_FOUND, UPSTREAM
from api.input_types import PhoneDigits
from api.instances.schemas import InstanceCreate, InstanceList, InstanceOut, InstancePersona, QrOut, StatusOut
from api.instances.service import CreateInstance
from contracts import InstanceState

router = APIRouter(
    prefix="/instances", tags=["instances"], dependencies=AUTHENTICATED, responses=AUTHENTICATED_ERRORS
)


@router.post(
    "",
    status_code=201,
    response_model=InstanceOut,
    summary="Create an instance at Evolution with Mirage's webhook",
    responses={**NOT_FOUND, **CONFLICT, **UPSTREAM},
)
async def create_instance(body: InstanceCreate, tenant: CurrentTenant, context: Context) -> InstanceOut:
    """Create the Evolution instance (per-instance token and webhook secret) and ask for its first QR."""
    instance = await context.instances.create(
        tenant.id,
        CreateInstance(
            name=body.name,
            integration=body.integration,
            webhook_auth=body.webhook_auth,
            persona_id=body.persona_id,
            number=body.number,
            reply_to_groups=body.reply_to_groups,
            reply_to_broadcasts=body.reply_to_broadcasts,
        ),
    )
    return InstanceOut.of(instance)


@router.get("", response_model=InstanceList, summary="List instances")
async def list_instances(
    tenant: CurrentTenant,
    context: Context,
    state: Annotated[
        InstanceState | None, Query(description="Only this state (`removed` lists removed ones).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> InstanceList:
    """The tenant's instances, by name."""
    found = await context.instances.list(tenant.id, state=state, limit=limit, offset=offset)
    return InstanceList(items=[InstanceOut.of(item) for item in found], limit=limit, offset=offset)


@router.get("/{instance_id}", response_model=InstanceOut, summary="Get an instance", responses=NOT_FOUND)
async def get_instance(instance_id: uuid.UUID, tenant: CurrentTenant, context: Context) -> InstanceOut:
    """One instance of the tenant."""
    return InstanceOut.of(await context.instances.get(tenant.id, instance_id))


@router.get(
    "/{instance_id}/qr",
    response_model=QrOut,
    summary="Get the QR code to pair the number",
    responses={**NOT_FOUND, **CONFLICT, **UPSTREAM},
)
async def get_qr(
    instance_id: uuid.UUID,
    tenant: CurrentTenant,
    context: Context,
    number: Annotated[
        PhoneDigits | None, Query(description="Ask for a pairing code for this number.")
    ] = None,
) -> QrOut:
    """The QR as a data URL with its expiry (from Evolution's `connect`), or `connected: true`."""
    return QrOut.of(await context.instances.qr(tenant.id, instance_id, number=number))


@router.get(
    "/{instance_id}/status",
    response_model=StatusOut,
    summary="Refresh and get the connection status",
    responses={**NOT_FOUND, **CONFLICT, **UPSTREAM},
)
async def get_status(instance_id: uuid.UUID, tenant: CurrentTenant, context: Context) -> StatusOut:
    """Evolution's `connectionState`, applied through the state machine (the fallback of `/events`)."""
    return StatusOut.of(await context.instances.refresh_status(tenant.id, instance_id))


@router.delete(
    "/{instance_id}",
    response_model=InstanceOut,
    summary="Log out and delete an instance",
    responses={**NOT_FOUND, **CONFLICT, **UPSTREAM},
)
async def delete_instance(instance_id: uuid.UUID, tenant: CurrentTenant, context: Context) -> InstanceOut:
    """Close it, log it out and delete it at Evolution, then mark it removed (its name is free again)."""
    return InstanceOut.of(await context.instances.delete(tenant.id, instance_id))


@router.put(
    "/{instance_id}/persona",
    response_model=InstanceOut,
    summary="Choose the instance's persona",
    responses=NOT_FOUND,
)
async def set_persona(
    instance_id: uuid.UUID, body: InstancePersona, tenant: CurrentTenant, context: Context
) -> InstanceOut:
    """The persona that answers on this instance (`null`: the generator's default persona)."""
    return InstanceOut.of(await context.instances.set_persona(tenant.id, instance_id, body.persona_id))
