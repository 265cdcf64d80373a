"""The processed-event ledger: what makes an at-least-once consumer effectively-once."""

from __future__ import annotations

import uuid

from database import Connection


async def claim_event(conn: Connection, consumer: str, event_id: uuid.UUID) -> bool:
    """Record that `consumer` processes `event_id`; False when it already did.

    Call it inside the transaction that applies the event's state change, so the
    claim and the change commit (or roll back) together.
    """
    claimed = await conn.fetchval(
        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING RETURNING true",
        consumer,
        event_id,
    )
    return bool(claimed)
