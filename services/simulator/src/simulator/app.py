"""Composition root of the simulator: its only place that wires dependencies."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from service_runtime import ServiceHost, configure_logging, configure_tracing
from simulator.completions import completions_router
from simulator.control_routes import control_router
from simulator.evolution_routes import evolution_router
from simulator.instances import InstanceService
from simulator.persistence import InstanceStore
from simulator.sending import TextSender
from simulator.settings import SimulatorSettings
from simulator.state import SimulatorState
from simulator.transcriptions import transcriptions_router
from simulator.webhooks import WebhookDispatcher
from simulator.wire import EvolutionError, route_not_found

_log = structlog.get_logger("simulator")


async def _evolution_error(_: Request, error: Exception) -> Response:
    if not isinstance(error, EvolutionError):  # pragma: no cover - registered for this type
        raise error
    return error.response()


async def _http_error(request: Request, error: Exception) -> Response:
    if not isinstance(error, StarletteHTTPException):  # pragma: no cover
        raise error
    # Express answers unknown routes and unknown methods alike: 404 "Cannot GET /x".
    if error.status_code in (404, 405):
        query = f"?{request.url.query}" if request.url.query else ""
        return route_not_found(request.method, request.url.path + query).response()
    return EvolutionError(error.status_code, [str(error.detail)]).response()


async def _validation_error(_: Request, error: Exception) -> Response:
    if not isinstance(error, RequestValidationError):  # pragma: no cover
        raise error
    problems = [f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()]
    return EvolutionError(400, [problems]).response()


async def _client_gone(_: Request, __: Exception) -> Response:
    # The caller hung up mid-request (a benchmark stopping, a timeout): nothing to answer.
    return Response(status_code=499)


async def _unexpected_error(_: Request, error: Exception) -> Response:
    _log.exception("simulator_unexpected_error", error=repr(error))
    return EvolutionError(500, [f"{type(error).__name__}: {error}"]).response()


def create_app(settings: SimulatorSettings) -> FastAPI:
    """Build the simulator: Evolution routes, `/_sim/` control, `/v1/` completions, probes."""
    configure_logging("simulator", level=settings.runtime.log_level, json_lines=settings.runtime.log_json)
    configure_tracing("mirage-simulator")
    host = ServiceHost("simulator", SimulatorSettings)
    state = SimulatorState(log_limit=settings.log_limit)
    store = InstanceStore(settings.state_file, state) if settings.state_file else None
    webhooks = WebhookDispatcher(settings, state)
    instances = InstanceService(settings, state, webhooks, store)
    sender = TextSender(settings, state, webhooks)

    async def startup() -> None:
        await webhooks.open()
        host.on_close(webhooks.close)
        if store is not None:
            state.replace_instances(await store.load())
            # Registered after the client, so it runs first at shutdown.
            host.on_close(store.flush)
        instances.seed(list(settings.seed_instances))
        _log.info(
            "simulator_started",
            instances=len(state.instances),
            server_url=settings.resolved_server_url(),
        )

    app = host.create_app(
        title="Mirage simulator",
        description="Evolution API 2.3.6 simulator with a /_sim/ control API and an "
        "OpenAI-compatible /v1/chat/completions and /v1/audio/transcriptions.",
        startup=startup,
    )
    app.add_exception_handler(EvolutionError, _evolution_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected_error)
    app.include_router(evolution_router(settings, state, instances, sender))
    app.include_router(control_router(state, instances, webhooks))
    app.include_router(completions_router(settings, state))
    app.include_router(transcriptions_router(settings, state))
    # Tests and tools reach the live state through the app.
    app.state.simulator = state
    app.state.webhooks = webhooks
    return app
