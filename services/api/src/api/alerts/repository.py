"""SQL of `admin_alerts` (written by the api only).

One row is one alert *as the operator sees it*: occurrences of the same
`alert_key` inside the tenant's cool-down (counted from the row's first
occurrence) and not yet acknowledged bump the row's `occurrences` instead of
adding rows, so a storm of a thousand failures is one row counting to a thousand.
A new occurrence after the cool-down, or after the operator acknowledged the
row, starts a new row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from database import Connection, Pool

_COLUMNS = (
    "a.id, a.tenant_id, a.alert_key, a.cause, a.severity, a.title, a.detail, a.context, a.instance_id,"
    " a.conversation_id, a.occurrences, a.first_seen_at, a.last_seen_at, a.delivered_at, a.acknowledged_at,"
    " a.delivery_state, a.delivery_attempts, a.delivery_error, a.resolved_occurrences, a.resolved_at"
)


@dataclass(frozen=True)
class StoredAlert:
    """One alert row."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    alert_key: str
    cause: str
    severity: str
    title: str
    detail: str
    context: dict[str, Any]
    instance_id: uuid.UUID | None
    conversation_id: uuid.UUID | None
    occurrences: int
    first_seen_at: datetime
    last_seen_at: datetime
    delivered_at: datetime | None
    acknowledged_at: datetime | None
    delivery_state: str
    delivery_attempts: int
    delivery_error: str | None
    resolved_occurrences: int
    resolved_at: datetime | None


@dataclass(frozen=True)
class Occurrence:
    """One `admin.alert` event to record."""

    tenant_id: uuid.UUID
    alert_key: str
    cause: str
    severity: str
    title: str
    detail: str
    context: dict[str, str]
    instance_id: uuid.UUID | None
    conversation_id: uuid.UUID | None
    occurred_at: datetime


@dataclass(frozen=True)
class AlertFilter:
    """What `GET /alerts` narrows to."""

    cause: str | None = None
    severity: str | None = None
    acknowledged: bool | None = None
    instance_id: uuid.UUID | None = None
    since: datetime | None = None


def _alert(row: Any) -> StoredAlert:
    values = {key: row[key] for key in StoredAlert.__dataclass_fields__}
    values["context"] = dict(values["context"] or {})
    return StoredAlert(**values)


_RECORD = f"""
WITH tenant AS (
    SELECT alert_cooldown_s, alert_webhook_url FROM tenants WHERE id = $1::uuid
), current_row AS (
    SELECT a.id FROM admin_alerts a, tenant t
    WHERE a.tenant_id = $1 AND a.alert_key = $2::text AND a.acknowledged_at IS NULL
      AND a.first_seen_at > $10::timestamptz - make_interval(secs => t.alert_cooldown_s)
    ORDER BY a.first_seen_at DESC LIMIT 1
    FOR UPDATE OF a
), bumped AS (
    UPDATE admin_alerts a SET
        occurrences = a.occurrences + 1,
        last_seen_at = GREATEST(a.last_seen_at, $10),
        first_seen_at = LEAST(a.first_seen_at, $10),
        title = $5::text,
        detail = $6::text,
        severity = CASE
            WHEN array_position(ARRAY['info','warning','critical'], $4::text)
                 > coalesce(array_position(ARRAY['info','warning','critical'], a.severity), 0)
            THEN $4 ELSE a.severity END
    FROM current_row WHERE a.id = current_row.id
    RETURNING {_COLUMNS}, false AS created
), inserted AS (
    INSERT INTO admin_alerts AS a (
        tenant_id, alert_key, cause, severity, title, detail, context, instance_id,
        conversation_id, first_seen_at, last_seen_at, delivery_state, next_delivery_at
    )
    SELECT $1, $2, $3, $4, $5, $6, $7::jsonb, $8::uuid, $9::uuid, $10::timestamptz, $10::timestamptz,
           CASE WHEN t.alert_webhook_url IS NULL THEN 'not_configured' ELSE 'pending' END, now()
    FROM tenant t WHERE NOT EXISTS (SELECT 1 FROM current_row)
    RETURNING {_COLUMNS}, true AS created
)
SELECT * FROM bumped UNION ALL SELECT * FROM inserted
"""  # noqa: S608


# The newest row of the key still unresolved counts one more resolution; it is resolved when
# every occurrence it counts is.
_RESOLVE = f"""
WITH target AS (
    SELECT a.id FROM admin_alerts a
    WHERE a.tenant_id = $1 AND a.alert_key = $2::text AND a.resolved_at IS NULL
    ORDER BY a.first_seen_at DESC LIMIT 1
    FOR UPDATE OF a
)
UPDATE admin_alerts a SET
    resolved_occurrences = least(a.occurrences, a.resolved_occurrences + 1),
    resolved_at = CASE WHEN a.resolved_occurrences + 1 >= a.occurrences THEN $3::timestamptz END
FROM target WHERE a.id = target.id
RETURNING {_COLUMNS}
"""  # noqa: S608


async def resolve(conn: Connection, tenant_id: uuid.UUID, alert_key: str, at: datetime) -> StoredAlert | None:
    """Count one resolution on the open alert of `alert_key`; None when there is none to resolve."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 7262006))", str(tenant_id), alert_key
    )
    row = await conn.fetchrow(_RESOLVE, tenant_id, alert_key, at)
    return _alert(row) if row else None


async def record(conn: Connection, occurrence: Occurrence) -> tuple[StoredAlert, bool] | None:
    """Store one occurrence (inside a transaction); the row and whether it is new, None for no tenant."""
    # Occurrences of one key are serialised (two replicas mid-rebalance, a late redelivery).
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 7262006))",
        str(occurrence.tenant_id),
        occurrence.alert_key,
    )
    row = await conn.fetchrow(
        _RECORD,
        occurrence.tenant_id,
        occurrence.alert_key,
        occurrence.cause,
        occurrence.severity,
        occurrence.title,
        occurrence.detail,
        occurrence.context,
        occurrence.instance_id,
        occurrence.conversation_id,
        occurrence.occurred_at,
    )
    if row is None:
        return None
    return _alert(row), bool(row["created"])


async def get(executor: Pool | Connection, tenant_id: uuid.UUID, alert_id: uuid.UUID) -> StoredAlert | None:
    """The tenant's alert."""
    row = await executor.fetchrow(
        f"SELECT {_COLUMNS} FROM admin_alerts a WHERE a.id = $1 AND a.tenant_id = $2",  # noqa: S608
        alert_id,
        tenant_id,
    )
    return _alert(row) if row else None


async def list_for_tenant(
    executor: Pool | Connection, tenant_id: uuid.UUID, where: AlertFilter, *, limit: int, offset: int
) -> list[StoredAlert]:
    """The tenant's alerts, most recently seen first."""
    rows = await executor.fetch(
        f"SELECT {_COLUMNS} FROM admin_alerts a WHERE a.tenant_id = $1"  # noqa: S608
        " AND ($2::text IS NULL OR a.cause = $2)"
        " AND ($3::text IS NULL OR a.severity = $3)"
        " AND ($4::boolean IS NULL OR (a.acknowledged_at IS NOT NULL) = $4)"
        " AND ($5::uuid IS NULL OR a.instance_id = $5)"
        " AND ($6::timestamptz IS NULL OR a.last_seen_at >= $6)"
        " ORDER BY a.last_seen_at DESC, a.id LIMIT $7 OFFSET $8",
        tenant_id,
        where.cause,
        where.severity,
        where.acknowledged,
        where.instance_id,
        where.since,
        limit,
        offset,
    )
    return [_alert(row) for row in rows]


async def acknowledge(
    executor: Pool | Connection, tenant_id: uuid.UUID, alert_id: uuid.UUID
) -> StoredAlert | None:
    """Mark the alert acknowledged (idempotent: the first acknowledgement's time stays)."""
    row = await executor.fetchrow(
        "UPDATE admin_alerts a SET acknowledged_at = COALESCE(a.acknowledged_at, now())"  # noqa: S608
        f" WHERE a.id = $1 AND a.tenant_id = $2 RETURNING {_COLUMNS}",
        alert_id,
        tenant_id,
    )
    return _alert(row) if row else None


# --- delivery ---------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """An alert claimed for delivery to a webhook."""

    alert: StoredAlert
    url: str


async def claim_due(conn: Connection, *, limit: int, stale_after_s: float) -> list[Claimed]:
    """Claim, suppress or mark not configured each due alert (inside a transaction; claims commit with it)."""
    # Suppressed: another row of the same key was delivered within the tenant's cool-down.
    await conn.execute(
        "UPDATE admin_alerts SET delivery_state = 'failed', delivery_error = 'delivery interrupted'"
        " WHERE delivery_state = 'delivering' AND delivered_at < now() - make_interval(secs => $1)",
        stale_after_s,
    )
    rows = await conn.fetch(
        f"SELECT {_COLUMNS}, t.alert_webhook_url, t.alert_cooldown_s,"  # noqa: S608
        " EXISTS (SELECT 1 FROM admin_alerts o WHERE o.tenant_id = a.tenant_id AND o.alert_key = a.alert_key"
        "   AND o.id <> a.id AND o.delivery_state IN ('delivering', 'delivered')"
        "   AND o.delivered_at > now() - make_interval(secs => t.alert_cooldown_s)) AS recently_delivered"
        " FROM admin_alerts a JOIN tenants t ON t.id = a.tenant_id"
        " WHERE a.delivery_state = 'pending' AND (a.next_delivery_at IS NULL OR a.next_delivery_at <= now())"
        " ORDER BY a.next_delivery_at NULLS FIRST LIMIT $1 FOR UPDATE OF a SKIP LOCKED",
        limit,
    )
    claimed: list[Claimed] = []
    for row in rows:
        if row["alert_webhook_url"] is None:
            state = "not_configured"
        elif row["recently_delivered"]:
            state = "suppressed"
        else:
            state = "delivering"
        await conn.execute(
            "UPDATE admin_alerts SET delivery_state = $2,"
            " delivered_at = CASE WHEN $2 = 'delivering' THEN now() ELSE delivered_at END,"
            " delivery_attempts = delivery_attempts + CASE WHEN $2 = 'delivering' THEN 1 ELSE 0 END"
            " WHERE id = $1",
            row["id"],
            state,
        )
        if state == "delivering":
            claimed.append(Claimed(alert=_alert(row), url=row["alert_webhook_url"]))
    return claimed


async def delivery_done(
    executor: Pool | Connection,
    alert_id: uuid.UUID,
    *,
    error: str | None,
    retry_in_s: float | None,
) -> None:
    """Record a delivery attempt's outcome: delivered, to retry later, or failed for good."""
    if error is None:
        state = "delivered"
    elif retry_in_s is not None:
        state = "pending"
    else:
        state = "failed"
    await executor.execute(
        "UPDATE admin_alerts SET delivery_state = $2, delivery_error = $3,"
        " delivered_at = CASE WHEN $2 = 'delivered' THEN delivered_at ELSE NULL END,"
        " next_delivery_at = CASE WHEN $2 = 'pending' THEN now() + make_interval(secs => $4) ELSE NULL END"
        " WHERE id = $1",
        alert_id,
        state,
        error,
        retry_in_s or 0.0,
    )
