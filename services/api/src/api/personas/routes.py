"""HTTP routes of personas."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.dependencies import AUTHENTICATED, CurrentTenant, DatabasePool
from api.domain_errors import DomainError, ErrorKind, not_found
from api.errors import AUTHENTICATED_ERRORS, CONFLICT, NOT_FOUND, UPSTREAM
from api.personas import repository
from api.personas.repository import PersonaNameTakenError
from api.personas.sandbox import Sandbox, Turn
from api.personas.schemas import (
    PersonaCreate,
    PersonaList,
    PersonaOut,
    PersonaUpdate,
    SandboxReplyOut,
    SandboxRequest,
)

router = APIRouter(
    prefix="/personas", tags=["personas"], dependencies=AUTHENTICATED, responses=AUTHENTICATED_ERRORS
)


def _name_taken() -> DomainError:
    return DomainError(ErrorKind.CONFLICT, "persona_name_taken", "the tenant has a persona with this name")


@router.post("", status_code=201, response_model=PersonaOut, summary="Create a persona", responses=CONFLICT)
async def create_persona(body: PersonaCreate, tenant: CurrentTenant, pool: DatabasePool) -> PersonaOut:
    """A persona; omitted fields get the Brazilian Portuguese defaults."""
    try:
        persona = await repository.insert(
            pool, tenant.id, {**body.model_dump(), "media_replies": body.media_replies.stored()}
        )
    except PersonaNameTakenError:
        raise _name_taken() from None
    return PersonaOut.of(persona)


@router.get("", response_model=PersonaList, summary="List personas")
async def list_personas(
    tenant: CurrentTenant,
    pool: DatabasePool,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> PersonaList:
    """The tenant's personas, by name."""
    found = await repository.list_for_tenant(pool, tenant.id, limit=limit, offset=offset)
    return PersonaList(items=[PersonaOut.of(item) for item in found], limit=limit, offset=offset)


@router.get("/{persona_id}", response_model=PersonaOut, summary="Get a persona", responses=NOT_FOUND)
async def get_persona(persona_id: uuid.UUID, tenant: CurrentTenant, pool: DatabasePool) -> PersonaOut:
    """One persona of the tenant."""
    persona = await repository.get(pool, tenant.id, persona_id)
    if persona is None:
        raise not_found("persona")
    return PersonaOut.of(persona)


@router.patch(
    "/{persona_id}",
    response_model=PersonaOut,
    summary="Change a persona",
    responses={**NOT_FOUND, **CONFLICT},
)
async def update_persona(
    persona_id: uuid.UUID, body: PersonaUpdate, tenant: CurrentTenant, pool: DatabasePool
) -> PersonaOut:
    """Change the fields given; `model: null` goes back to the generator's default model."""
    changes = body.model_dump(exclude_unset=True)
    for column, value in list(changes.items()):
        if value is None and column != "model":
            del changes[column]  # null means "unchanged" for columns that cannot be null
    if body.media_replies is not None:
        changes["media_replies"] = body.media_replies.stored()
    try:
        persona = await repository.update(pool, tenant.id, persona_id, changes)
    except PersonaNameTakenError:
        raise _name_taken() from None
    if persona is None:
        raise not_found("persona")
    return PersonaOut.of(persona)


@router.delete(
    "/{persona_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a persona",
    responses=NOT_FOUND,
)
async def delete_persona(persona_id: uuid.UUID, tenant: CurrentTenant, pool: DatabasePool) -> Response:
    """Delete it; instances that used it answer with the generator's default persona."""
    if not await repository.delete(pool, tenant.id, persona_id):
        raise not_found("persona")
    return Response(status_code=204)


@router.post(
    "/{persona_id}/sandbox",
    response_model=SandboxReplyOut,
    summary="Try a persona on a made-up chat (nothing is stored or sent)",
    responses={**NOT_FOUND, **UPSTREAM},
)
async def sandbox_reply(
    persona_id: uuid.UUID, body: SandboxRequest, tenant: CurrentTenant, pool: DatabasePool, sandbox: Sandbox
) -> SandboxReplyOut:
    """The persona's reply through the configured model, shaped as a contact would get it."""
    persona = await repository.get(pool, tenant.id, persona_id)
    if persona is None:
        raise not_found("persona")
    answer = await sandbox.reply(
        persona, [Turn(speaker=item.role, text=item.text) for item in body.messages], body.contact_name
    )
    return SandboxReplyOut(
        reply=answer.text,
        parts=list(answer.parts),
        model=answer.model,
        offline=answer.offline,
        latency_ms=answer.latency_ms,
    )
