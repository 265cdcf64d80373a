"""What every route needs, built once per process by `app.create_app` and its start-up."""

from __future__ import annotations

from dataclasses import dataclass, field

from api.alerts.delivery import AlertDispatcher
from api.health.checks import HealthChecks
from api.instances.service import InstanceService
from api.live.hub import LiveHub
from api.metrics import ApiMetrics
from api.outreach.service import CampaignService
from api.ratelimit.limiter import RateLimiter
from api.settings import ApiSettings
from database import Pool


@dataclass
class ApiContext:
    """The process's shared objects; those needing I/O are filled in by start-up."""

    settings: ApiSettings
    metrics: ApiMetrics
    hub: LiveHub
    pool: Pool = field(init=False)
    instances: InstanceService = field(init=False)
    limiter: RateLimiter = field(init=False)
    health: HealthChecks = field(init=False)
    alerts: AlertDispatcher | None = field(init=False, default=None)
    campaigns: CampaignService = field(init=False)
