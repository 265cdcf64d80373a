"""The due-target scanner: the durable half of every reschedule (PRODUCT §4.1).

A target that waits has a due time in PostgreSQL, never a sleep in a consumer. Every
`scan_interval_s` the scanner skips the waiting targets of cancelled campaigns, then claims,
per connected number that is free, its first due target (holding the number for it), plus a
few due targets whose number is gone, and publishes `outreach.requested` for each through the
outbox in the same transaction.
"""

from __future__ import annotations

from contracts import RequestOutreach, RequestOutreachData
from database import Pool
from messaging import Outbox, StagedEventSink
from outreach import repository
from outreach.settings import OutreachPolicy
from service_runtime import PeriodicTask


class DueTargetScanner:
    """Requests due campaign targets again, one per free number per scan."""

    def __init__(self, *, pool: Pool, outbox: Outbox, relay: StagedEventSink, policy: OutreachPolicy) -> None:
        self._pool = pool
        self._outbox = outbox
        self._relay = relay
        self._policy = policy
        self._loop = PeriodicTask("outreach-scanner", self.scan_once, interval_s=policy.scan_interval_s)

    def start(self) -> None:
        """Scan in the background."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop scanning; a scan in progress rolls back (nothing it claimed is lost)."""
        await self._loop.stop()

    async def scan_once(self) -> int:
        """One scan; how many targets it requested again."""
        async with self._pool.acquire() as conn, conn.transaction():
            await repository.skip_cancelled(conn)
            await repository.ensure_pace_rows(conn)
            due = await repository.claim_due(
                conn, hold_s=self._policy.claim_hold_s, stranded_limit=self._policy.stranded_per_scan
            )
            events = [
                RequestOutreach(
                    tenant_id=target.tenant_id,
                    # One campaign: one correlation, from the scan back to the first request.
                    correlation_id=target.campaign_id,
                    data=RequestOutreachData(
                        campaign_id=target.campaign_id,
                        target_id=target.target_id,
                        instance_id=target.instance_id,
                        instance_name=target.instance_name,
                        to=target.phone,
                        text=target.text,
                        attempt=target.attempts,
                    ),
                )
                for target in due
            ]
            staged = await self._outbox.stage(conn, events)
        self._relay.notify(staged)
        return len(events)
