"""The `admin.alert` consumer (group `api-alerts`): store each occurrence, aggregated by key;
a new alert row also gets its WhatsApp copy to the admin staged (`alerts.whatsapp`)."""

from __future__ import annotations

import structlog

from api.alerts import repository
from api.alerts.repository import Occurrence
from api.alerts.whatsapp import stage_whatsapp_copy
from contracts import AdminAlert
from database import Pool
from messaging import Outbox, OutboxRelay, StagedEvent, claim_event
from service_runtime import BoundAtStartup

log = structlog.get_logger(__name__)

CONSUMER = "api-alerts"


class AlertIntake:
    """Records admin alerts raised anywhere in Mirage."""

    pool = BoundAtStartup[Pool]()

    def __init__(self, outbox: Outbox | None = None) -> None:
        # Without an outbox (tests of the intake alone) no WhatsApp copy is staged.
        self.outbox = outbox
        self._relay: OutboxRelay | None = None

    def bind(self, pool: Pool, relay: OutboxRelay | None = None) -> None:
        """Attach the pool and the outbox relay opened at start-up (before the consumer starts)."""
        self.pool = pool
        self._relay = relay

    async def on_admin_alert(self, event: AdminAlert) -> None:
        """Store one `admin.alert`, once, bumping the open row of its key when there is one;
        a resolution counts against the open row instead."""
        data = event.data
        if data.resolved:
            await self._resolve(event)
            return
        occurrence = Occurrence(
            tenant_id=event.tenant_id,
            alert_key=data.alert_key,
            cause=data.cause.value,
            severity=data.severity.value,
            title=data.title,
            detail=data.detail,
            context={
                **data.context,
                **{
                    name: str(value)
                    for name, value in (
                        ("contact_id", data.contact_id),
                        ("send_id", data.send_id),
                        ("campaign_id", data.campaign_id),
                    )
                    if value is not None
                },
            },
            instance_id=data.instance_id,
            conversation_id=data.conversation_id,
            occurred_at=event.occurred_at,
        )
        staged: list[StagedEvent] = []
        async with self.pool.acquire() as conn, conn.transaction():
            if not await claim_event(conn, CONSUMER, event.event_id):
                return  # a redelivery: this occurrence is already counted
            stored = await repository.record(conn, occurrence)
            if stored is not None and stored[1] and self.outbox is not None:
                copy, staged = await stage_whatsapp_copy(conn, stored[0], event, self.outbox)
                log.info("admin alert on WhatsApp", alert_id=str(stored[0].id), state=copy.state)
        if staged and self._relay is not None:
            self._relay.notify(staged)
        if stored is None:
            log.warning(
                "alert for an unknown tenant dropped", tenant_id=str(event.tenant_id), key=data.alert_key
            )
            return
        alert, created = stored
        log.info(
            "admin alert recorded",
            alert_id=str(alert.id),
            alert_key=alert.alert_key,
            occurrences=alert.occurrences,
            new_row=created,
        )

    async def _resolve(self, event: AdminAlert) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if not await claim_event(conn, CONSUMER, event.event_id):
                return
            alert = await repository.resolve(conn, event.tenant_id, event.data.alert_key, event.occurred_at)
        if alert is None:
            log.info("resolution without an open alert", key=event.data.alert_key)
            return
        log.info(
            "admin alert resolved" if alert.resolved_at else "admin alert partly resolved",
            alert_id=str(alert.id),
            alert_key=alert.alert_key,
            resolved=alert.resolved_occurrences,
            occurrences=alert.occurrences,
        )
