"""QR expiry: an `open` instance whose QR was not scanned within its lifetime becomes `expired`.

Every api replica sweeps; `FOR UPDATE SKIP LOCKED` hands each expired instance to
one of them, and the state machine's conditional update makes a late or repeated
expiry a no-op (`expired` acknowledges `qr_expired`).
"""

from __future__ import annotations

from api.instances import repository
from contracts import stable_id
from database import Pool
from instance_lifecycle import Trigger, apply_trigger
from messaging import Outbox, OutboxRelay, StagedEvent
from service_runtime import PeriodicTask


class QrExpirySweeper:
    """Applies `Trigger.QR_EXPIRED` to open instances whose `qr_expires_at` passed."""

    def __init__(
        self, *, pool: Pool, outbox: Outbox, relay: OutboxRelay, interval_s: float, batch_size: int = 100
    ) -> None:
        self.pool = pool
        self.outbox = outbox
        self.relay = relay
        self.interval_s = interval_s
        self.batch_size = batch_size
        self._loop = PeriodicTask("qr-expiry", self._sweep_all, interval_s=interval_s)

    async def sweep(self) -> int:
        """Expire what is due now; returns how many instances expired."""
        staged: list[StagedEvent] = []
        expired = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for instance_id in await repository.lock_expired_qr(conn, self.batch_size):
                row = await conn.fetchrow("SELECT qr_expires_at FROM instances WHERE id = $1", instance_id)
                deadline = row["qr_expires_at"] if row else None
                outcome = await apply_trigger(
                    conn,
                    instance_id=instance_id,
                    trigger=Trigger.QR_EXPIRED,
                    outbox=self.outbox,
                    correlation_id=stable_id("qr-expired", instance_id, deadline),
                )
                staged.extend(outcome.staged)
                expired += 1 if outcome.staged else 0
        self.relay.notify(staged)
        return expired

    async def _sweep_all(self) -> None:
        while await self.sweep() >= self.batch_size:
            pass

    def start(self) -> None:
        """Start sweeping in the background."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop sweeping."""
        await self._loop.stop()
