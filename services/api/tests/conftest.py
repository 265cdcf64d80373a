"""Fixtures: the simulator and ingest served on real ports, api apps, tenants with keys."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiRuntime, ApiSettings, DemoSettings, InstanceSettings
from api.tenants import service as tenants
from database import Pool, PostgresSettings
from evolution_client import EvolutionSettings
from ingest.app import create_app as create_ingest_app
from ingest.settings import IngestRuntime, IngestSettings, WebhookSettings
from messaging import KafkaSettings
from redis_client import RedisSettings
from simulator.app import create_app as create_simulator_app
from simulator.settings import SimulatorRuntime, SimulatorSettings, WebhookDeliverySettings
from testkit import Infra, wait_until
from testkit.asgi import served
from testkit.namespaces import new_namespace

SIM_KEY = "sim-global-key"


def kafka_for(infra: Infra, namespace: str) -> KafkaSettings:
    """Kafka settings with topics and groups of `namespace`'s own."""
    return KafkaSettings(
        bootstrap_servers=infra.kafka_bootstrap,
        topic_prefix=f"{namespace}.",
        group_prefix=f"{namespace}.",
        partitions=3,
        session_timeout_ms=6_000,
        heartbeat_interval_ms=1_000,
        graceful_timeout_s=10.0,
    )


@dataclass
class Stack:
    """The simulator and ingest on real ports, sharing a Kafka namespace and the test database."""

    infra: Infra
    namespace: str
    kafka: KafkaSettings
    postgres: PostgresSettings
    redis: RedisSettings
    simulator_url: str
    ingest_url: str
    simulator_app: FastAPI

    def api_settings(self, **overrides: Any) -> ApiSettings:
        """Api settings pointing at this stack (demo seeding off unless overridden)."""
        values: dict[str, Any] = {
            "runtime": ApiRuntime(log_level="WARNING", log_json=False),
            "kafka": self.kafka,
            "postgres": self.postgres,
            "redis": self.redis,
            "evolution": EvolutionSettings(base_url=self.simulator_url, api_key=SecretStr(SIM_KEY)),
            "ingest_public_url": self.ingest_url,
            "demo": DemoSettings(enabled=False),
            "instances": InstanceSettings(qr_expiry_interval_s=0.2),
        }
        values.update(overrides)
        return ApiSettings(**values)

    async def scan(self, name: str) -> dict[str, Any]:
        """A person scans the instance's QR at the simulator."""
        async with httpx.AsyncClient(base_url=self.simulator_url, timeout=10) as client:
            response = await client.post(f"/_sim/instances/{name}/scan", json={})
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

    async def disconnect(self, name: str, reason: int) -> dict[str, Any]:
        """The simulator drops the instance's connection with `reason`."""
        async with httpx.AsyncClient(base_url=self.simulator_url, timeout=10) as client:
            response = await client.post(f"/_sim/instances/{name}/disconnect", json={"reason": reason})
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result


def simulator_settings(**overrides: Any) -> SimulatorSettings:
    """A fast simulator for tests."""
    values: dict[str, Any] = {
        "api_key": SIM_KEY,
        "runtime": SimulatorRuntime(log_level="WARNING", log_json=False),
        "webhook": WebhookDeliverySettings(retry_initial_delay_ms=50, retry_max_delay_ms=500, timeout_s=5.0),
        "delivery_ack_delay_ms": 10,
    }
    values.update(overrides)
    return SimulatorSettings(**values)


@pytest.fixture(scope="session")
async def stack(infra: Infra, postgres_settings: PostgresSettings) -> AsyncIterator[Stack]:
    """One simulator and one ingest for the whole session."""
    namespace = new_namespace("api")
    kafka = kafka_for(infra, namespace)
    redis = RedisSettings(url=SecretStr(infra.redis_url), key_prefix=f"{namespace}:")
    simulator_app = create_simulator_app(simulator_settings())
    ingest_app = create_ingest_app(
        IngestSettings(
            runtime=IngestRuntime(log_level="WARNING", log_json=False),
            kafka=kafka,
            postgres=postgres_settings,
            webhook=WebhookSettings(instance_cache_ttl_s=0),
        )
    )
    async with served(simulator_app) as simulator_url, served(ingest_app) as ingest_url:
        yield Stack(
            infra=infra,
            namespace=namespace,
            kafka=kafka,
            postgres=postgres_settings,
            redis=redis,
            simulator_url=simulator_url,
            ingest_url=ingest_url,
            simulator_app=simulator_app,
        )


@dataclass
class Api:
    """An api app in its lifespan, with an in-process client."""

    app: FastAPI
    client: httpx.AsyncClient
    settings: ApiSettings

    @property
    def pool(self) -> Pool:
        """The app's database pool."""
        pool: Pool = self.app.state.context.pool
        return pool


ApiFactory = Callable[..., Awaitable[Api]]


@pytest.fixture
async def make_api(stack: Stack) -> AsyncIterator[ApiFactory]:
    """Build api apps with settings overrides; each runs inside its lifespan until the test ends."""
    async with AsyncExitStack() as exits:

        async def build(**overrides: Any) -> Api:
            settings = stack.api_settings(**overrides)
            app = create_app(settings)
            await exits.enter_async_context(app.router.lifespan_context(app))
            client = await exits.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=30)
            )
            return Api(app=app, client=client, settings=settings)

        yield build


@pytest.fixture(scope="session")
async def shared_api(stack: Stack) -> AsyncIterator[Api]:
    """One api app for the tests that need nothing special (each uses its own tenants)."""
    settings = stack.api_settings()
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=30
        ) as client,
    ):
        yield Api(app=app, client=client, settings=settings)


@dataclass
class TenantKey:
    """A tenant and a live key of it."""

    id: uuid.UUID
    slug: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        """The bearer authorization header."""
        return {"Authorization": f"Bearer {self.key}"}


async def new_tenant(pool: Pool, label: str = "t") -> TenantKey:
    """A tenant with a random slug and one issued key."""
    slug = f"{label}-{uuid.uuid4().hex[:10]}"
    tenant = await tenants.create_tenant(pool, slug, f"Tenant {slug}")
    issued = await tenants.issue_key(pool, tenant.id)
    return TenantKey(id=tenant.id, slug=slug, key=issued.secret)


@pytest.fixture
async def tenant(db_pool: Pool) -> TenantKey:
    """A fresh tenant."""
    return await new_tenant(db_pool, "a")


@pytest.fixture
async def other_tenant(db_pool: Pool) -> TenantKey:
    """A second fresh tenant."""
    return await new_tenant(db_pool, "b")


def instance_name(prefix: str = "inst") -> str:
    """A unique instance name."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def connected_instance(api: Api, stack: Stack, tenant: TenantKey, **body: Any) -> dict[str, Any]:
    """An instance created through the api, scanned at the simulator and seen connected."""
    name = instance_name()
    created = await api.client.post("/instances", json={"name": name, **body}, headers=tenant.headers)
    assert created.status_code == 201, created.text
    instance: dict[str, Any] = created.json()
    await stack.scan(name)

    async def connected() -> bool:
        response = await api.client.get(f"/instances/{instance['id']}", headers=tenant.headers)
        return bool(response.json()["state"] == "connected")

    await wait_until(connected, timeout=15, message=f"{name} connected")
    return instance


async def inbound(stack: Stack, instance: str, sender: str, text: str) -> dict[str, Any]:
    """A person writes to the instance through the simulator (ingest stores it)."""
    async with httpx.AsyncClient(base_url=stack.simulator_url, timeout=10) as client:
        response = await client.post(
            f"/_sim/instances/{instance}/inbound", json={"from": sender, "text": text, "push_name": "Ana"}
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        assert result["status"] == 200, result
        return result


async def qr_webhook_delivered(stack: Stack, name: str) -> None:
    """Wait until ingest has answered the simulator's `qrcode.updated` webhook for `name`."""
    async with httpx.AsyncClient(base_url=stack.simulator_url, timeout=10) as client:

        async def delivered() -> bool:
            response = await client.get(
                "/_sim/webhooks", params={"instance": name, "event": "qrcode.updated"}
            )
            return any(row.get("outcome") == "delivered" for row in response.json())

        await wait_until(delivered, timeout=10, message=f"qrcode.updated of {name} delivered")
