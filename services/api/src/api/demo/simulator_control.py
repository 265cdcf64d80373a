"""The simulator's `/_sim/` control API, as far as demo seeding needs it.

Not an Evolution endpoint (Evolution has no `/_sim/`), so not part of the
Evolution client: it only exists when the configured Evolution is Mirage's simulator.
"""

from __future__ import annotations

import httpx


class SimulatorControl:
    """Detects the simulator and "scans" an instance's QR there."""

    def __init__(self, base_url: str, *, timeout_s: float = 5.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s)

    async def is_simulator(self) -> bool:
        """True when `GET /_sim/instances` answers a list (a real Evolution answers 404)."""
        try:
            response = await self._http.get("/_sim/instances")
        except httpx.HTTPError:
            return False
        if response.status_code != 200:
            return False
        try:
            return isinstance(response.json(), list)
        except ValueError:
            return False

    async def scan(self, instance: str) -> None:
        """A person scans the instance's QR: the simulator emits `connection.update` open to ingest."""
        response = await self._http.post(f"/_sim/instances/{instance}/scan", json={})
        response.raise_for_status()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()
