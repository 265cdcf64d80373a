"""The OpenAPI document is complete, and no generated input makes the api answer 5xx.

Schemathesis generates valid and invalid requests for every operation (except the
endless `/events` stream) from the api's own OpenAPI document and sends them over
real HTTP to a served api with a real tenant's key; every response must be below
500 and match the documented status codes, content types and schemas.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.settings import RateLimitPolicy, RateLimitSettings
from testkit.asgi import served

from .conftest import Stack, TenantKey, inbound

pytestmark = [
    pytest.mark.integration,
    # Schemathesis's own strategies trip this Hypothesis deprecation; it says nothing about the api.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

EXAMPLES_PER_MODE = 30
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def strategies(document: dict[str, Any], base_url: str, known: dict[str, str]) -> list[tuple[str, Any]]:
    """A strategy per operation and generation mode (built up front: schemathesis imports lazily,
    and CPython 3.11 cannot compile those imports in a worker thread under pytest's rewriting)."""
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=base_url)
    built: list[tuple[str, Any]] = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        if operation.path == "/events":
            continue  # an endless stream; covered by its own tests
        built.extend(
            (f"{operation.label} [{mode.value}]", operation.as_strategy(generation_mode=mode))
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        )
        # Random ids mostly answer 404; the tenant's real ids reach the handlers behind them.
        names = {
            parameter["name"]
            for parameter in document["paths"][operation.path][operation.method.lower()].get("parameters", [])
            if parameter["in"] == "path"
        }
        if names and names <= set(known):
            fixed = {name: known[name] for name in names}
            built.append((f"{operation.label} [known ids]", operation.as_strategy(path_parameters=fixed)))
    return built


def fuzz(built: list[tuple[str, Any]], base_url: str, headers: dict[str, str]) -> tuple[int, list[str]]:
    """Send every strategy's examples; returns (requests sent, failures)."""
    failures: list[str] = []
    sent = 0
    for label, strategy in built:

        @hypothesis.given(case=strategy)
        @hypothesis.settings(
            max_examples=EXAMPLES_PER_MODE,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            nonlocal sent
            response = case.call(base_url=base_url, headers=headers)
            sent += 1
            case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            exercise()
        except hypothesis.errors.Unsatisfiable:
            pass  # nothing invalid can be generated for an operation without parameters
        except (Exception, BaseExceptionGroup) as error:  # collect every operation's failure
            failures.append(f"{label}: {type(error).__name__}: {error}"[:3000])
    return sent, failures


async def known_ids(client: httpx.AsyncClient, stack: Stack, tenant: TenantKey) -> dict[str, str]:
    """Real resources of the tenant for the generated requests to act on."""
    name = f"fuzz-{tenant.slug[-8:]}"
    instance = (await client.post("/instances", json={"name": name})).json()
    await stack.scan(name)
    persona = (await client.post("/personas", json={"name": "Fuzz"})).json()
    await inbound(stack, name, "5511955550001", "oi")
    conversation = (await client.get("/conversations")).json()["items"][0]
    await client.post("/blacklist", json={"phone": "5511955550002"})
    alert_id = await stack_alert(stack, tenant)
    return {
        "instance_id": instance["id"],
        "persona_id": persona["id"],
        "conversation_id": conversation["id"],
        "alert_id": alert_id,
        "phone": "5511955550002",
    }


async def stack_alert(stack: Stack, tenant: TenantKey) -> str:
    """An alert row of the tenant (as the alert consumer stores them)."""
    conn = await asyncpg.connect(stack.postgres.dsn.get_secret_value())
    try:
        alert_id = await conn.fetchval(
            "INSERT INTO admin_alerts (tenant_id, alert_key, cause, severity, title)"
            " VALUES ($1, 'fuzz', 'send_exhausted', 'warning', 'Fuzz') RETURNING id",
            tenant.id,
        )
    finally:
        await conn.close()
    return str(alert_id)


async def test_no_generated_input_gets_a_5xx_and_responses_match_the_schema(
    stack: Stack, tenant: TenantKey
) -> None:
    settings = stack.api_settings(
        rate_limit=RateLimitSettings(default=RateLimitPolicy(limit=1_000_000, window_s=60))
    )
    app = create_app(settings)
    async with served(app) as url:
        async with httpx.AsyncClient(base_url=url, headers=tenant.headers, timeout=30) as client:
            document = (await client.get("/openapi.json")).json()
            known = await known_ids(client, stack, tenant)
        built = strategies(document, url, known)
        # The calls are blocking: they run in a thread while this loop serves the api.
        sent, failures = await asyncio.to_thread(fuzz, built, url, tenant.headers)
    assert failures == [], "\n\n".join(failures)
    assert sent > 500
    # The document names every route, the one error model and the two key schemes.
    paths = set(document["paths"])
    assert {
        "/instances",
        "/instances/{instance_id}",
        "/instances/{instance_id}/qr",
        "/instances/{instance_id}/status",
        "/instances/{instance_id}/persona",
        "/personas",
        "/personas/{persona_id}",
        "/conversations",
        "/conversations/{conversation_id}",
        "/conversations/{conversation_id}/messages",
        "/conversations/{conversation_id}/pause",
        "/conversations/{conversation_id}/resume",
        "/conversations/{conversation_id}/unblock",
        "/blacklist",
        "/blacklist/{phone}",
        "/alerts",
        "/alerts/{alert_id}",
        "/alerts/{alert_id}/acknowledge",
        "/events",
        "/health",
        "/metrics",
        "/tenant",
        "/livez",
        "/readyz",
    } <= paths
    assert set(document["components"]["securitySchemes"]) == {"BearerAuth", "ApiKeyHeader"}
    assert "ErrorResponse" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
