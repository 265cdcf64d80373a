"""Where the alerts for a number that needs re-pairing or is likely banned are raised.

Both ingest (webhooks) and the api (status refreshes) change instance state, and
both publish `instance.status_changed`; neither raises the alert inline. The
api's consumer group `api-lifecycle-alerts` watches that topic and, for every
change into `disconnected` with reason `logged_out` (Evolution `close 401`: a new
QR is needed) or `likely_banned` (`close 403` or `refused`: sending stopped),
stages one `admin.alert` in the api's outbox in the same transaction as its claim
of the event. The alert's id derives from the status change's id, so a
redelivery can never raise it twice.
"""

from __future__ import annotations

from contracts import (
    AdminAlert,
    AdminAlertData,
    AlertCause,
    AlertSeverity,
    InstanceState,
    InstanceStatusChanged,
    stable_id,
)
from database import Pool
from messaging import Outbox, OutboxRelay, claim_event
from service_runtime import BoundAtStartup

CONSUMER = "api-lifecycle-alerts"

_ALERTS: dict[str, tuple[AlertCause, AlertSeverity, str, str]] = {
    "logged_out": (
        AlertCause.INSTANCE_LOGGED_OUT,
        AlertSeverity.WARNING,
        "Number {name} was logged out of WhatsApp",
        "WhatsApp ended the session (close 401). Scan a new QR code to reconnect it.",
    ),
    "likely_banned": (
        AlertCause.INSTANCE_LIKELY_BANNED,
        AlertSeverity.CRITICAL,
        "Number {name} is likely banned",
        "WhatsApp refused the connection (close 403 or refused). Sending from this number is stopped.",
    ),
}


def alert_for(event: InstanceStatusChanged) -> AdminAlert | None:
    """The admin alert a status change calls for, if any."""
    data = event.data
    if data.current is not InstanceState.DISCONNECTED or data.previous is data.current:
        return None
    found = _ALERTS.get(data.reason or "")
    if found is None:
        return None
    cause, severity, title, detail = found
    context = {"instance_name": data.instance_name, "previous_state": str(data.previous or "")}
    if data.status_code is not None:
        context["status_code"] = str(data.status_code)
    return AdminAlert(
        event_id=stable_id("instance-alert", event.event_id),
        tenant_id=event.tenant_id,
        correlation_id=event.correlation_id,
        causation_id=event.event_id,
        data=AdminAlertData(
            cause=cause,
            severity=severity,
            alert_key=f"{cause.value}:{data.instance_id}",
            title=title.format(name=data.instance_name),
            detail=detail,
            instance_id=data.instance_id,
            context=context,
        ),
    )


class LifecycleAlerts:
    """Consumes `instance.status_changed` and raises the alerts of lost or banned numbers."""

    pool = BoundAtStartup[Pool]()
    relay = BoundAtStartup[OutboxRelay]()

    def __init__(self, *, outbox: Outbox) -> None:
        self.outbox = outbox

    def bind(self, *, pool: Pool, relay: OutboxRelay) -> None:
        """Attach the dependencies opened at start-up (before the consumer starts)."""
        self.pool, self.relay = pool, relay

    async def on_status_changed(self, event: InstanceStatusChanged) -> None:
        """Stage an `admin.alert` for a change into `disconnected` because of a logout or a ban."""
        alert = alert_for(event)
        if alert is None:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            if not await claim_event(conn, CONSUMER, event.event_id):
                return
            staged = await self.outbox.stage(conn, [alert])
        self.relay.notify(staged)
