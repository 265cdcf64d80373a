"""How the api asks the scheduler to decide for a pair now (`POST /warmup/pairs/{id}/tick`).

The decision must be the cron's own code path and the scheduler is the only writer of rounds,
so the api does not decide itself: it calls the scheduler's control route. Its address comes
from `MIRAGE_API_SCHEDULER__URL` (default `http://127.0.0.1:8007`), with an optional
`MIRAGE_API_SCHEDULER__TOKEN` the scheduler checks (`MIRAGE_SCHEDULER_CONTROL_TOKEN`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SchedulerLinkSettings(BaseSettings):
    """Where the scheduler's control route is (env prefix `MIRAGE_API_SCHEDULER__`)."""

    model_config = SettingsConfigDict(env_prefix="MIRAGE_API_SCHEDULER__", extra="ignore", frozen=True)

    url: str = "http://127.0.0.1:8007"
    token: SecretStr | None = None
    timeout_s: float = Field(default=15.0, gt=0)


class SchedulerUnavailableError(Exception):
    """The scheduler did not answer (down, unreachable, or failing)."""


@dataclass(frozen=True)
class Tick:
    """The scheduler's answer."""

    decision: str
    reason: str | None
    detail: str
    round_id: uuid.UUID | None


class SchedulerLink:
    """Calls the scheduler's control route."""

    def __init__(self, settings: SchedulerLinkSettings) -> None:
        self.settings = settings

    async def tick(self, tenant_id: uuid.UUID, pair_id: uuid.UUID) -> Tick | None:
        """The scheduler's decision for the pair (None: it knows no such pair for the tenant)."""
        headers = {}
        if self.settings.token is not None:
            headers["Authorization"] = f"Bearer {self.settings.token.get_secret_value()}"
        url = f"{self.settings.url.rstrip('/')}/control/warmup/pairs/{pair_id}/tick"
        try:
            async with httpx.AsyncClient(timeout=self.settings.timeout_s) as client:
                response = await client.post(url, json={"tenant_id": str(tenant_id)}, headers=headers)
        except httpx.HTTPError as error:
            raise SchedulerUnavailableError(
                f"the scheduler at {self.settings.url} did not answer: {error}"
            ) from error
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise SchedulerUnavailableError(f"the scheduler answered {response.status_code}")
        body: dict[str, Any] = response.json()
        round_id = body.get("round_id")
        return Tick(
            decision=str(body["decision"]),
            reason=body.get("reason"),
            detail=str(body.get("detail") or ""),
            round_id=uuid.UUID(round_id) if round_id else None,
        )
