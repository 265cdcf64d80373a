"""`mirage_instance_connected`: 1 or 0 per number that should be connected, for alerting.

Instances are the api's and ingest's rows; analytics only reads them (every `interval_s`).
Numbers an operator created but never connected, closed or removed are left out: only
`connected`, `connecting` and `disconnected` ones (the automatic reconnection states) are
numbers that should be online.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from database import Pool
from service_runtime import BoundAtStartup, PeriodicTask


class InstanceStates:
    """Samples the instances' connection states into a gauge."""

    pool = BoundAtStartup[Pool]()

    def __init__(self, registry: CollectorRegistry, *, interval_s: float = 30.0) -> None:
        self.interval_s = interval_s
        self.connected = Gauge(
            "mirage_instance_connected",
            "1 while the number is connected to WhatsApp, 0 while it is disconnected or reconnecting.",
            ["instance", "tenant_id"],
            registry=registry,
        )
        self._loop = PeriodicTask("analytics-instance-states", self.sample, interval_s=interval_s)

    async def sample(self) -> int:
        """Set the gauge from the database; how many numbers it covers."""
        rows = await self.pool.fetch(
            "SELECT name, tenant_id, state FROM instances"
            " WHERE state IN ('connected', 'connecting', 'disconnected')"
        )
        self.connected.clear()
        for row in rows:
            self.connected.labels(row["name"], str(row["tenant_id"])).set(
                1 if row["state"] == "connected" else 0
            )
        return len(rows)

    def start(self, pool: Pool) -> None:
        """Sample `pool`'s instances in the background."""
        self.pool = pool
        self._loop.start()

    async def stop(self) -> None:
        """Stop sampling."""
        await self._loop.stop()
