"""Evolution failures and domain errors become the one error body with a clear status (unit)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from api.domain_errors import DomainError, ErrorKind, not_found
from api.errors import install_error_handlers
from api.instances.evolution_failures import domain_error_for
from evolution_client import (
    EvolutionError,
    EvolutionForbiddenError,
    EvolutionNotFoundError,
    EvolutionOutcomeUnknownError,
    EvolutionRejectedError,
    EvolutionReplyError,
    EvolutionServerError,
    EvolutionUnauthorizedError,
    EvolutionUnreachableError,
)


@pytest.mark.parametrize(
    ("error", "kind", "code"),
    [
        (EvolutionForbiddenError(403, "name in use"), ErrorKind.CONFLICT, "evolution_forbidden"),
        (EvolutionNotFoundError(404, "missing"), ErrorKind.CONFLICT, "evolution_instance_missing"),
        (EvolutionUnauthorizedError(401, "bad key"), ErrorKind.UPSTREAM, "evolution_unauthorized"),
        (EvolutionReplyError(200, "not connected"), ErrorKind.CONFLICT, "evolution_refused"),
        (EvolutionRejectedError(400, "Invalid integration"), ErrorKind.INVALID, "evolution_rejected"),
        (EvolutionServerError(500, "boom"), ErrorKind.UPSTREAM, "evolution_unavailable"),
        (EvolutionUnreachableError(None, "refused"), ErrorKind.UPSTREAM, "evolution_unavailable"),
        (EvolutionOutcomeUnknownError(None, "read timeout"), ErrorKind.UPSTREAM_TIMEOUT, "evolution_timeout"),
    ],
)
def test_evolution_failures_map_to_kinds(error: EvolutionError, kind: ErrorKind, code: str) -> None:
    mapped = domain_error_for(error, "create the instance")
    assert (mapped.kind, mapped.code) == (kind, code)
    assert "create the instance" in mapped.message


async def test_every_error_has_the_one_body() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/missing")
    async def missing() -> None:
        raise not_found("instance")

    @app.get("/upstream")
    async def upstream() -> None:
        raise DomainError(ErrorKind.UPSTREAM_TIMEOUT, "evolution_timeout", "slow")

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("secret details")

    @app.get("/typed/{number}")
    async def typed(number: int) -> int:
        return number

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        missing_response = await client.get("/missing")
        assert missing_response.status_code == 404
        assert missing_response.json() == {
            "error": {"code": "instance_not_found", "message": "instance not found"}
        }
        assert (await client.get("/upstream")).status_code == 504
        crashed = await client.get("/crash")
        assert crashed.status_code == 500
        assert "secret" not in crashed.text
        invalid = await client.get("/typed/abc")
        assert invalid.status_code == 422
        assert invalid.json()["error"]["code"] == "validation_error"
        assert invalid.json()["error"]["details"][0]["location"] == ["path", "number"]
        unknown = await client.get("/nowhere")
        assert unknown.json() == {"error": {"code": "not_found", "message": "Not Found"}}
