"""The OpenAPI document is complete, and no generated input makes the api answer 5xx.

Schemathesis generates valid and invalid requests for every operation (except the
endless `/events` stream) from the api's own OpenAPI document and sends them over
real HTTP to a served api with a real tenant's key; every response must be below
500 and match the documented status codes, content types and schemas.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest

from api.app import create_app
from api.settings import RateLimitPolicy, RateLimitSettings
from testkit.asgi import served

from .conftest import Stack, TenantKey, inbound

pytestmark = [pytest.mark.integration]

EXAMPLES_PER_MODE = 30
CLIENT = Path(__file__).with_name("openapi_fuzz_client.py")


async def fuzz_in_a_process(
    tmp_path: Path, document: dict[str, object], base_url: str, known: dict[str, str], headers: dict[str, str]
) -> tuple[int, list[str]]:
    """Run `openapi_fuzz_client` beside this loop (which serves the api); (requests sent, failures)."""
    given = tmp_path / "fuzz-input.json"
    given.write_text(
        json.dumps(
            {
                "document": document,
                "base_url": base_url,
                "known": known,
                "headers": headers,
                "examples": EXAMPLES_PER_MODE,
            }
        )
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CLIENT),
        str(given),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode(errors="replace")[-5000:]
    result = json.loads(out)
    return int(result["sent"]), list(result["failures"])


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
    stack: Stack, tenant: TenantKey, tmp_path: Path
) -> None:
    settings = stack.api_settings(
        rate_limit=RateLimitSettings(default=RateLimitPolicy(limit=1_000_000, window_s=60))
    )
    app = create_app(settings)
    async with served(app) as url:
        async with httpx.AsyncClient(base_url=url, headers=tenant.headers, timeout=30) as client:
            document = (await client.get("/openapi.json")).json()
            known = await known_ids(client, stack, tenant)
        sent, failures = await fuzz_in_a_process(tmp_path, document, url, known, tenant.headers)
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
