"""HTTP routes of conversations: read, and the operator's pause, resume and unblock."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.conversations import repository
from api.conversations.repository import Conversation, ConversationFilter
from api.conversations.schemas import (
    ConversationList,
    ConversationOut,
    ConversationState,
    MessageList,
    MessageOut,
)
from api.dependencies import AUTHENTICATED, CurrentTenant, DatabasePool
from api.domain_errors import not_found
from api.errors import AUTHENTICATED_ERRORS, NOT_FOUND
from api.input_types import PhoneDigits, UtcDatetime
from database import Pool

router = APIRouter(
    prefix="/conversations",
    tags=["conversations"],
    dependencies=AUTHENTICATED,
    responses=AUTHENTICATED_ERRORS,
)


async def _conversation(pool: Pool, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> Conversation:
    found = await repository.get(pool, tenant_id, conversation_id)
    if found is None:
        raise not_found("conversation")
    return found


@router.get("", response_model=ConversationList, summary="List conversations")
async def list_conversations(
    tenant: CurrentTenant,
    pool: DatabasePool,
    instance_id: uuid.UUID | None = None,
    state: ConversationState | None = None,
    since: Annotated[
        UtcDatetime | None, Query(description="Only those with a message at or after this.")
    ] = None,
    contact_phone: Annotated[PhoneDigits | None, Query(description="The contact's phone (digits).")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> ConversationList:
    """The tenant's conversations, most recent first."""
    where = ConversationFilter(
        instance_id=instance_id,
        state=state.value if state else None,
        since=since,
        contact_phone=contact_phone,
    )
    found = await repository.list_for_tenant(pool, tenant.id, where, limit=limit, offset=offset)
    return ConversationList(items=[ConversationOut.of(item) for item in found], limit=limit, offset=offset)


@router.get(
    "/{conversation_id}", response_model=ConversationOut, summary="Get a conversation", responses=NOT_FOUND
)
async def get_conversation(
    conversation_id: uuid.UUID, tenant: CurrentTenant, pool: DatabasePool
) -> ConversationOut:
    """One conversation of the tenant."""
    return ConversationOut.of(await _conversation(pool, tenant.id, conversation_id))


@router.get(
    "/{conversation_id}/messages",
    response_model=MessageList,
    summary="A conversation's messages with the guard's decisions",
    responses=NOT_FOUND,
)
async def list_messages(
    conversation_id: uuid.UUID,
    tenant: CurrentTenant,
    pool: DatabasePool,
    before: Annotated[UtcDatetime | None, Query(description="Page back: messages sent before this.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> MessageList:
    """The latest messages (oldest first), each with the guard's decision and its reason."""
    conversation = await _conversation(pool, tenant.id, conversation_id)
    found = await repository.messages(pool, conversation.id, before=before, limit=limit)
    return MessageList(conversation_id=conversation.id, items=[MessageOut.of(item) for item in found])


@router.post(
    "/{conversation_id}/pause", response_model=ConversationOut, summary="Pause the bot", responses=NOT_FOUND
)
async def pause_bot(conversation_id: uuid.UUID, tenant: CurrentTenant, pool: DatabasePool) -> ConversationOut:
    """The bot stops answering in this conversation until resumed."""
    conversation = await _conversation(pool, tenant.id, conversation_id)
    async with pool.acquire() as conn:
        await repository.set_bot_paused(conn, conversation, paused=True)
    return ConversationOut.of(await _conversation(pool, tenant.id, conversation_id))


@router.post(
    "/{conversation_id}/resume", response_model=ConversationOut, summary="Resume the bot", responses=NOT_FOUND
)
async def resume_bot(
    conversation_id: uuid.UUID, tenant: CurrentTenant, pool: DatabasePool
) -> ConversationOut:
    """The bot answers again; this also ends a human-takeover pause."""
    conversation = await _conversation(pool, tenant.id, conversation_id)
    async with pool.acquire() as conn:
        await repository.set_bot_paused(conn, conversation, paused=False)
    return ConversationOut.of(await _conversation(pool, tenant.id, conversation_id))


@router.post(
    "/{conversation_id}/unblock",
    response_model=ConversationOut,
    summary="Unblock a conversation the guard blocked",
    responses=NOT_FOUND,
)
async def unblock(conversation_id: uuid.UUID, tenant: CurrentTenant, pool: DatabasePool) -> ConversationOut:
    """Lift a bot-loop block; a new loop blocks it again."""
    conversation = await _conversation(pool, tenant.id, conversation_id)
    async with pool.acquire() as conn:
        await repository.unblock(conn, conversation)
    return ConversationOut.of(await _conversation(pool, tenant.id, conversation_id))
