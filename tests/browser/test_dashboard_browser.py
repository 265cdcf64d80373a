"""The dashboard as an operator uses it, in Chromium: sign in, pair a number, read and steer
conversations, try a persona, acknowledge an alert. Screenshots of each page are kept."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
from playwright.async_api import Locator, Page, expect

from testkit import wait_until

from .conftest import Dashboard, Tenant, screenshot


async def sign_in(page: Page, dashboard: Dashboard, tenant: Tenant, lang: str = "en") -> None:
    """Open the dashboard and sign in with the tenant's API key."""
    await page.goto(f"{dashboard.url}/?lang={lang}")
    label, button = ("API key", "Sign in") if lang == "en" else ("Chave de API", "Entrar")
    await page.get_by_label(label).fill(tenant.key)
    await page.get_by_role("button", name=button).click()
    await expect(
        page.get_by_role("button", name="New instance" if lang == "en" else "Nova instância")
    ).to_be_visible()


def nav(page: Page, name: str) -> Locator:
    """A link of the main navigation."""
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


async def api(dashboard: Dashboard, tenant: Tenant, method: str, path: str, **kwargs: Any) -> Any:
    """A call to the JSON api with the tenant's key."""
    async with httpx.AsyncClient(base_url=dashboard.url, headers=tenant.headers, timeout=30) as client:
        response = await client.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None


async def connected_instance(dashboard: Dashboard, tenant: Tenant) -> dict[str, Any]:
    """An instance created through the api and scanned at the simulator, seen connected."""
    instance: dict[str, Any] = await api(
        dashboard, tenant, "POST", "/instances", json={"name": f"loja-{uuid.uuid4().hex[:6]}"}
    )
    scanned = await dashboard.scan(instance["name"])
    states: list[str] = []

    async def connected() -> bool:
        found = await api(dashboard, tenant, "GET", f"/instances/{instance['id']}")
        states.append(found["state"])
        return bool(found["state"] == "connected")

    try:
        await wait_until(connected, timeout=20, message=f"{instance['name']} connected")
    except AssertionError as error:
        # Say where the pairing stopped: the scan's webhook as the simulator saw it, Mirage's states.
        webhooks = await dashboard.simulator("GET", "/_sim/webhooks", params={"instance": instance["name"]})
        raise AssertionError(
            f"{error}; scan answered {scanned}; states seen {sorted(set(states))}; webhooks {webhooks.json()}"
        ) from error
    return instance


async def test_sign_in_create_an_instance_and_see_it_connected_without_a_reload(
    page: Page, dashboard: Dashboard, tenant: Tenant
) -> None:
    started = time.monotonic()
    await page.goto(f"{dashboard.url}/?lang=en")
    await expect(page.get_by_role("heading", name="Sign in to Mirage")).to_be_visible()
    await screenshot(page, "sign-in")
    await page.get_by_label("API key").fill("mrg_live_not-a-key")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("unknown or was revoked")
    await page.get_by_label("API key").fill(tenant.key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    # A marker that a reload would wipe: everything below happens without one.
    await page.evaluate("window.__noReload = true")

    name = f"loja-{uuid.uuid4().hex[:6]}"
    await page.get_by_role("button", name="New instance").click()
    form = page.get_by_role("dialog", name="New instance")
    await expect(form).to_be_visible()
    await expect(page.get_by_label("Instance name")).to_be_focused()
    await page.get_by_label("Instance name").fill(name)
    await form.get_by_role("button", name="Create and show the QR code").click()

    dialog = page.get_by_role("dialog")
    await expect(dialog).to_have_count(1)
    image = dialog.get_by_role("img")
    await expect(image).to_be_visible()
    await expect(image).to_have_attribute("alt", re.compile("QR"))
    await expect(dialog).to_contain_text(re.compile(r"expires in [12]:\d\d"))
    await expect(dialog).not_to_contain_text("Connected")
    await screenshot(page, "instances-qr")

    await dashboard.scan(name)
    await expect(dialog).to_contain_text("Connected", timeout=20_000)
    await expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    assert await page.evaluate("window.__noReload === true"), "the page reloaded"
    await screenshot(page, "instances-connected")

    await dialog.get_by_role("button", name="Close").click()
    await expect(page.get_by_role("dialog")).to_have_count(0)
    row = page.locator("tr", has=page.get_by_role("rowheader", name=name))
    await expect(row).to_contain_text("Connected")
    await expect(page.get_by_role("button", name="New instance")).to_be_focused()
    await screenshot(page, "instances")
    print(f"browser: sign-in to connected in {time.monotonic() - started:.1f}s")


async def test_status_changes_and_actions_on_the_instance_list(
    page: Page, dashboard: Dashboard, tenant: Tenant
) -> None:
    lost = await connected_instance(dashboard, tenant)
    banned = await connected_instance(dashboard, tenant)
    await sign_in(page, dashboard, tenant)
    await expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    await page.evaluate("window.__noReload = true")

    await dashboard.simulator("POST", f"/_sim/instances/{lost['name']}/disconnect", json={"reason": 401})
    await dashboard.simulator("POST", f"/_sim/instances/{banned['name']}/disconnect", json={"reason": 403})
    lost_row = page.locator(f"#instance-{lost['id']}")
    banned_row = page.locator(f"#instance-{banned['id']}")
    await expect(lost_row).to_contain_text("Needs a new QR")
    await expect(lost_row).to_contain_text("Scan a new QR code")
    await expect(banned_row).to_contain_text("Likely banned")
    await expect(banned_row).to_contain_text("probably banned")
    await screenshot(page, "instances-lost-and-banned")

    await lost_row.get_by_role("button", name=re.compile("^Delete")).click()
    confirm = page.get_by_role("dialog", name=f"Delete {lost['name']}?")
    await expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    await confirm.get_by_role("button", name="Delete", exact=True).click()
    await expect(lost_row).to_have_count(0)
    assert await page.evaluate("window.__noReload === true")


async def test_conversations_thread_shows_the_guard_and_takes_over(
    page: Page, dashboard: Dashboard, tenant: Tenant
) -> None:
    instance = await connected_instance(dashboard, tenant)
    phone = f"55119{uuid.uuid4().int % 10**8:08d}"
    await dashboard.simulator(
        "POST",
        f"/_sim/instances/{instance['name']}/inbound",
        json={"from": phone, "text": "Oi! Vocês abrem no sábado?", "push_name": "Ana Souza"},
    )

    async def answered() -> bool:
        sent = await dashboard.simulator("GET", "/_sim/sent", params={"number": phone})
        return bool(sent.json())

    await wait_until(answered, timeout=30, message="the persona's reply sent")
    await sign_in(page, dashboard, tenant)
    await nav(page, "Conversations").click()
    await expect(page.get_by_role("heading", name="Conversations", exact=True)).to_be_visible()
    await screenshot(page, "conversations")
    await page.get_by_role("link", name="Ana Souza").click()
    await expect(page.get_by_text("Oi! Vocês abrem no sábado?", exact=True)).to_be_visible()
    await expect(page.get_by_text(re.compile("Answered"))).to_be_visible()

    async def reply_shown() -> bool:
        await page.reload()
        return await page.locator(".msg.outbound").count() > 0

    await wait_until(reply_shown, timeout=20, message="the bot's reply in the thread")
    await screenshot(page, "conversation")
    await page.get_by_role("button", name="Take over (pause the bot)").click()
    await expect(page.get_by_role("status").first).to_contain_text("the bot is paused")
    await page.get_by_role("button", name="Resume the bot").click()
    await expect(page.get_by_role("button", name="Take over (pause the bot)")).to_be_visible()


async def test_persona_created_and_tried_in_the_sandbox(
    page: Page, dashboard: Dashboard, tenant: Tenant
) -> None:
    await sign_in(page, dashboard, tenant)
    await nav(page, "Personas").click()
    await page.get_by_role("link", name="New persona").click()
    await page.get_by_label("Name").fill("Bia da Loja")
    await page.get_by_label("Instructions (system prompt)").fill(
        "Você é a Bia, atendente da Loja Centro. Responda curto e com simpatia."
    )
    await page.get_by_role("button", name="Create persona").click()
    await expect(page.get_by_role("heading", name="Persona Bia da Loja")).to_be_visible()
    await expect(page.get_by_role("status").first).to_contain_text("Persona created")

    message = page.get_by_label("Message as a contact")
    await message.fill("Qual o horário de sábado?")
    await message.press("Enter")
    transcript = page.locator("#sandbox-transcript")
    await expect(transcript.locator(".msg.outbound")).to_contain_text("Qual o horário de sábado?")
    await expect(page.locator("#sandbox-meta")).to_contain_text("Model")
    await expect(message).to_be_focused()
    await screenshot(page, "persona-sandbox")
    await nav(page, "Personas").click()
    await expect(page.get_by_role("link", name="Bia da Loja")).to_be_visible()
    await screenshot(page, "personas")


async def test_alerts_page_lists_and_acknowledges(page: Page, dashboard: Dashboard, tenant: Tenant) -> None:
    instance = await connected_instance(dashboard, tenant)
    await dashboard.simulator("POST", f"/_sim/instances/{instance['name']}/disconnect", json={"reason": 401})

    async def alerted() -> bool:
        found = await api(dashboard, tenant, "GET", "/alerts")
        return bool(found["items"])

    await wait_until(alerted, timeout=30, message="the logged-out alert")
    await sign_in(page, dashboard, tenant)
    await nav(page, "Alerts").click()
    row = page.locator("tbody tr").first
    await expect(row).to_contain_text(instance["name"])
    await screenshot(page, "alerts")
    await row.get_by_role("button", name=re.compile("^Acknowledge")).click()
    await expect(page.get_by_role("status").first).to_contain_text("Alert acknowledged")
    await expect(page.get_by_text("No alerts.")).to_be_visible()


async def test_portuguese_by_default_and_the_language_switch_is_remembered(
    page: Page, dashboard: Dashboard, tenant: Tenant
) -> None:
    await page.goto(dashboard.url)
    await expect(page.get_by_label("Chave de API")).to_be_visible()
    await page.get_by_label("Chave de API").fill(tenant.key)
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.get_by_role("button", name="Nova instância")).to_be_visible()
    await screenshot(page, "instances-pt-BR")
    await page.get_by_role("navigation", name="Idioma").get_by_role("link", name="English").click()
    await expect(page.get_by_role("button", name="New instance")).to_be_visible()
    await nav(page, "Alerts").click()
    await expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
    # Keyboard: the skip link is the first stop and lands on the content.
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
