"""SQL of instances (api writes them; their state columns change only through `instance_lifecycle`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from database import Connection, Pool

_COLUMNS = (
    "id, tenant_id, name, integration, evolution_instance_id, token, webhook_auth, webhook_secret, state,"
    " state_reason, state_changed_at, sending_stopped, qr_code, qr_base64, pairing_code, qr_expires_at,"
    " owner_jid, profile_name, persona_id, reply_to_groups, reply_to_broadcasts, created_at, updated_at"
)


@dataclass(frozen=True)
class Instance:
    """One instance row (secrets included: never serialise this to clients as is)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    integration: str
    evolution_instance_id: str | None
    token: str | None
    webhook_auth: str
    webhook_secret: str
    state: str
    state_reason: str | None
    state_changed_at: datetime
    sending_stopped: bool
    qr_code: str | None
    qr_base64: str | None
    pairing_code: str | None
    qr_expires_at: datetime | None
    owner_jid: str | None
    profile_name: str | None
    persona_id: uuid.UUID | None
    reply_to_groups: bool
    reply_to_broadcasts: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NewInstance:
    """What is stored when an instance is created (before Evolution has it)."""

    tenant_id: uuid.UUID
    name: str
    integration: str
    token: str
    webhook_auth: str
    webhook_secret: str
    persona_id: uuid.UUID | None
    reply_to_groups: bool
    reply_to_broadcasts: bool


class NameTakenError(Exception):
    """A live instance already has this name."""


def _instance(row: Any) -> Instance:
    return Instance(**{key: row[key] for key in Instance.__dataclass_fields__})


async def insert_creating(conn: Connection, new: NewInstance) -> Instance:
    """Reserve the name: a row in state `creating`."""
    try:
        row = await conn.fetchrow(
            "INSERT INTO instances (tenant_id, name, integration, token, webhook_auth, webhook_secret,"  # noqa: S608
            " persona_id, reply_to_groups, reply_to_broadcasts, state)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'creating') RETURNING {_COLUMNS}",
            new.tenant_id,
            new.name,
            new.integration,
            new.token,
            new.webhook_auth,
            new.webhook_secret,
            new.persona_id,
            new.reply_to_groups,
            new.reply_to_broadcasts,
        )
    except asyncpg.UniqueViolationError as error:
        raise NameTakenError(new.name) from error
    return _instance(row)


async def record_evolution_identity(
    conn: Connection, instance_id: uuid.UUID, evolution_instance_id: str | None, token: str | None
) -> None:
    """Keep Evolution's id and the instance token it answered with."""
    await conn.execute(
        "UPDATE instances SET evolution_instance_id = COALESCE($2, evolution_instance_id),"
        " token = COALESCE($3, token), updated_at = now() WHERE id = $1",
        instance_id,
        evolution_instance_id,
        token,
    )


async def get(executor: Pool | Connection, tenant_id: uuid.UUID, instance_id: uuid.UUID) -> Instance | None:
    """The tenant's instance with this id, unless removed."""
    row = await executor.fetchrow(
        f"SELECT {_COLUMNS} FROM instances WHERE id = $1 AND tenant_id = $2 AND state <> 'removed'",  # noqa: S608
        instance_id,
        tenant_id,
    )
    return _instance(row) if row else None


async def get_any(executor: Pool | Connection, instance_id: uuid.UUID) -> Instance | None:
    """The instance with this id, whatever its tenant or state."""
    row = await executor.fetchrow(f"SELECT {_COLUMNS} FROM instances WHERE id = $1", instance_id)  # noqa: S608
    return _instance(row) if row else None


async def get_live_by_name(executor: Pool | Connection, name: str) -> Instance | None:
    """The live instance with this name."""
    row = await executor.fetchrow(
        f"SELECT {_COLUMNS} FROM instances WHERE name = $1 AND state <> 'removed'",  # noqa: S608
        name,
    )
    return _instance(row) if row else None


async def list_for_tenant(
    executor: Pool | Connection,
    tenant_id: uuid.UUID,
    *,
    state: str | None,
    limit: int,
    offset: int,
) -> list[Instance]:
    """The tenant's instances by name; removed ones only when asked for by state."""
    rows = await executor.fetch(
        f"SELECT {_COLUMNS} FROM instances WHERE tenant_id = $1"  # noqa: S608
        " AND (CASE WHEN $2::text IS NULL THEN state <> 'removed' ELSE state = $2 END)"
        " ORDER BY name, id LIMIT $3 OFFSET $4",
        tenant_id,
        state,
        limit,
        offset,
    )
    return [_instance(row) for row in rows]


async def lock_state(conn: Connection, instance_id: uuid.UUID) -> str | None:
    """The instance's state, locked until the end of the transaction."""
    state: str | None = await conn.fetchval(
        "SELECT state FROM instances WHERE id = $1 FOR UPDATE", instance_id
    )
    return state


async def set_persona(
    conn: Connection, tenant_id: uuid.UUID, instance_id: uuid.UUID, persona_id: uuid.UUID | None
) -> bool:
    """Point the instance at a persona (or none); False when the instance is not the tenant's."""
    updated = await conn.fetchval(
        "UPDATE instances SET persona_id = $3, updated_at = now()"
        " WHERE id = $1 AND tenant_id = $2 AND state <> 'removed' RETURNING true",
        instance_id,
        tenant_id,
        persona_id,
    )
    return bool(updated)


async def persona_belongs_to(conn: Connection, tenant_id: uuid.UUID, persona_id: uuid.UUID) -> bool:
    """True when the persona exists and is the tenant's."""
    return bool(
        await conn.fetchval(
            "SELECT true FROM personas WHERE id = $1 AND tenant_id = $2", persona_id, tenant_id
        )
    )


async def lock_expired_qr(conn: Connection, limit: int) -> list[uuid.UUID]:
    """Open instances whose QR outlived its lifetime, locked (other replicas skip them)."""
    rows = await conn.fetch(
        "SELECT id FROM instances WHERE state = 'open' AND qr_expires_at < now()"
        " ORDER BY qr_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return [row["id"] for row in rows]


async def any_live_instance(executor: Pool | Connection) -> tuple[str, str | None] | None:
    """The name and token of some instance Evolution should know (for the health check)."""
    row = await executor.fetchrow(
        "SELECT name, token FROM instances WHERE state NOT IN ('removed', 'creating')"
        " ORDER BY (state = 'connected') DESC, updated_at DESC LIMIT 1"
    )
    return (row["name"], row["token"]) if row else None


async def changed_since(
    executor: Pool | Connection, tenant_id: uuid.UUID, since: datetime | None, limit: int
) -> list[Instance]:
    """The tenant's instances whose state changed after `since` (every live one when None)."""
    rows = await executor.fetch(
        f"SELECT {_COLUMNS} FROM instances WHERE tenant_id = $1"  # noqa: S608
        " AND (CASE WHEN $2::timestamptz IS NULL THEN state <> 'removed' ELSE state_changed_at > $2 END)"
        " ORDER BY state_changed_at, id LIMIT $3",
        tenant_id,
        since,
        limit,
    )
    return [_instance(row) for row in rows]
