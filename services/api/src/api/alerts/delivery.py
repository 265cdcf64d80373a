"""Delivers stored alerts to the tenant's HTTP webhook, at most once per cool-down and key.

Every replica sweeps; `FOR UPDATE SKIP LOCKED` gives each due alert to one. An
alert is *claimed* (state `delivering`, `delivered_at` set) and committed before
the POST, so a crash after the POST can never send it again (at most once); an
alert whose key was delivered within the tenant's cool-down is `suppressed`; a
failed POST is retried with backoff up to `max_attempts`, then `failed`.

The WhatsApp copy to `tenants.admin_phone` is not swept here: the intake stages it as a
`send.requested` (purpose `admin_alert`) in the transaction that stores the alert
(`alerts.whatsapp`), with the same cool-down.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import structlog

from api.alerts import repository
from api.alerts.repository import Claimed
from api.metrics import ApiMetrics
from api.settings import AlertSettings
from database import Pool
from service_runtime import PeriodicTask

log = structlog.get_logger(__name__)

# A claim older than this was interrupted (the replica died mid-POST): it is not retried.
_STALE_CLAIM_S = 600.0


def webhook_body(claimed: Claimed) -> dict[str, Any]:
    """What the tenant's webhook receives."""
    alert = claimed.alert
    return {
        "type": "mirage.admin_alert",
        "alert": {
            "id": str(alert.id),
            "tenant_id": str(alert.tenant_id),
            "alert_key": alert.alert_key,
            "cause": alert.cause,
            "severity": alert.severity,
            "title": alert.title,
            "detail": alert.detail,
            "context": alert.context,
            "instance_id": str(alert.instance_id) if alert.instance_id else None,
            "conversation_id": str(alert.conversation_id) if alert.conversation_id else None,
            "occurrences": alert.occurrences,
            "first_seen_at": alert.first_seen_at.isoformat(),
            "last_seen_at": alert.last_seen_at.isoformat(),
        },
    }


class AlertDispatcher:
    """Sweeps due alerts and POSTs them."""

    def __init__(self, *, pool: Pool, settings: AlertSettings, metrics: ApiMetrics) -> None:
        self.pool = pool
        self.settings = settings
        self.metrics = metrics
        self._http = httpx.AsyncClient(
            timeout=settings.webhook_timeout_s,
            follow_redirects=False,
            headers={"user-agent": "mirage-api/alerts"},
        )
        self._loop = PeriodicTask("alert-delivery", self.sweep, interval_s=settings.sweep_interval_s)

    async def sweep(self) -> int:
        """Deliver what is due now; returns how many alerts were POSTed (successfully or not)."""
        async with self.pool.acquire() as conn, conn.transaction():
            claimed = await repository.claim_due(conn, limit=20, stale_after_s=_STALE_CLAIM_S)
        await asyncio.gather(*(self._deliver(item) for item in claimed))
        return len(claimed)

    async def _deliver(self, claimed: Claimed) -> None:
        error: str | None = None
        try:
            response = await self._http.post(claimed.url, json=webhook_body(claimed))
            if response.status_code >= 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"[:300]
        attempts = claimed.alert.delivery_attempts + 1
        retry_in_s = None
        if error is not None and attempts < self.settings.max_attempts:
            retry_in_s = min(300.0, 2.0 * 2 ** (attempts - 1))
        await repository.delivery_done(self.pool, claimed.alert.id, error=error, retry_in_s=retry_in_s)
        outcome = "delivered" if error is None else ("retrying" if retry_in_s is not None else "failed")
        self.metrics.alerts_delivered.labels(outcome=outcome).inc()
        log.info("alert webhook", alert_id=str(claimed.alert.id), outcome=outcome, error=error)

    def start(self) -> None:
        """Start sweeping in the background."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop sweeping and close the HTTP client."""
        await self._loop.stop()
        await self._http.aclose()
