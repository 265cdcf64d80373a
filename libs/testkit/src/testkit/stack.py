"""Mirage's services as real processes against the real infrastructure and the simulator.

Used by the end-to-end tests and the pipeline benchmark: every service runs as
`python -m <service>.main` with a Kafka topic/group prefix, a Redis key prefix
and ports of its own, so several stacks never see each other's traffic.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from testkit.infra import Infra
from testkit.namespaces import new_namespace
from testkit.ports import free_port
from testkit.processes import ServiceProcess
from testkit.waiting import wait_until

SIM_API_KEY = "sim-global-key"

# Module, settings prefix, and whether it needs Redis.
PIPELINE_SERVICES: tuple[tuple[str, str], ...] = (
    ("ingest", "MIRAGE_INGEST_"),
    ("guard", "MIRAGE_GUARD_"),
    ("generator", "MIRAGE_GENERATOR_"),
    ("sender", "MIRAGE_SENDER_"),
)
# Services a stack runs only when asked (`MirageStack.extra_services`).
EXTRA_SERVICES: tuple[tuple[str, str], ...] = (
    ("scheduler", "MIRAGE_SCHEDULER_"),
    ("api", "MIRAGE_API_"),
    ("analytics", "MIRAGE_ANALYTICS_"),
    ("outreach", "MIRAGE_OUTREACH_"),
)
# Services with timers that act on the whole database, not only on their own topics and keys
# (the scheduler's turns, the outreach scanner, the api's alert sweep, analytics' samples): two
# stacks running them on one database would take each other's work.
DATABASE_WIDE_SERVICES = frozenset({"scheduler", "outreach", "api", "analytics"})
# The stack (by namespace) running database-wide services on each database, while it runs.
_database_owners: dict[str, str] = {}


@dataclass
class Instance:
    """A tenant's instance, created in Mirage's database and at the simulator, connected."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    secret: str
    token: str
    number: str


@dataclass
class MirageStack:
    """The simulator plus the reply pipeline (ingest, guard, generator, sender) as processes."""

    infra: Infra
    database_dsn: str
    log_dir: Path
    # Extra environment per service name (`"guard": {"MIRAGE_GUARD_POLICY__DEBOUNCE_WINDOW_MS": "0"}`).
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    # Started after the pipeline, e.g. `("scheduler", "api")` for warm-up rounds.
    extra_services: tuple[str, ...] = ()
    namespace: str = field(default_factory=lambda: new_namespace("e"))
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    @property
    def simulator_url(self) -> str:
        """Base URL of the simulator (Evolution routes and `/_sim/`)."""
        return f"http://127.0.0.1:{self.ports['simulator']}"

    @property
    def ingest_url(self) -> str:
        """Base URL of ingest."""
        return f"http://127.0.0.1:{self.ports['ingest']}"

    @property
    def topic_prefix(self) -> str:
        """The Kafka topic prefix every service of this stack uses."""
        return f"{self.namespace}."

    def shared_env(self) -> dict[str, str]:
        """Settings every service of this stack shares."""
        return {
            "MIRAGE_KAFKA__BOOTSTRAP_SERVERS": self.infra.kafka_bootstrap,
            "MIRAGE_KAFKA__TOPIC_PREFIX": self.topic_prefix,
            "MIRAGE_KAFKA__GROUP_PREFIX": self.topic_prefix,
            "MIRAGE_KAFKA__PARTITIONS": "3",
            "MIRAGE_KAFKA__SESSION_TIMEOUT_MS": "6000",
            "MIRAGE_KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
            "MIRAGE_POSTGRES__DSN": self.database_dsn,
            "MIRAGE_REDIS__URL": self.infra.redis_url,
            "MIRAGE_REDIS__KEY_PREFIX": f"{self.namespace}:",
            "MIRAGE_EVOLUTION__BASE_URL": self.simulator_url,
            "MIRAGE_EVOLUTION__API_KEY": SIM_API_KEY,
            "MIRAGE_RUNTIME__LOG_JSON": "true",
            "OTEL_SDK_DISABLED": "true",
            "PYTHONUNBUFFERED": "1",
        }

    def service_env(self, name: str) -> dict[str, str]:
        """The full environment of one service."""
        env = self.shared_env()
        if name == "simulator":
            env.update(
                {
                    "MIRAGE_SIM_RUNTIME__PORT": str(self.ports["simulator"]),
                    "MIRAGE_SIM_API_KEY": SIM_API_KEY,
                    "MIRAGE_SIM_WEBHOOK__RETRY_INITIAL_DELAY_MS": "100",
                }
            )
        else:
            prefix = dict(PIPELINE_SERVICES + EXTRA_SERVICES)[name]
            env[f"{prefix}RUNTIME__PORT"] = str(self.ports[name])
        if name == "api":
            env.update(
                {
                    "MIRAGE_API_INGEST_PUBLIC_URL": self.ingest_url,
                    "MIRAGE_API_DEMO__ENABLED": "false",
                    "MIRAGE_API_SCHEDULER__URL": f"http://127.0.0.1:{self.ports.get('scheduler', 0)}",
                }
            )
        if name == "guard":
            # Voice notes are transcribed by the simulator's `/v1/audio/transcriptions` (docs/media.md).
            env["MIRAGE_GUARD_TRANSCRIPTION__BASE_URL"] = f"{self.simulator_url}/v1"
            env["MIRAGE_GUARD_TRANSCRIPTION__API_KEY"] = "sk-simulator"
            env["MIRAGE_GUARD_MEDIA__FETCH_BACKOFF_S"] = "0.05"
        if name == "generator":
            env.update(
                {
                    "MIRAGE_GENERATOR_MODEL__BASE_URL": f"{self.simulator_url}/v1",
                    "MIRAGE_GENERATOR_MODEL__API_KEY": "sk-simulator",
                    "MIRAGE_GENERATOR_MODEL__MAX_RETRIES": "0",
                    "MIRAGE_GENERATOR_TYPING__HUMAN_DELAYS": "false",
                }
            )
        env.update(self.overrides.get(name, {}))
        return env

    def _process(self, name: str) -> ServiceProcess:
        module = "simulator.main" if name == "simulator" else f"{name}.main"
        return ServiceProcess(
            name=name,
            module=module,
            env=self.service_env(name),
            log_path=self.log_dir / f"{self.namespace}-{name}.log",
            ready_url=f"http://127.0.0.1:{self.ports[name]}/readyz",
        )

    async def start(self) -> None:
        """Start the simulator, then the pipeline services, and wait until all are ready.

        Refuses to start database-wide services (`DATABASE_WIDE_SERVICES`) on a database where
        another live stack runs them: give that stack a narrower fixture scope instead."""
        if DATABASE_WIDE_SERVICES.intersection(self.extra_services):
            owner = _database_owners.setdefault(self.database_dsn, self.namespace)
            if owner != self.namespace:
                raise RuntimeError(
                    f"stack {owner} still runs database-wide services on this database; stop it"
                    f" before starting {self.namespace} (their scanners would take each other's work)"
                )
        for name in ("simulator", *(service for service, _ in PIPELINE_SERVICES), *self.extra_services):
            self.ports.setdefault(name, free_port())
        # The pipeline needs neither the simulator nor each other to start: all at once (their
        # imports and start-ups share the cores instead of waiting in turn).
        await asyncio.gather(
            *(self.start_service(name) for name in ("simulator", *(name for name, _ in PIPELINE_SERVICES)))
        )
        await asyncio.gather(*(self.start_service(name) for name in self.extra_services))

    async def start_service(self, name: str) -> ServiceProcess:
        """(Re)start one service and wait until it is ready."""
        process = self._process(name)
        self.processes[name] = process
        process.start()
        try:
            await process.wait_ready(timeout=90)
        except BaseException:
            process.kill()  # a start-up that failed leaves no process and no open log behind
            raise
        return process

    def kill(self, name: str) -> None:
        """SIGKILL one service (no graceful shutdown)."""
        self.processes[name].kill()

    def stop(self) -> None:
        """Stop every process gracefully, all at once (each shutdown is independent; in turn,
        a stack's teardown took the sum of them)."""
        for process in self.processes.values():
            process.request_stop()
        for process in self.processes.values():
            process.terminate()
        if _database_owners.get(self.database_dsn) == self.namespace:
            del _database_owners[self.database_dsn]

    async def create_instance(self, *, auth: str = "jwt", tenant_id: uuid.UUID | None = None) -> Instance:
        """An instance (of a new tenant, or of `tenant_id`), created at the simulator with its
        webhook pointing at ingest, scanned, and seen `connected` by Mirage."""
        token = uuid.uuid4().hex[:8]
        name = f"{self.namespace}-{token}"
        secret = secrets.token_urlsafe(32)
        instance_token = secrets.token_hex(16).upper()
        conn = await asyncpg.connect(self.database_dsn)
        try:
            if tenant_id is None:
                tenant_id = await conn.fetchval(
                    "INSERT INTO tenants (slug, name) VALUES ($1, $2) RETURNING id",
                    f"e2e-{token}",
                    f"E2E {token}",
                )
            instance_id = await conn.fetchval(
                "INSERT INTO instances (tenant_id, name, token, webhook_auth, webhook_secret, state)"
                " VALUES ($1, $2, $3, $4, $5, 'open') RETURNING id",
                tenant_id,
                name,
                instance_token,
                auth,
                secret,
            )
        finally:
            await conn.close()
        headers = {"jwt_key": secret} if auth == "jwt" else {"X-Mirage-Webhook-Secret": secret}
        number = f"55119{int(token, 16) % 10**8:08d}"
        async with httpx.AsyncClient(base_url=self.simulator_url, timeout=10) as client:
            created = await client.post(
                "/instance/create",
                headers={"apikey": SIM_API_KEY},
                json={
                    "instanceName": name,
                    "integration": "WHATSAPP-BAILEYS",
                    "token": instance_token,
                    "number": number,
                    "webhook": {
                        "url": f"{self.ingest_url}/webhook/evolution",
                        "headers": headers,
                        "events": [],
                    },
                },
            )
            created.raise_for_status()
            scanned = await client.post(f"/_sim/instances/{name}/scan")
            scanned.raise_for_status()

        async def connected() -> bool:
            conn = await asyncpg.connect(self.database_dsn)
            try:
                state = await conn.fetchval("SELECT state FROM instances WHERE id = $1", instance_id)
            finally:
                await conn.close()
            return bool(state == "connected")

        await wait_until(connected, timeout=30, message=f"{name} connected")
        return Instance(instance_id, tenant_id, name, secret, instance_token, number)


class SimulatorClient:
    """The simulator's `/_sim/` control API (PRODUCT §10)."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def inbound(self, instance: str, sender: str, text: str, **extra: Any) -> dict[str, Any]:
        """A person writes to `instance`; returns the simulator's `{status, body, id}`."""
        response = await self.http.post(
            f"/_sim/instances/{instance}/inbound", json={"from": sender, "text": text, **extra}
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def webhook(
        self, envelope: Any, *, instance: str | None = None, raw: bytes | None = None
    ) -> dict[str, Any]:
        """Deliver a raw envelope through the instance's webhook settings."""
        params = {"instance": instance} if instance else None
        if raw is not None:
            response = await self.http.post(
                "/_sim/webhook", content=raw, params=params, headers={"content-type": "application/json"}
            )
        else:
            response = await self.http.post("/_sim/webhook", json=envelope, params=params)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def sent(self, *, instance: str | None = None, number: str | None = None) -> list[dict[str, Any]]:
        """Every accepted sendText, oldest first, optionally filtered."""
        params = {k: v for k, v in (("instance", instance), ("number", number)) if v}
        response = await self.http.get("/_sim/sent", params=params)
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()
        return rows

    async def faults(self, faults: dict[str, Any]) -> None:
        """Inject faults (`{"sendText": {"fail_next": 2, "status": 500}}`)."""
        response = await self.http.post("/_sim/faults", json=faults)
        response.raise_for_status()

    async def completions(self) -> list[dict[str, Any]]:
        """The chat completion requests the simulator answered."""
        response = await self.http.get("/_sim/completions")
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()
        return rows

    async def reset(self) -> None:
        """Clear the sent log, faults and delivery log (instances stay)."""
        response = await self.http.post("/_sim/reset")
        response.raise_for_status()
