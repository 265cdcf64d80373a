"""The api's security suite, generated from the app's own route table (its OpenAPI document).

- Every authenticated route answers 401 to a missing, forged, revoked or JWT-shaped key.
- Tenant isolation matrix: every route with an id, filled with tenant A's real ids, answers
  tenant B 404 (or, for phone-addressed routes, B's own empty view); every list shows B none
  of A's rows; A's data is unchanged afterwards. A new route is covered without editing this file
  (a new id name or body-taking route fails the test until it is given a value here).
- API keys are stored as SHA-256 only: no table of the database holds a key in clear.
- Error bodies never echo a secret.
- Every route refuses an oversized body with 413, declared or chunked.
- `/events` streams are limited per tenant.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from api.app import create_app
from api.settings import BodyLimitSettings, LiveSettings
from api.tenants import service as tenants
from database import Pool
from testkit import wait_until
from testkit.asgi import served

from .conftest import Api, Stack, TenantKey, connected_instance, inbound, new_tenant
from .sse_reader import SseReader

pytestmark = pytest.mark.integration

UNAUTHENTICATED = {"/livez", "/readyz", "/metrics", "/health", "/asyncapi", "/asyncapi.json"}
BODY_METHODS = {"post", "put", "patch"}

# A valid body for each route that takes one and addresses a resource by id: the 404 must come
# from the ownership check, not from validation.
BODIES: dict[str, dict[str, Any]] = {
    "PUT /instances/{instance_id}/persona": {"persona_id": None},
    "PATCH /personas/{persona_id}": {"name": "Roubada"},
    "POST /personas/{persona_id}/sandbox": {"messages": [{"role": "contact", "text": "oi"}]},
    "PATCH /warmup/pairs/{pair_id}": {"profile": "soft"},
}


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path template, operation) for every operation of the document."""
    return [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def path_parameters(operation: dict[str, Any]) -> list[dict[str, Any]]:
    """The operation's path parameters."""
    return [parameter for parameter in operation.get("parameters", []) if parameter["in"] == "path"]


def fill(path: str, values: dict[str, str]) -> str:
    """The path with its `{name}` parameters replaced."""
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


@pytest.fixture(scope="module")
async def document(stack: Stack) -> dict[str, Any]:
    """The api's OpenAPI document: the route table this suite is generated from."""
    app = create_app(stack.api_settings())
    result: dict[str, Any] = app.openapi()
    return result


# ----------------------------------------------------------------------------- authentication


async def test_every_authenticated_route_refuses_missing_forged_revoked_and_jwt_keys(
    shared_api: Api, tenant: TenantKey, document: dict[str, Any], db_pool: Pool
) -> None:
    revoked = await tenants.issue_key(db_pool, tenant.id, name="to-revoke")
    await db_pool.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", revoked.key.id)
    now = int(time.time())
    # Tokens that look like credentials but are none: the api takes API keys, never JWTs.
    hs_jwt = jwt.encode({"sub": str(tenant.id), "iat": now, "exp": now + 600}, tenant.key, "HS256")
    none_jwt = jwt.encode({"sub": str(tenant.id)}, None, "none")
    forged_keys = [
        tenant.key[:-1] + ("A" if tenant.key[-1] != "A" else "B"),  # one character off
        "mrg_live_" + "x" * 43,
        revoked.secret,
        hs_jwt,
        none_jwt,
        tenant.key.upper(),
        hashlib.sha256(tenant.key.encode()).hexdigest(),  # the stored hash is not a key
    ]
    header_sets: list[dict[str, str]] = [{}, {"Authorization": "Basic " + tenant.key}]
    for forged in forged_keys:
        header_sets += [{"Authorization": f"Bearer {forged}"}, {"X-API-Key": forged}]
    ids = {"phone": "5511999990000", "action": "pause"}
    checked = 0
    for method, path, operation in operations(document):
        if path in UNAUTHENTICATED or path == "/events":
            continue
        values = {p["name"]: ids.get(p["name"], str(uuid.uuid4())) for p in path_parameters(operation)}
        url = fill(path, values)
        for headers in header_sets:
            body: dict[str, Any] | None = {} if method.lower() in BODY_METHODS else None
            response = await shared_api.client.request(method, url, json=body, headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"
            for secret in (*forged_keys, tenant.key):
                assert secret not in response.text
            checked += 1
    assert checked >= 45 * len(header_sets)
    # The stream too.
    for headers in header_sets:
        assert (await shared_api.client.get("/events", headers=headers)).status_code == 401
    # And the real key works, so the refusals above are about the keys.
    assert (await shared_api.client.get("/tenant", headers=tenant.headers)).status_code == 200


async def test_api_keys_are_stored_as_sha256_and_no_table_holds_one_in_clear(
    db_pool: Pool, tenant: TenantKey
) -> None:
    row = await db_pool.fetchrow("SELECT * FROM api_keys WHERE tenant_id = $1", tenant.id)
    assert row is not None
    assert row["key_hash"] == hashlib.sha256(tenant.key.encode()).hexdigest()
    stored_text = " ".join(str(value) for value in row.values())
    assert tenant.key not in stored_text
    assert tenant.key[12:] not in stored_text  # not even beyond the visible prefix
    tables = await db_pool.fetch(
        "SELECT table_schema, table_name FROM information_schema.tables"
        " WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
    )
    assert len(tables) > 10
    for table in tables:
        found = await db_pool.fetchval(
            f'SELECT count(*) FROM "{table["table_schema"]}"."{table["table_name"]}" t'
            " WHERE strpos(t::text, $1) > 0",
            tenant.key,
        )
        assert found == 0, f"{table['table_schema']}.{table['table_name']} holds an API key in clear"


async def test_error_bodies_never_echo_a_secret(
    shared_api: Api, tenant: TenantKey, document: dict[str, Any]
) -> None:
    marker = tenant.key
    client = shared_api.client
    # Secrets in every wrong place of every body-taking route: wrong types, too long, unknown fields.
    for method, path, operation in operations(document):
        if method.lower() not in BODY_METHODS or path in UNAUTHENTICATED:
            continue
        values = {
            p["name"]: "5511999990000" if p["name"] == "phone" else marker for p in path_parameters(operation)
        }
        url = fill(path, {**values, "action": "pause"})
        for body in (
            {"name": marker * 50, "secret": marker, "phone": marker},
            [marker],
            marker,
            {"persona_id": marker, "quotas": {"daily": marker}},
        ):
            response = await client.request(method, url, json=body, headers=tenant.headers)
            assert response.status_code < 500, (method, path, response.text)
            assert marker not in response.text, (method, path, response.text)
        broken = await client.request(
            method, url, content=b'{"x": "' + marker.encode() + b'"', headers=tenant.headers
        )
        assert broken.status_code < 500, (method, path, broken.text)
        assert marker not in broken.text


# ------------------------------------------------------------------------------ isolation matrix


async def tenant_resources(api: Api, stack: Stack, owner: TenantKey, pool: Pool) -> dict[str, str]:
    """One of every addressable resource for `owner`: the ids the matrix fills paths with."""
    client, headers = api.client, owner.headers
    instance = await connected_instance(api, stack, owner)
    persona = await client.post(
        "/personas", json={"name": f"Secreta {uuid.uuid4().hex[:6]}"}, headers=headers
    )
    assert persona.status_code == 201, persona.text
    phone = f"55119{uuid.uuid4().int % 10**8:08d}"
    await inbound(stack, instance["name"], phone, f"texto-de-a-{uuid.uuid4().hex[:8]}")
    [conversation] = (await client.get("/conversations", headers=headers)).json()["items"]
    alert_id = await pool.fetchval(
        "INSERT INTO admin_alerts (tenant_id, alert_key, cause, severity, title)"
        " VALUES ($1, 'matrix', 'send_exhausted', 'warning', 'segredo de A') RETURNING id",
        owner.id,
    )
    blacklisted = f"55119{uuid.uuid4().int % 10**8:08d}"
    assert (await client.post("/blacklist", json={"phone": blacklisted}, headers=headers)).status_code in {
        200,
        201,
    }
    names = []
    for _ in range(2):
        name = f"mx-{uuid.uuid4().hex[:10]}"
        number = f"55119{uuid.uuid4().int % 10**8:08d}"
        await pool.execute(
            "INSERT INTO instances (tenant_id, name, webhook_secret, state, owner_jid)"
            " VALUES ($1, $2, 's', 'connected', $3)",
            owner.id,
            name,
            f"{number}@s.whatsapp.net",
        )
        names.append(name)
    pair = await client.post(
        "/warmup/pairs",
        json={
            "instance_a": names[0],
            "instance_b": names[1],
            "time_zone": "America/Sao_Paulo",
            "windows": [{"days": ["mon"], "start": "08:00", "end": "11:00"}],
            "min_gap_minutes": 45,
            "turns": {"min": 2, "max": 6},
            "profile": "normal",
        },
        headers=headers,
    )
    assert pair.status_code == 201, pair.text
    campaign = await client.post(
        "/outreach/campaigns",
        json={
            "name": f"Campanha {uuid.uuid4().hex[:6]}",
            "instances": [instance["name"]],
            "contacts": [{"phone": f"55119{uuid.uuid4().int % 10**8:08d}", "variables": {"name": "Ana"}}],
            "template": "Oi {{name}}",
            "window": [{"days": ["sun"], "start": "03:00", "end": "03:01"}],
        },
        headers=headers,
    )
    assert campaign.status_code == 201, campaign.text
    return {
        "instance_id": instance["id"],
        "instance_name": instance["name"],
        "persona_id": persona.json()["id"],
        "persona_name": persona.json()["name"],
        "conversation_id": conversation["id"],
        "alert_id": str(alert_id),
        "phone": phone,
        "blacklisted": blacklisted,
        "pair_id": pair.json()["id"],
        "campaign_id": campaign.json()["id"],
    }


async def test_tenant_b_gets_404_for_every_id_of_tenant_a_and_lists_never_leak(
    shared_api: Api,
    stack: Stack,
    tenant: TenantKey,
    other_tenant: TenantKey,
    db_pool: Pool,
    document: dict[str, Any],
) -> None:
    client = shared_api.client
    mine = await tenant_resources(shared_api, stack, tenant, db_pool)
    markers = {value for key, value in mine.items() if key not in {"phone", "blacklisted"}}
    # Tenant B has resources of its own, so its lists are not trivially empty.
    await client.post("/personas", json={"name": "Persona de B"}, headers=other_tenant.headers)

    probed: list[str] = []
    for method, path, operation in operations(document):
        parameters = path_parameters(operation)
        if not parameters or path in UNAUTHENTICATED:
            continue
        names = {parameter["name"] for parameter in parameters}
        unknown = names - set(mine) - {"action"}
        assert not unknown, f"{method} {path}: give the matrix a resource for {unknown}"
        key = f"{method} {path}"
        takes_body = "requestBody" in operation
        assert not takes_body or key in BODIES, f"{key}: give the matrix a valid body in BODIES"
        actions: list[str | None] = [None]
        if "action" in names:
            [action_parameter] = [p for p in parameters if p["name"] == "action"]
            actions = list(action_parameter["schema"]["enum"])
        for action in actions:
            values = {name: mine[name] for name in names if name != "action"}
            if action is not None:
                values["action"] = action
            url = fill(path, values)
            # Owner first (reads only): the id is real, so B's 404 below is about ownership.
            if method == "GET":
                owner = await client.get(url, headers=tenant.headers)
                assert owner.status_code == 200, (key, owner.text)
            response = await client.request(method, url, json=BODIES.get(key), headers=other_tenant.headers)
            leaked = [marker for marker in markers if marker in response.text]
            assert not leaked, (key, leaked, response.text)
            if names == {"phone"}:
                # Phones address the caller's own view of a number: B sees B's (empty) standing.
                assert response.status_code in {200, 404}, (key, response.text)
                if response.status_code == 200 and method == "GET":
                    body = response.json()
                    assert body["events"] == [], body
                    assert (body["opted_out"], body["blacklisted"]) == (False, False), body
            else:
                assert response.status_code == 404, (key, response.status_code, response.text)
                assert set(response.json()) == {"error"}
            probed.append(url)
    assert len(probed) >= 25

    # Every list and overview B can read shows none of A's rows.
    lists = 0
    for method, path, operation in operations(document):
        if method != "GET" or path_parameters(operation) or path in UNAUTHENTICATED or path == "/events":
            continue
        response = await client.get(path, headers=other_tenant.headers)
        assert response.status_code == 200, (path, response.text)
        leaked = [marker for marker in markers if marker in response.text]
        assert not leaked, (path, leaked)
        lists += 1
    assert lists >= 10

    # Nothing of A changed: every read still answers, the blacklist entry and the text are there.
    for path in (
        f"/instances/{mine['instance_id']}",
        f"/personas/{mine['persona_id']}",
        f"/conversations/{mine['conversation_id']}",
        f"/alerts/{mine['alert_id']}",
        f"/warmup/pairs/{mine['pair_id']}",
        f"/outreach/campaigns/{mine['campaign_id']}",
    ):
        assert (await client.get(path, headers=tenant.headers)).status_code == 200, path
    assert (await client.get(f"/personas/{mine['persona_id']}", headers=tenant.headers)).json()[
        "name"
    ] == mine["persona_name"]
    assert (await client.get(f"/alerts/{mine['alert_id']}", headers=tenant.headers)).json()[
        "acknowledged_at"
    ] is None
    blacklist = (await client.get("/blacklist", headers=tenant.headers)).text
    assert mine["blacklisted"] in blacklist
    messages = (
        await client.get(f"/conversations/{mine['conversation_id']}/messages", headers=tenant.headers)
    ).json()["items"]
    assert any(str(item.get("text", "")).startswith("texto-de-a-") for item in messages), messages
    campaign = (await client.get(f"/outreach/campaigns/{mine['campaign_id']}", headers=tenant.headers)).json()
    assert campaign["state"] == "running", campaign


# ---------------------------------------------------------------------------------- size limits


async def test_every_route_refuses_an_oversized_body_with_413(
    shared_api: Api, tenant: TenantKey, document: dict[str, Any]
) -> None:
    client = shared_api.client
    limits = shared_api.settings.body_limit
    refused = 0
    for method, path, operation in operations(document):
        values = {
            p["name"]: "pause" if p["name"] == "action" else str(uuid.uuid4())
            for p in path_parameters(operation)
        }
        url = fill(path, values)
        limit = limits.by_path.get(path, limits.default_bytes)
        body = b"x" * (limit + 1)
        response = await client.request(
            method, url, content=body, headers={**tenant.headers, "content-type": "application/json"}
        )
        assert response.status_code == 413, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "payload_too_large"
        refused += 1
    assert refused >= 50
    # The dashboard's forms too (not in the OpenAPI document).
    for path in ("/ui/personas/new", "/ui/logout", f"/ui/alerts/{uuid.uuid4()}/acknowledge"):
        response = await client.post(path, content=b"a=" + b"x" * limits.default_bytes)
        assert response.status_code == 413, (path, response.status_code)


async def test_a_chunked_body_is_cut_off_at_the_limit_and_a_body_below_it_passes(
    make_api: Any, tenant: TenantKey
) -> None:
    api = await make_api(body_limit=BodyLimitSettings(default_bytes=4096, by_path={}))

    async def chunks(total: int) -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            yield b" " * 1024
            sent += 1024

    # No Content-Length: counted as it is read.
    over = await api.client.post("/personas", content=chunks(64 * 1024), headers=tenant.headers)
    assert over.status_code == 413, over.text
    assert over.json()["error"]["code"] == "payload_too_large"
    fine = await api.client.post("/personas", json={"name": "x" * 50}, headers=tenant.headers)
    assert fine.status_code == 201, fine.text


# ----------------------------------------------------------------------------------- SSE limits


async def test_event_streams_are_limited_per_tenant(stack: Stack, tenant: TenantKey, db_pool: Pool) -> None:
    settings = stack.api_settings(live=LiveSettings(max_streams_per_tenant=3, ping_interval_s=0.5))
    app = create_app(settings)
    other = await new_tenant(db_pool, "sse")
    async with served(app) as url, httpx.AsyncClient(timeout=30) as client:
        readers = [SseReader(client, f"{url}/events", tenant.headers) for _ in range(3)]
        for reader in readers:
            reader.start()
        await _until(lambda: all(reader.named("snapshot") for reader in readers))
        refused = await client.get(f"{url}/events", headers=tenant.headers)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "too_many_streams"
        assert "retry-after" in refused.headers
        # Another tenant is not affected.
        theirs = SseReader(client, f"{url}/events", other.headers)
        theirs.start()
        await _until(lambda: bool(theirs.named("snapshot")))
        assert theirs.status == 200
        # A closed stream frees its place.
        await readers[0].stop()
        await _until(lambda: app.state.context.hub.streams(tenant.id) == 2)
        again = SseReader(client, f"{url}/events", tenant.headers)
        again.start()
        await _until(lambda: bool(again.named("snapshot")))
        assert again.status == 200
        for reader in (*readers[1:], theirs, again):
            await reader.stop()


async def _until(condition: Any) -> None:
    await wait_until(condition, timeout=15, message="streams")
