"""Liveness and readiness endpoints (`/livez`, `/readyz`) for every service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import APIRouter
from fastapi.responses import JSONResponse

ReadinessCheck = Callable[[], Awaitable[None]]


@dataclass
class Probes:
    """Named readiness checks; each raises when its dependency cannot serve."""

    timeout_s: float = 2.0
    checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    # False until start-up finished and again once shutdown began.
    serving: bool = False

    def add(self, name: str, check: ReadinessCheck) -> None:
        """Register a readiness check."""
        self.checks[name] = check

    async def run(self) -> dict[str, str]:
        """Run every check concurrently, each bounded by `timeout_s`."""

        async def one(check: ReadinessCheck) -> str:
            try:
                await asyncio.wait_for(check(), timeout=self.timeout_s)
            except TimeoutError:
                return f"timeout after {self.timeout_s:g}s"
            except Exception as error:  # noqa: BLE001 - a probe reports, never raises
                return f"{type(error).__name__}: {error}"[:200]
            return "ok"

        names = list(self.checks)
        results = await asyncio.gather(*(one(self.checks[name]) for name in names))
        return dict(zip(names, results, strict=True))


def probe_router(probes: Probes) -> APIRouter:
    """`/livez` answers while the event loop runs; `/readyz` runs the readiness checks."""
    router = APIRouter(tags=["probes"])

    @router.get("/livez", summary="Process is alive")
    async def livez() -> JSONResponse:
        return JSONResponse({"status": "alive"})

    @router.get("/readyz", summary="Process can serve")
    async def readyz() -> JSONResponse:
        if not probes.serving:
            return JSONResponse({"status": "not_ready", "checks": {}}, status_code=503)
        results = await probes.run()
        ready = all(result == "ok" for result in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": results},
            status_code=200 if ready else 503,
        )

    return router
