"""SQL of tenants and API keys (both written by the api only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from database import Connection, Pool

_TENANT_COLUMNS = (
    "t.id, t.slug, t.name, t.time_zone, t.daily_quota, t.hourly_quota, t.number_daily_quota,"
    " t.opt_out_keywords, t.opt_in_keywords, t.alert_webhook_url, t.admin_phone, t.alert_cooldown_s,"
    " t.created_at, t.updated_at"
)


@dataclass(frozen=True)
class Tenant:
    """One tenant: who owns instances, personas, conversations and alerts."""

    id: uuid.UUID
    slug: str
    name: str
    time_zone: str
    daily_quota: int
    hourly_quota: int
    number_daily_quota: int
    opt_out_keywords: list[str]
    opt_in_keywords: list[str]
    alert_webhook_url: str | None
    admin_phone: str | None
    alert_cooldown_s: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ApiKey:
    """An issued key as stored (never the secret)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class SlugTakenError(Exception):
    """Another tenant already has this slug."""


def _tenant(row: Any) -> Tenant:
    return Tenant(
        id=row["id"],
        slug=row["slug"],
        name=row["name"],
        time_zone=row["time_zone"],
        daily_quota=row["daily_quota"],
        hourly_quota=row["hourly_quota"],
        number_daily_quota=row["number_daily_quota"],
        opt_out_keywords=list(row["opt_out_keywords"]),
        opt_in_keywords=list(row["opt_in_keywords"]),
        alert_webhook_url=row["alert_webhook_url"],
        admin_phone=row["admin_phone"],
        alert_cooldown_s=row["alert_cooldown_s"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


async def insert_tenant(conn: Connection, slug: str, name: str, time_zone: str) -> Tenant:
    """Create a tenant; `SlugTakenError` when the slug is in use."""
    try:
        row = await conn.fetchrow(
            "INSERT INTO tenants AS t (slug, name, time_zone) VALUES ($1, $2, $3)"  # noqa: S608
            f" RETURNING {_TENANT_COLUMNS}",
            slug,
            name,
            time_zone,
        )
    except asyncpg.UniqueViolationError as error:
        raise SlugTakenError(slug) from error
    return _tenant(row)


async def ensure_tenant(conn: Connection, slug: str, name: str) -> Tenant:
    """The tenant with `slug`, created when missing (idempotent)."""
    row = await conn.fetchrow(
        "INSERT INTO tenants AS t (slug, name) VALUES ($1, $2)"  # noqa: S608
        " ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug"
        f" RETURNING {_TENANT_COLUMNS}",
        slug,
        name,
    )
    return _tenant(row)


async def tenant_by_slug(executor: Pool | Connection, slug: str) -> Tenant | None:
    """The tenant with `slug`, if any."""
    row = await executor.fetchrow(f"SELECT {_TENANT_COLUMNS} FROM tenants t WHERE t.slug = $1", slug)  # noqa: S608
    return _tenant(row) if row else None


async def tenant_by_id(executor: Pool | Connection, tenant_id: uuid.UUID) -> Tenant | None:
    """The tenant with `tenant_id`, if any."""
    row = await executor.fetchrow(f"SELECT {_TENANT_COLUMNS} FROM tenants t WHERE t.id = $1", tenant_id)  # noqa: S608
    return _tenant(row) if row else None


async def list_tenants(executor: Pool | Connection) -> list[Tenant]:
    """Every tenant, by slug."""
    rows = await executor.fetch(f"SELECT {_TENANT_COLUMNS} FROM tenants t ORDER BY t.slug")  # noqa: S608
    return [_tenant(row) for row in rows]


async def update_tenant(conn: Connection, tenant_id: uuid.UUID, changes: dict[str, Any]) -> Tenant:
    """Apply `changes` (column → value, columns from a fixed list) to the tenant."""
    allowed = (
        "name",
        "time_zone",
        "alert_webhook_url",
        "admin_phone",
        "alert_cooldown_s",
        "daily_quota",
        "hourly_quota",
        "number_daily_quota",
    )
    columns = [column for column in allowed if column in changes]
    assignments = ", ".join(f"{column} = ${index + 2}" for index, column in enumerate(columns))
    row = await conn.fetchrow(
        f"UPDATE tenants t SET {assignments + ', ' if assignments else ''}updated_at = now()"  # noqa: S608
        f" WHERE t.id = $1 RETURNING {_TENANT_COLUMNS}",
        tenant_id,
        *(changes[column] for column in columns),
    )
    return _tenant(row)


async def tenant_by_key_hash(pool: Pool, key_hash: str) -> tuple[Tenant, uuid.UUID, datetime | None] | None:
    """The tenant of a live (not revoked) key, the key's id and when it was last used."""
    row = await pool.fetchrow(
        f"SELECT {_TENANT_COLUMNS}, k.id AS key_id, k.last_used_at AS key_last_used_at"  # noqa: S608
        " FROM api_keys k JOIN tenants t ON t.id = k.tenant_id"
        " WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        key_hash,
    )
    if row is None:
        return None
    return _tenant(row), row["key_id"], row["key_last_used_at"]


async def touch_key(pool: Pool, key_id: uuid.UUID, min_interval_s: float) -> None:
    """Record that a key was used (at most once per `min_interval_s`, to spare writes)."""
    await pool.execute(
        "UPDATE api_keys SET last_used_at = now() WHERE id = $1"
        " AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))",
        key_id,
        min_interval_s,
    )


async def insert_key(conn: Connection, tenant_id: uuid.UUID, name: str, prefix: str, key_hash: str) -> ApiKey:
    """Store a new key's hash."""
    row = await conn.fetchrow(
        "INSERT INTO api_keys (tenant_id, name, prefix, key_hash) VALUES ($1, $2, $3, $4)"
        " RETURNING id, tenant_id, name, prefix, created_at, last_used_at, revoked_at",
        tenant_id,
        name,
        prefix,
        key_hash,
    )
    return _key(row)


async def ensure_key(conn: Connection, tenant_id: uuid.UUID, name: str, prefix: str, key_hash: str) -> bool:
    """Make the key with `key_hash` a live key of the tenant; False if another tenant holds it."""
    owner = await conn.fetchval(
        "INSERT INTO api_keys (tenant_id, name, prefix, key_hash) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (key_hash) DO UPDATE SET revoked_at = NULL"
        " WHERE api_keys.tenant_id = EXCLUDED.tenant_id"
        " RETURNING tenant_id",
        tenant_id,
        name,
        prefix,
        key_hash,
    )
    return bool(owner == tenant_id)


async def key_by_id(conn: Connection, key_id: uuid.UUID) -> ApiKey | None:
    """One key by id."""
    row = await conn.fetchrow(
        "SELECT id, tenant_id, name, prefix, created_at, last_used_at, revoked_at"
        " FROM api_keys WHERE id = $1",
        key_id,
    )
    return _key(row) if row else None


async def revoke_key(conn: Connection, key_id: uuid.UUID) -> ApiKey | None:
    """Revoke a key (idempotent: an already revoked key keeps its revocation time)."""
    row = await conn.fetchrow(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1"
        " RETURNING id, tenant_id, name, prefix, created_at, last_used_at, revoked_at",
        key_id,
    )
    return _key(row) if row else None


async def list_keys(executor: Pool | Connection, tenant_id: uuid.UUID) -> list[ApiKey]:
    """The tenant's keys, newest first (revoked ones included)."""
    rows = await executor.fetch(
        "SELECT id, tenant_id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys"
        " WHERE tenant_id = $1 ORDER BY created_at DESC, id",
        tenant_id,
    )
    return [_key(row) for row in rows]


async def tenant_numbers(executor: Pool | Connection, tenant_id: uuid.UUID) -> list[tuple[str, str]]:
    """The tenant's live instances and the number each sends from (its own JID's digits, else
    its id): the spelling of the `quota:number:{number}:{date}` counters."""
    rows = await executor.fetch(
        "SELECT name, coalesce(nullif(regexp_replace("
        "   split_part(split_part(coalesce(owner_jid, ''), '@', 1), ':', 1), '[^0-9]', '', 'g'), ''),"
        " id::text) AS number"
        " FROM instances WHERE tenant_id = $1 AND state <> 'removed' ORDER BY name",
        tenant_id,
    )
    return [(row["name"], row["number"]) for row in rows]
