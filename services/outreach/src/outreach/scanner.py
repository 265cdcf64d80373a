"""The due-target scanner: the durable half of every reschedule (PRODUCT §4.1).

A target that waits has a due time in PostgreSQL, never a sleep in a consumer. Every
`scan_interval_s` the scanner skips the waiting targets of cancelled campaigns, then claims,
per connected number that is free, its first due target (holding the number for it), plus a
few due targets whose number is gone, and publishes `outreach.requested` for each through the
outbox in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from contracts import RequestOutreach, RequestOutreachData
from database import Pool
from messaging import Outbox, is_infrastructure_error
from outreach import repository
from outreach.service import StagedEventSink
from outreach.settings import OutreachPolicy

log = structlog.get_logger("outreach.scanner")


class DueTargetScanner:
    """Requests due campaign targets again, one per free number per scan."""

    def __init__(self, *, pool: Pool, outbox: Outbox, relay: StagedEventSink, policy: OutreachPolicy) -> None:
        self._pool = pool
        self._outbox = outbox
        self._relay = relay
        self._policy = policy
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Scan in the background."""
        self._task = asyncio.create_task(self._run(), name="outreach-scanner")

    async def stop(self) -> None:
        """Stop scanning; a scan in progress rolls back (nothing it claimed is lost)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.scan_once()
            except Exception as error:
                if not is_infrastructure_error(error):
                    raise
                log.warning("outreach scan skipped: a dependency is down", error=str(error))
            await asyncio.sleep(self._policy.scan_interval_s)

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
