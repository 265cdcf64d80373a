"""What every Mirage process shares at run time: settings base, logs, traces, probes, start-up."""

from service_runtime.bound_at_startup import BoundAtStartup
from service_runtime.host import ServiceHost
from service_runtime.http_server import serve
from service_runtime.periodic import PeriodicTask
from service_runtime.probes import Probes, probe_router
from service_runtime.settings import (
    SHARED_ENV_PREFIX,
    Environment,
    MirageSettings,
    RuntimeSettings,
    refuse_default_secrets,
)
from service_runtime.startup import StartupError, run_service
from service_runtime.structured_logging import configure_logging
from service_runtime.tracing import configure_tracing, traced_transport, tracing_enabled

__all__ = [
    "SHARED_ENV_PREFIX",
    "BoundAtStartup",
    "Environment",
    "MirageSettings",
    "PeriodicTask",
    "Probes",
    "RuntimeSettings",
    "ServiceHost",
    "StartupError",
    "configure_logging",
    "configure_tracing",
    "probe_router",
    "refuse_default_secrets",
    "run_service",
    "serve",
    "traced_transport",
    "tracing_enabled",
]
