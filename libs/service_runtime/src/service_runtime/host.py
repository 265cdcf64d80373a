"""Hosting a Mirage service: open its dependencies in order, fail fast naming the
setting to fix, serve probes, and close everything in reverse on shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import structlog
from aiokafka.errors import KafkaError
from fastapi import FastAPI
from fastapi.responses import Response
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from redis.asyncio import Redis

from database import DatabaseUnavailableError, Pool, PostgresSettings, create_pool
from messaging import KafkaUnavailableError, MessagingMetrics, MessagingRuntime
from redis_client import RedisSettings, RedisUnavailableError, create_redis
from service_runtime.probes import Probes, probe_router
from service_runtime.settings import MirageSettings
from service_runtime.startup import StartupError
from service_runtime.tracing import tracing_enabled

log = structlog.get_logger(__name__)

# How long shutdown waits for the pool's connections to be given back before cutting them: a
# task still holding one must not keep the process from exiting.
POOL_CLOSE_TIMEOUT_S = 10.0


async def close_pool(pool: Pool, timeout_s: float = POOL_CLOSE_TIMEOUT_S) -> None:
    """`pool.close()` (which waits for every acquired connection, without limit), bounded."""
    try:
        await asyncio.wait_for(pool.close(), timeout=timeout_s)
    except TimeoutError:
        log.warning("database connections still in use at shutdown; closing them", timeout_s=timeout_s)
        pool.terminate()


class ServiceHost:
    """The dependencies of one service process, opened at start-up and closed in reverse."""

    def __init__(self, name: str, settings_type: type[MirageSettings]) -> None:
        self.name = name
        self.settings_type = settings_type
        self.probes = Probes()
        # One registry per process's app (tests run several apps in one process), served on `/metrics`.
        self.registry = CollectorRegistry()
        self.messaging_metrics = MessagingMetrics(self.registry)
        self._stack = AsyncExitStack()
        self._startup: Callable[[], Awaitable[None]] | None = None
        self.started = False

    async def open_pool(self, settings: PostgresSettings, field: str = "postgres") -> Pool:
        """The asyncpg pool; fails with a `StartupError` naming `<field>.dsn`."""
        try:
            pool = await create_pool(settings, application_name=f"mirage-{self.name}")
        except DatabaseUnavailableError as error:
            raise StartupError(
                f"PostgreSQL is unreachable: {error}",
                setting=self.settings_type.env_names(f"{field}.dsn"),
            ) from error
        self._stack.push_async_callback(close_pool, pool)

        async def check() -> None:
            await pool.fetchval("SELECT 1")

        self.probes.add("postgres", check)
        return pool

    async def open_redis(self, settings: RedisSettings, field: str = "redis") -> Redis:
        """The Redis client; fails with a `StartupError` naming `<field>.url`."""
        try:
            client = await create_redis(settings)
        except RedisUnavailableError as error:
            raise StartupError(str(error), setting=self.settings_type.env_names(f"{field}.url")) from error
        self._stack.push_async_callback(client.aclose)

        async def check() -> None:
            await client.ping()

        self.probes.add("redis", check)
        return client

    async def start_messaging(self, runtime: MessagingRuntime, field: str = "kafka") -> None:
        """Create topics and start consuming; a `StartupError` naming the bootstrap servers."""
        try:
            await runtime.start()
        except KafkaUnavailableError as error:
            raise StartupError(str(error), setting=self._bootstrap_setting(field)) from error
        except (KafkaError, OSError, TimeoutError) as error:
            await runtime.broker.stop()
            raise StartupError(
                f"Kafka at {runtime.settings.bootstrap_servers} is unusable: {error}",
                setting=self._bootstrap_setting(field),
            ) from error
        self._stack.push_async_callback(runtime.stop)
        self.probes.add("kafka", runtime.check_ready)

    def _bootstrap_setting(self, field: str) -> str:
        return self.settings_type.env_names(f"{field}.bootstrap_servers")

    def on_close(self, callback: Callable[[], Awaitable[Any]]) -> None:
        """Run `callback` at shutdown (in reverse order of registration)."""
        self._stack.push_async_callback(callback)

    async def start(self) -> None:
        """Run the service's start-up; on failure close what was opened and re-raise."""
        if self.started:
            return
        if self._startup is None:
            raise RuntimeError("create_app() sets the start-up before start() runs it")
        try:
            await self._startup()
        except BaseException:
            await self._stack.aclose()
            raise
        self.started = True
        self.probes.serving = True

    async def stop(self) -> None:
        """Close every dependency in reverse order of opening (idempotent)."""
        self.probes.serving = False
        if self.started:
            self.started = False
            await self._stack.aclose()

    def create_app(
        self,
        *,
        title: str,
        startup: Callable[[], Awaitable[None]],
        description: str = "",
        version: str = "0.1.0",
        **fastapi_options: Any,
    ) -> FastAPI:
        """A FastAPI app serving `/livez` and `/readyz` whose lifespan starts this host
        (unless `serve` already did) and stops it when the process is asked to stop."""
        self._startup = startup

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(
            title=title,
            description=description,
            version=version,
            lifespan=lifespan,
            # Traces come from OpenTelemetry's FastAPI instrumentation (below) and metrics from
            # Prometheus: FastAPI's own telemetry stays off, so a request has one server span
            # and does not look up three global providers on every call.
            telemetry={"tracing": False, "metrics": False, "logs": False},
            **fastapi_options,
        )
        app.state.host = self
        app.include_router(probe_router(self.probes))
        registry = self.registry

        @app.get(
            "/metrics",
            tags=["operations"],
            summary="Prometheus metrics",
            response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
        )
        async def prometheus_metrics() -> Response:
            """The process's operational metrics (Prometheus text format, unauthenticated)."""
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

        if tracing_enabled():
            # With OTEL_SDK_DISABLED=true there is nothing to record: skip the middleware's cost.
            FastAPIInstrumentor.instrument_app(app, excluded_urls="livez,readyz")
        return app
