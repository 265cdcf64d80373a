"""Tenants and API keys: the `mirage-admin` CLI, hashing, rotation, revocation, authentication."""

from __future__ import annotations

import hashlib
import io
import json
import uuid

import pytest

from api.admin_cli import run_admin
from database import Pool, PostgresSettings

from .conftest import Api, new_tenant

pytestmark = pytest.mark.integration


async def admin(postgres: PostgresSettings, *argv: str) -> tuple[int, dict[str, object], str]:
    out, err = io.StringIO(), io.StringIO()
    code = await run_admin(["--dsn", postgres.dsn.get_secret_value(), "--json", *argv], out, err)
    return code, json.loads(out.getvalue()) if out.getvalue() else {}, err.getvalue()


async def test_cli_creates_a_tenant_with_a_key_shown_once_and_stored_hashed(
    postgres_settings: PostgresSettings, db_pool: Pool, shared_api: Api
) -> None:
    slug = f"loja-{uuid.uuid4().hex[:8]}"
    code, created, _ = await admin(postgres_settings, "tenants", "create", slug, "--name", "Loja Centro")
    assert code == 0
    key = created["key"]
    assert isinstance(key, dict)
    secret = key["secret"]
    assert isinstance(secret, str)
    assert secret.startswith("mrg_live_")
    assert len(secret) >= 40
    assert key["prefix"] == secret[:13]
    stored = await db_pool.fetchrow(
        "SELECT prefix, key_hash FROM api_keys WHERE id = $1", uuid.UUID(str(key["id"]))
    )
    assert stored is not None
    assert stored["key_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(dict(stored))

    # Listing shows prefixes, never secrets.
    code, listed, _ = await admin(postgres_settings, "keys", "list", slug)
    assert code == 0
    assert secret not in json.dumps(listed)

    me = await shared_api.client.get("/tenant", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200, me.text
    assert me.json()["slug"] == slug
    assert me.json()["time_zone"] == "America/Sao_Paulo"
    via_header = await shared_api.client.get("/tenant", headers={"X-API-Key": secret})
    assert via_header.status_code == 200


async def test_rotation_and_revocation(postgres_settings: PostgresSettings, shared_api: Api) -> None:
    slug = f"rot-{uuid.uuid4().hex[:8]}"
    await admin(postgres_settings, "tenants", "create", slug, "--name", "Rotating", "--no-key")
    code, issued, _ = await admin(postgres_settings, "keys", "issue", slug, "--name", "ci")
    assert code == 0
    first = issued["key"]
    assert isinstance(first, dict)
    first_secret = str(first["secret"])
    assert (await shared_api.client.get("/tenant", headers={"X-API-Key": first_secret})).status_code == 200

    code, rotated, _ = await admin(postgres_settings, "keys", "rotate", str(first["id"]))
    assert code == 0
    second = rotated["key"]
    assert isinstance(second, dict)
    second_secret = str(second["secret"])
    assert second["name"] == "ci"
    old = await shared_api.client.get("/tenant", headers={"X-API-Key": first_secret})
    assert old.status_code == 401
    assert old.json()["error"]["code"] == "unauthorized"
    assert old.headers["www-authenticate"] == "Bearer"
    assert (await shared_api.client.get("/tenant", headers={"X-API-Key": second_secret})).status_code == 200

    code, _, _ = await admin(postgres_settings, "keys", "revoke", str(second["id"]))
    assert code == 0
    assert (await shared_api.client.get("/tenant", headers={"X-API-Key": second_secret})).status_code == 401
    # Rotating a revoked key is refused.
    code, _, error = await admin(postgres_settings, "keys", "rotate", str(second["id"]))
    assert code == 1
    assert "revoked" in error


async def test_cli_refuses_bad_input(postgres_settings: PostgresSettings) -> None:
    slug = f"dup-{uuid.uuid4().hex[:8]}"
    assert (await admin(postgres_settings, "tenants", "create", slug, "--name", "A"))[0] == 0
    code, _, error = await admin(postgres_settings, "tenants", "create", slug, "--name", "B")
    assert (code, "exists" in error) == (1, True)
    code, _, error = await admin(postgres_settings, "tenants", "create", "Bad Slug", "--name", "C")
    assert code == 1
    code, _, error = await admin(
        postgres_settings, "tenants", "create", f"tz-{slug}", "--name", "D", "--time-zone", "Mars/Olympus"
    )
    assert (code, "time zone" in error) == (1, True)
    code, _, error = await admin(postgres_settings, "keys", "issue", "nobody-here")
    assert code == 1
    code, _, error = await admin(postgres_settings, "keys", "revoke", str(uuid.uuid4()))
    assert code == 1


async def test_cli_reports_an_unreachable_database() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = await run_admin(
        ["--dsn", "postgresql://mirage:mirage@127.0.0.1:1/mirage", "tenants", "list"], out, err
    )
    assert code == 2
    assert "PostgreSQL" in err.getvalue()


async def test_missing_or_malformed_credentials_are_401(shared_api: Api) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}, {"X-API-Key": "nope"}):
        response = await shared_api.client.get("/instances", headers=headers)
        assert response.status_code == 401, headers
        assert set(response.json()) == {"error"}


async def test_tenant_settings_can_be_changed(shared_api: Api, db_pool: Pool) -> None:
    tenant = await new_tenant(db_pool)
    changed = await shared_api.client.patch(
        "/tenant",
        json={
            "alert_webhook_url": "http://127.0.0.1:9/alerts",
            "alert_cooldown_s": 60,
            "admin_phone": "+55 11 99999-0000",
        },
        headers=tenant.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["alert_webhook_url"] == "http://127.0.0.1:9/alerts"
    assert changed.json()["admin_phone"] == "5511999990000"
    bad = await shared_api.client.patch("/tenant", json={"time_zone": "America"}, headers=tenant.headers)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_time_zone"
    cleared = await shared_api.client.patch(
        "/tenant", json={"alert_webhook_url": None}, headers=tenant.headers
    )
    assert cleared.json()["alert_webhook_url"] is None
