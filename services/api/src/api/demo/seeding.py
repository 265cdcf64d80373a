"""Seeds the demo tenant in development: its key, a persona and the connected instances `demo-1`/`demo-2`.

Idempotent, and run again periodically: a restarted api duplicates nothing (the
tenant, key and persona are upserted, instances found by name), and a simulator
restarted without its state gets the instances back — re-created with the same
token and webhook secret, then scanned so they connect again. Replicas take turns
through an advisory lock. Instances are created through the same service as
`POST /instances`, so their webhooks point at ingest with a per-instance `jwt_key`.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass

import structlog

from api.demo.simulator_control import SimulatorControl
from api.domain_errors import DomainError
from api.instances import repository as instances
from api.instances.service import CreateInstance, InstanceService
from api.personas import repository as personas
from api.settings import ApiSettings
from api.tenants import repository as tenants
from api.tenants.keys import known_key
from contracts import InstanceState
from database import Pool

log = structlog.get_logger(__name__)

_SEED_LOCK = 7_262_060

DEMO_PERSONA = {
    "name": "Ana (demo)",
    "system_prompt": (
        "Você é a Ana, atendente da loja de demonstração do Mirage. Converse pelo WhatsApp de forma "
        "simpática e natural, com frases curtas e em português do Brasil. Ajude com dúvidas sobre "
        "horários, pedidos e produtos; quando não souber algo, diga que vai confirmar com a equipe."
    ),
    "language": "pt-BR",
    "max_length": 400,
    "emoji": True,
    "temperature": 0.7,
}


@dataclass(frozen=True)
class SeedReport:
    """What one seeding pass found or did."""

    tenant_slug: str
    instances: dict[str, str]
    simulator: bool


class DemoSeeder:
    """Keeps the demo tenant and its connected instances in place."""

    def __init__(self, *, pool: Pool, service: InstanceService, settings: ApiSettings) -> None:
        self.pool = pool
        self.service = service
        self.settings = settings
        self.simulator = SimulatorControl(settings.evolution.base_url)
        self._first: asyncio.Task[bool] | None = None
        self._task: asyncio.Task[None] | None = None
        self.last_report: SeedReport | None = None

    async def seed(self) -> SeedReport:
        """One idempotent pass (serialised across replicas)."""
        demo = self.settings.demo
        async with self.pool.acquire() as lock_conn:
            await lock_conn.execute("SELECT pg_advisory_lock($1)", _SEED_LOCK)
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    tenant = await tenants.ensure_tenant(conn, demo.tenant_slug, demo.tenant_name)
                    key = known_key(self.settings.demo_api_key.get_secret_value())
                    if not await tenants.ensure_key(conn, tenant.id, "demo", key.prefix, key.key_hash):
                        log.error("MIRAGE_DEMO_API_KEY already belongs to another tenant; not reusing it")
                    persona = await personas.ensure(conn, tenant.id, DEMO_PERSONA)
                simulator = (
                    demo.simulator if demo.simulator is not None else await self.simulator.is_simulator()
                )
                states = {}
                for name in demo.instance_names:
                    states[name] = await self._ensure_instance(
                        tenant.id, persona.id, name, simulator=simulator
                    )
            finally:
                await lock_conn.execute("SELECT pg_advisory_unlock($1)", _SEED_LOCK)
        report = SeedReport(tenant_slug=tenant.slug, instances=states, simulator=simulator)
        self.last_report = report
        return report

    async def _ensure_instance(
        self, tenant_id: uuid.UUID, persona_id: uuid.UUID, name: str, *, simulator: bool
    ) -> str:
        existing = await instances.get_live_by_name(self.pool, name)
        if existing is not None and existing.tenant_id != tenant_id:
            log.warning("a demo instance name belongs to another tenant; skipped", instance=name)
            return existing.state
        if existing is not None and existing.state == InstanceState.CREATING:
            # A creation interrupted by a crash: retire the row and create it again.
            await self.service.delete(existing.tenant_id, existing.id)
            existing = None
        if existing is None:
            instance = await self.service.create(tenant_id, CreateInstance(name=name, persona_id=persona_id))
        else:
            instance = existing
        evolution_state = await self.service.ensure_at_evolution(instance)
        if simulator and evolution_state != "open":
            if (await self._reload(instance.id)).state != InstanceState.OPEN:
                await self.service.issue_qr(await self._reload(instance.id))
            await self.simulator.scan(name)
        # Apply what Evolution now says, so the instance is connected even before ingest
        # has processed the `connection.update` webhook (both paths are idempotent).
        status = await self.service.refresh(await self._reload(instance.id))
        return status.instance.state

    async def _reload(self, instance_id: uuid.UUID) -> instances.Instance:
        found = await instances.get_any(self.pool, instance_id)
        assert found is not None
        return found

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.demo.recheck_interval_s)
            await self._seed_logged()

    async def _seed_logged(self) -> bool:
        try:
            report = await self.seed()
        except (DomainError, OSError) as error:
            log.warning("demo seeding failed; will retry", error=str(error))
            return False
        except Exception:
            log.exception("demo seeding failed; will retry")
            return False
        log.info("demo tenant ready", tenant=report.tenant_slug, instances=report.instances)
        return True

    async def start(self) -> None:
        """Seed once (bounded wait), then keep re-checking in the background."""
        first = asyncio.create_task(self._seed_logged())
        done, _ = await asyncio.wait({first}, timeout=self.settings.demo.startup_wait_s)
        if not done:
            log.warning("demo seeding is slow; serving meanwhile")
        self._first = first
        self._task = asyncio.create_task(self._run(), name="demo-seeder")

    async def stop(self) -> None:
        """Stop re-checking."""
        for task in (self._first, self._task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = None
        await self.simulator.aclose()
