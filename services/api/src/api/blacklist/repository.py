"""SQL of `blacklist` (written by the api; read by the guard and the sender). Phones are digits only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from database import Connection, Pool


@dataclass(frozen=True)
class BlacklistEntry:
    """A blacklisted phone."""

    phone: str
    reason: str | None
    created_at: datetime


def _entry(row: Any) -> BlacklistEntry:
    return BlacklistEntry(phone=row["phone"], reason=row["reason"], created_at=row["created_at"])


async def add(
    executor: Pool | Connection, tenant_id: uuid.UUID, phone: str, reason: str | None
) -> tuple[BlacklistEntry, bool]:
    """Blacklist a phone; the entry and whether it is new (an existing one keeps its date)."""
    row = await executor.fetchrow(
        "INSERT INTO blacklist (tenant_id, phone, reason) VALUES ($1, $2, $3)"
        " ON CONFLICT (tenant_id, phone) DO UPDATE SET reason = COALESCE(EXCLUDED.reason, blacklist.reason)"
        " RETURNING phone, reason, created_at, (xmax = 0) AS created",
        tenant_id,
        phone,
        reason,
    )
    assert row is not None
    return _entry(row), bool(row["created"])


async def remove(executor: Pool | Connection, tenant_id: uuid.UUID, phone: str) -> bool:
    """Take a phone off the blacklist; False when it was not on it."""
    return bool(
        await executor.fetchval(
            "DELETE FROM blacklist WHERE tenant_id = $1 AND phone = $2 RETURNING true", tenant_id, phone
        )
    )


async def list_for_tenant(
    executor: Pool | Connection, tenant_id: uuid.UUID, *, phone: str | None, limit: int, offset: int
) -> list[BlacklistEntry]:
    """The tenant's blacklist, newest first."""
    rows = await executor.fetch(
        "SELECT phone, reason, created_at FROM blacklist"
        " WHERE tenant_id = $1 AND ($2::text IS NULL OR phone = $2)"
        " ORDER BY created_at DESC, phone LIMIT $3 OFFSET $4",
        tenant_id,
        phone,
        limit,
        offset,
    )
    return [_entry(row) for row in rows]
