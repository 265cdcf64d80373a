"""The dashboard's routes against the real PostgreSQL, Redis and Kafka, the simulator and ingest."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from redis.asyncio import Redis

from api.alerts import repository as alerts
from api.dashboard.sessions import SESSION_COOKIE
from api.personas.sandbox import PersonaSandbox, SandboxModel
from api.tenants import service as tenants
from testkit import wait_until
from testkit.asgi import served

from ..conftest import Api, Stack, TenantKey, connected_instance, inbound, instance_name, new_tenant
from ..sse_reader import SseReader

CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def browser(api: Api) -> httpx.AsyncClient:
    """A client of the dashboard with a cookie jar of its own (a browser, for the routes)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api.app), base_url="http://api", timeout=30, follow_redirects=False
    )


@asynccontextmanager
async def signed_in(
    api: Api, tenant: TenantKey, lang: str = "en"
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A browser signed in as `tenant`, and its CSRF token."""
    async with browser(api) as client:
        response = await client.post(
            f"/ui/login?lang={lang}",
            data={"api_key": tenant.key, "next": "/"},
            headers={"Origin": "http://api"},
        )
        assert response.status_code == 303, response.text
        page = await client.get("/")
        assert page.status_code == 200, page.text
        match = CSRF.search(page.text)
        assert match is not None
        yield client, match.group(1)


async def test_signed_out_browser_goes_to_sign_in_with_english_labels(shared_api: Api) -> None:
    async with browser(shared_api) as client:
        home = await client.get("/?lang=en")
        assert home.status_code == 303
        assert home.headers["location"] == "/ui/login"
        assert "mirage_lang=en" in home.headers["set-cookie"]
        page = await client.get(home.headers["location"])
        assert page.status_code == 200
        assert '<html lang="en">' in page.text
        assert '<label for="api-key">API key</label>' in page.text
        assert ">Sign in</button>" in page.text
        assert "Content-Security-Policy" in page.headers
        # Portuguese by default.
        async with browser(shared_api) as fresh:
            default = await fresh.get("/ui/login")
            assert '<html lang="pt-BR">' in default.text
            assert "Chave de API" in default.text


async def test_sign_in_keeps_only_a_session_id_in_an_httponly_strict_cookie(
    shared_api: Api, tenant: TenantKey
) -> None:
    async with browser(shared_api) as client:
        refused = await client.post("/ui/login?lang=en", data={"api_key": "mrg_live_wrong"})
        assert refused.status_code == 401
        assert "unknown or was revoked" in refused.text
        assert SESSION_COOKIE not in refused.headers.get("set-cookie", "")

        response = await client.post("/ui/login", data={"api_key": tenant.key, "next": "/ui/personas"})
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/personas"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
        session_id = client.cookies[SESSION_COOKIE]
        assert tenant.key not in cookie
        assert session_id != tenant.key

        # Redis holds the session under the id's hash, with the key's hash, never the key.
        redis = Redis.from_url(shared_api.settings.redis.url.get_secret_value())
        try:
            prefix = shared_api.settings.redis.key_prefix
            digest = hashlib.sha256(session_id.encode()).hexdigest()
            stored = await redis.get(f"{prefix}dashboard:session:{digest}")
            assert stored is not None
            assert tenant.key.encode() not in stored
            assert session_id.encode() not in stored
        finally:
            await redis.aclose()

        assert (await client.get("/ui/personas")).status_code == 200
        # A next page on another site is never followed.
        async with browser(shared_api) as other:
            away = await other.post("/ui/login", data={"api_key": tenant.key, "next": "//evil.example/x"})
            assert away.headers["location"] == "/"


async def test_cross_site_and_tokenless_changes_are_refused(shared_api: Api, tenant: TenantKey) -> None:
    async with signed_in(shared_api, tenant) as (client, csrf):
        no_token = await client.post("/ui/api/instances", json={"name": instance_name()})
        assert no_token.status_code == 403
        cross_site = await client.post(
            "/ui/api/instances",
            json={"name": instance_name()},
            headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"},
        )
        assert cross_site.status_code == 403
        form = await client.post("/ui/logout", data={"csrf_token": "wrong"})
        assert form.status_code == 403
        assert (await client.get("/")).status_code == 200  # still signed in
        async with browser(shared_api) as elsewhere:
            refused = await elsewhere.post(
                "/ui/login", data={"api_key": tenant.key}, headers={"Origin": "http://evil.example"}
            )
            assert refused.status_code == 403


async def test_instances_are_tenant_scoped_and_created_with_a_qr(
    shared_api: Api, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    theirs = await shared_api.client.post(
        "/instances", json={"name": instance_name("theirs")}, headers=other_tenant.headers
    )
    assert theirs.status_code == 201
    async with signed_in(shared_api, tenant) as (client, csrf):
        name = instance_name("mine")
        created = await client.post("/ui/api/instances", json={"name": name}, headers={"X-CSRF-Token": csrf})
        assert created.status_code == 201, created.text
        instance = created.json()
        assert instance["state"] == "open"

        qr = await client.get(f"/ui/api/instances/{instance['id']}/qr")
        assert qr.status_code == 200
        body = qr.json()
        assert body["qr_data_url"].startswith("data:image/png;base64,")
        expires = datetime.fromisoformat(body["expires_at"])
        assert 100 < (expires - datetime.fromisoformat(body["server_time"])).total_seconds() <= 120

        page = await client.get("/")
        assert name in page.text
        assert theirs.json()["name"] not in page.text
        rows = await client.get("/ui/api/instances/rows")
        assert f'id="instance-{instance["id"]}"' in rows.text
        assert "Waiting for scan" in rows.text

        for path in (
            f"/ui/api/instances/{theirs.json()['id']}/qr",
            f"/ui/api/instances/{theirs.json()['id']}/status",
        ):
            assert (await client.get(path)).status_code == 404
        stolen = await client.delete(
            f"/ui/api/instances/{theirs.json()['id']}", headers={"X-CSRF-Token": csrf}
        )
        assert stolen.status_code == 404

        taken = await client.post("/ui/api/instances", json={"name": name}, headers={"X-CSRF-Token": csrf})
        assert taken.status_code == 409
        assert taken.json()["error"]["code"] == "instance_name_taken"


async def test_scan_reaches_the_event_stream_and_disconnect_then_reconnect(
    shared_api: Api, stack: Stack, tenant: TenantKey
) -> None:
    async with signed_in(shared_api, tenant) as (client, csrf):
        name = instance_name()
        created = (
            await client.post("/ui/api/instances", json={"name": name}, headers={"X-CSRF-Token": csrf})
        ).json()
        cookie = {"Cookie": f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"}
        # A real socket: the in-process transport would buffer the endless stream.
        async with served(shared_api.app, lifespan="off") as url, httpx.AsyncClient(timeout=30) as streaming:
            reader = SseReader(streaming, f"{url}/ui/api/events", cookie)
            reader.start()
            await wait_until(lambda: bool(reader.named("snapshot")), timeout=10, message="snapshot")
            await stack.scan(name)

            def connected_event() -> bool:
                return any(
                    e.json()["instance_id"] == created["id"] and e.json()["current"] == "connected"
                    for e in reader.named("instance.status_changed")
                )

            await wait_until(connected_event, timeout=20, message="connected on the dashboard's stream")
            await reader.stop()
        rows = await client.get("/ui/api/instances/rows")
        assert "Connected" in rows.text

        closed = await client.post(
            f"/ui/api/instances/{created['id']}/disconnect", headers={"X-CSRF-Token": csrf}
        )
        assert closed.status_code == 200, closed.text
        assert closed.json()["state"] == "closed"
        assert "Logged out" in (await client.get("/ui/api/instances/rows")).text
        again = await client.get(f"/ui/api/instances/{created['id']}/qr")
        assert again.status_code == 200, again.text
        assert again.json()["state"] == "open"
        assert again.json()["qr_data_url"]


async def test_lost_and_banned_numbers_are_explained(
    shared_api: Api, stack: Stack, tenant: TenantKey
) -> None:
    logged_out = await connected_instance(shared_api, stack, tenant)
    banned = await connected_instance(shared_api, stack, tenant)
    await stack.disconnect(logged_out["name"], 401)
    await stack.disconnect(banned["name"], 403)
    async with signed_in(shared_api, tenant) as (client, _):

        async def explained() -> bool:
            text = (await client.get("/ui/api/instances/rows")).text
            return "Needs a new QR" in text and "Likely banned" in text

        await wait_until(explained, timeout=20, message="401 and 403 explained")
        text = (await client.get("/ui/api/instances/rows")).text
        assert "code 401" in text
        assert "probably banned" in text
        assert "Sending stopped" in text


async def test_sign_out_and_revoked_keys_end_the_session(shared_api: Api, db_pool: Any) -> None:
    tenant = await new_tenant(db_pool, "so")
    async with signed_in(shared_api, tenant) as (client, csrf):
        out = await client.post("/ui/logout", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert out.headers["location"].startswith("/ui/login")
        assert (await client.get("/")).status_code == 303
    key = await tenants.issue_key(db_pool, tenant.id, "second")
    second = TenantKey(id=tenant.id, slug=tenant.slug, key=key.secret)
    async with signed_in(shared_api, second) as (client, _):
        await tenants.revoke_key(db_pool, key.key.id)
        assert (await client.get("/")).status_code == 303
        assert (await client.get("/ui/api/instances/rows")).status_code == 401


async def test_conversations_show_the_thread_and_take_over(
    shared_api: Api, stack: Stack, tenant: TenantKey
) -> None:
    instance = await connected_instance(shared_api, stack, tenant)
    phone = f"55119{uuid.uuid4().int % 10**8:08d}"
    await inbound(stack, instance["name"], phone, "oi, tem horário amanhã?")

    async def listed() -> list[dict[str, Any]]:
        response = await shared_api.client.get(
            "/conversations", params={"instance_id": instance["id"]}, headers=tenant.headers
        )
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    await wait_until(listed, timeout=15, message="conversation stored")
    conversation = (await listed())[0]
    async with signed_in(shared_api, tenant) as (client, csrf):
        page = await client.get("/ui/conversations", params={"instance_id": instance["id"]})
        assert page.status_code == 200
        assert f"/ui/conversations/{conversation['id']}" in page.text
        thread = await client.get(f"/ui/conversations/{conversation['id']}")
        assert "oi, tem horário amanhã?" in thread.text
        assert "Take over (pause the bot)" in thread.text

        paused = await client.post(f"/ui/conversations/{conversation['id']}/pause", data={"csrf_token": csrf})
        assert paused.status_code == 303
        after = await client.get(paused.headers["location"])
        assert "the bot is paused in this conversation" in after.text
        assert "Resume the bot" in after.text
        state = await shared_api.client.get(f"/conversations/{conversation['id']}", headers=tenant.headers)
        assert state.json()["state"] == "paused"

        resumed = await client.post(
            f"/ui/conversations/{conversation['id']}/resume", data={"csrf_token": csrf}
        )
        assert resumed.status_code == 303
        state = await shared_api.client.get(f"/conversations/{conversation['id']}", headers=tenant.headers)
        assert state.json()["state"] == "active"
        assert (await client.get(f"/ui/conversations/{uuid.uuid4()}")).status_code == 404


def persona_form(csrf: str, **fields: str) -> dict[str, str]:
    """A persona form post: Bia's fields, with `fields` changed or added."""
    base = {
        "csrf_token": csrf,
        "name": "Bia",
        "system_prompt": "Você é a Bia.",
        "language": "pt-BR",
        "max_length": "300",
        "temperature": "0.5",
        "model": "",
    }
    return {**base, **fields}


async def test_personas_are_created_edited_and_tried_in_the_sandbox(
    shared_api: Api, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    async with signed_in(shared_api, tenant) as (client, csrf):
        form = await client.get("/ui/personas/new")
        assert 'name="system_prompt"' in form.text
        invalid = await client.post(
            "/ui/personas/new",
            data=persona_form(csrf, system_prompt="x", max_length="5"),
        )
        assert invalid.status_code == 422
        assert 'aria-invalid="true"' in invalid.text
        created = await client.post(
            "/ui/personas/new",
            data=persona_form(
                csrf,
                temperature="0,5",
                emoji="on",
                media_video="silence",
                media_sticker="acknowledge",
                media_document="own",
                media_document_text="Recebi seu documento! Já vou olhar.",
                media_audio_fallback="Não consegui ouvir seu áudio. Pode escrever?",
                media_image_fallback="",
            ),
        )
        assert created.status_code == 303, created.text
        persona_id = created.headers["location"].split("/")[-1].split("?")[0]
        stored = (await shared_api.client.get(f"/personas/{persona_id}", headers=tenant.headers)).json()
        assert stored["temperature"] == 0.5
        assert stored["emoji"] is True
        assert stored["model"] is None
        assert stored["media_replies"] == {
            "video": "silence",
            "sticker": "acknowledge",
            "document": "Recebi seu documento! Já vou olhar.",
            "audio_fallback": "Não consegui ouvir seu áudio. Pode escrever?",
        }
        page = await client.get(f"/ui/personas/{persona_id}?lang=pt-BR")
        assert "Quando a mensagem não tem texto" in page.text
        video_choice = re.search(r'<select id="media_video"[^>]*>.*?</select>', page.text, re.S)
        assert video_choice is not None
        assert '<option value="silence" selected>' in video_choice.group(0)
        assert 'value="Recebi seu documento! Já vou olhar."' in page.text

        # An own text that reads like a misspelt choice is refused under its kind, nothing saved.
        refused = await client.post(
            f"/ui/personas/{persona_id}",
            data=persona_form(csrf, media_video="own", media_video_text="silent"),
        )
        assert refused.status_code == 422
        assert 'id="media_video-error"' in refused.text
        assert 'value="silent"' in refused.text, "what was typed is shown again"
        unchanged = (await shared_api.client.get(f"/personas/{persona_id}", headers=tenant.headers)).json()
        assert unchanged["media_replies"] == stored["media_replies"]

        edited = await client.post(
            f"/ui/personas/{persona_id}",
            data=persona_form(csrf, name="Bia 2", language="en", temperature="1", model="gpt-test"),
        )
        assert edited.status_code == 303
        stored = (await shared_api.client.get(f"/personas/{persona_id}", headers=tenant.headers)).json()
        assert (stored["name"], stored["emoji"], stored["model"]) == ("Bia 2", False, "gpt-test")
        assert stored["media_replies"] == {}, "the form is the whole persona: no media choice is the defaults"

        reply = await client.post(
            f"/ui/api/personas/{persona_id}/sandbox",
            json={"messages": [{"role": "contact", "text": "oi"}]},
            headers={"X-CSRF-Token": csrf},
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["offline"] is True
        assert "«oi»" in reply.json()["reply"]

        # Other tenants' personas do not exist here, on the page or in the sandbox.
        theirs = await shared_api.client.post(
            "/personas", json={"name": "Theirs"}, headers=other_tenant.headers
        )
        assert (await client.get(f"/ui/personas/{theirs.json()['id']}")).status_code == 404
        assert (
            await client.post(
                f"/ui/api/personas/{theirs.json()['id']}/sandbox",
                json={"messages": [{"role": "contact", "text": "oi"}]},
                headers={"X-CSRF-Token": csrf},
            )
        ).status_code == 404


async def test_sandbox_api_route_uses_the_configured_model(
    shared_api: Api, stack: Stack, tenant: TenantKey
) -> None:
    persona = (await shared_api.client.post("/personas", json={"name": "Sim"}, headers=tenant.headers)).json()
    previous = getattr(shared_api.app.state, "persona_sandbox", None)
    shared_api.app.state.persona_sandbox = PersonaSandbox(
        SandboxModel(api_key="sk-sim", base_url=f"{stack.simulator_url}/v1", model="sim-model", timeout_s=10)
    )
    try:
        answer = await shared_api.client.post(
            f"/personas/{persona['id']}/sandbox",
            json={"messages": [{"role": "contact", "text": "qual o horário?"}], "contact_name": "Ana"},
            headers=tenant.headers,
        )
    finally:
        shared_api.app.state.persona_sandbox = previous
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["offline"] is False
    assert "qual o horário?" in body["reply"]
    assert body["parts"] == [body["reply"]]


async def test_alerts_are_listed_and_acknowledged(shared_api: Api, tenant: TenantKey) -> None:
    async with shared_api.pool.acquire() as conn, conn.transaction():
        recorded = await alerts.record(
            conn,
            alerts.Occurrence(
                tenant_id=tenant.id,
                alert_key=f"test:{uuid.uuid4()}",
                cause="send_exhausted",
                severity="critical",
                title="Envio falhou",
                detail="3 tentativas",
                context={},
                instance_id=None,
                conversation_id=None,
                occurred_at=datetime.now(UTC),
            ),
        )
    assert recorded is not None
    alert = recorded[0]
    async with signed_in(shared_api, tenant) as (client, csrf):
        page = await client.get("/ui/alerts")
        assert "Envio falhou" in page.text
        assert "Critical" in page.text
        done = await client.post(f"/ui/alerts/{alert.id}/acknowledge", data={"csrf_token": csrf})
        assert done.status_code == 303
        assert "Envio falhou" not in (await client.get("/ui/alerts")).text
        assert "Acknowledged" in (await client.get("/ui/alerts?show=all")).text


async def test_static_assets_are_versioned_and_pages_are_not_cached(
    shared_api: Api, tenant: TenantKey
) -> None:
    async with signed_in(shared_api, tenant) as (client, _):
        page = await client.get("/")
        assert page.headers["cache-control"] == "no-store"
        urls = re.findall(r"(/ui/static/[a-z]+\.(?:css|js)\?v=[0-9a-f]+)", page.text)
        assert len(urls) >= 3
        for url in urls:
            asset = await client.get(url)
            assert asset.status_code == 200
            assert "immutable" in asset.headers["cache-control"]
        assert (await client.get("/ui/static/../settings.py")).status_code == 404
        assert (await client.get("/ui/static/nothing.js")).status_code == 404
