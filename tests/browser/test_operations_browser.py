"""Campaigns, warm-up pairs and metrics in Chromium: a CSV uploaded with its rejected rows shown
and the campaign steered, a warm-up pair drawn on the weekly grid (mouse and keyboard) whose
round appears on the timeline, and a chart whose numbers are the `/stats` api's."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from playwright.async_api import Dialog, FilePayload, Page, expect

from testkit import wait_until

from .conftest import Dashboard, Tenant, screenshot
from .test_dashboard_browser import api, connected_instance, nav, sign_in

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def accept_confirmations(page: Page) -> None:
    """Answer OK to the page's `confirm()` questions (cancel a campaign, delete a pair)."""

    def accept(dialog: Dialog) -> None:
        asyncio.ensure_future(dialog.accept())  # noqa: RUF006

    page.on("dialog", accept)


async def test_campaign_csv_upload_shows_rejected_rows_then_progress(
    page: Page, dashboard: Dashboard, tenant: Tenant
) -> None:
    started = time.monotonic()
    instance = await connected_instance(dashboard, tenant)
    phones = [f"55119{uuid.uuid4().int % 10**8:08d}" for _ in range(2)]
    csv_text = (
        "phone;name\n"
        f"{phones[0]};Ana\n"
        "12345;Bia\n"
        f"+{phones[1][:2]} ({phones[1][2:4]}) {phones[1][4:9]}-{phones[1][9:]};Caio\n"
        f"{phones[0]};Ana outra vez\n"
    )
    await sign_in(page, dashboard, tenant)
    await nav(page, "Campaigns").click()
    await expect(page.get_by_role("heading", name="Campaigns", exact=True)).to_be_visible()
    await page.get_by_role("link", name="New campaign").click()
    await page.get_by_label("Campaign name").fill("Ofertas de sábado")
    await page.get_by_role("checkbox", name=re.compile(re.escape(instance["name"]))).check()
    await page.get_by_label("Message template").fill("Oi {{ name }}, temos ofertas no sábado!")
    upload: FilePayload = {"name": "contatos.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}
    await page.get_by_label("Contacts (CSV file)").set_input_files(files=upload)
    await page.get_by_text("Window and pacing (optional)").click()
    await page.get_by_label("Shortest pause between two sends of a number (seconds)").fill("0")
    await page.get_by_label("Longest pause (seconds)").fill("0")
    await screenshot(page, "campaign-new")
    await page.get_by_role("button", name="Upload and start the campaign").click()

    await expect(page.get_by_role("heading", name="Campaign Ofertas de sábado created")).to_be_visible()
    await expect(page.get_by_role("status").first).to_contain_text(
        "4 rows, 2 accepted and being sent, 2 rejected"
    )
    rejected = page.locator("#rejected-rows tbody tr")
    await expect(rejected).to_have_count(2)
    await expect(rejected.nth(0)).to_contain_text("12345")
    await expect(rejected.nth(0)).to_contain_text("Invalid phone number")
    await expect(rejected.nth(1)).to_contain_text("Duplicate of an earlier row")
    # The file's line numbers (the header is line 1) beside the api's row indexes.
    await expect(rejected.nth(0).locator("td").nth(0)).to_have_text("3")
    await expect(rejected.nth(1).locator("td").nth(0)).to_have_text("5")
    await screenshot(page, "campaign-report")

    await page.get_by_role("link", name="Open the campaign").click()
    campaign_id = page.url.rstrip("/").split("/")[-1]
    stored = await api(dashboard, tenant, "GET", f"/outreach/campaigns/{campaign_id}")
    assert (stored["accepted"], stored["rejected"]) == (2, 2)
    sent = page.locator('#campaign-counts a[data-state="sent"]')

    async def all_sent() -> bool:
        await page.reload()
        return (await sent.text_content() or "").strip().endswith(": 2")

    await wait_until(all_sent, timeout=60, interval=1, message="both targets sent")
    await expect(page.locator("#campaign-state")).to_have_text("Completed")
    await page.get_by_role("link", name="Sent (2)").click()
    await expect(page.locator("#targets tbody tr")).to_have_count(2)
    await expect(page.locator("#targets")).to_contain_text(instance["name"])
    await screenshot(page, "campaign")
    await nav(page, "Campaigns").click()
    await expect(page.get_by_role("link", name="Ofertas de sábado")).to_be_visible()
    await screenshot(page, "campaigns")
    print(f"browser: campaign upload to all sent in {time.monotonic() - started:.1f}s")


async def test_campaign_pause_resume_cancel(page: Page, dashboard: Dashboard, tenant: Tenant) -> None:
    instance = await connected_instance(dashboard, tenant)
    contacts = [{"phone": f"55119{uuid.uuid4().int % 10**8:08d}"} for _ in range(3)]
    created = await api(
        dashboard,
        tenant,
        "POST",
        "/outreach/campaigns",
        json={
            "name": "Lenta",
            "instances": [instance["name"]],
            "contacts": contacts,
            "template": "Oi!",
            # One send, then a long pause: the rest wait while the operator steers.
            "pacing": {"min_gap_s": 3600, "max_gap_s": 3600},
        },
    )
    accept_confirmations(page)
    await sign_in(page, dashboard, tenant)
    await page.goto(f"{dashboard.url}/ui/campaigns/{created['id']}")
    await page.get_by_role("button", name="Pause").click()
    await expect(page.get_by_role("status").first).to_contain_text("Campaign paused")
    await expect(page.locator("#campaign-state")).to_have_text("Paused")
    await page.get_by_role("button", name="Resume").click()
    await expect(page.locator("#campaign-state")).to_have_text("Running")
    await page.get_by_role("button", name="Cancel campaign").click()
    await expect(page.get_by_role("status").first).to_contain_text("Campaign cancelled")
    await expect(page.locator("#campaign-state")).to_have_text("Cancelled")
    stored = await api(dashboard, tenant, "GET", f"/outreach/campaigns/{created['id']}")
    assert stored["state"] == "cancelled"


async def test_warmup_pair_from_the_weekly_grid_and_its_round_on_the_timeline(
    page: Page, dashboard: Dashboard, tenant: Tenant
) -> None:
    started = time.monotonic()
    a = await connected_instance(dashboard, tenant)
    b = await connected_instance(dashboard, tenant)
    await sign_in(page, dashboard, tenant)
    await nav(page, "Warm-up").click()
    await page.get_by_role("link", name="New pair").click()
    await page.get_by_label("Number A").select_option(a["name"])
    await page.get_by_label("Number B").select_option(b["name"])
    zone = await page.get_by_label("Time zone").input_value()
    now = datetime.now(ZoneInfo(zone))
    day = now.weekday()
    # The hour now (with the mouse), and its neighbour (with the keyboard): the round must start now.
    here = page.get_by_role("checkbox", name=f"{DAY_NAMES[day]} {now.hour:02d}:00–{now.hour + 1:02d}:00")
    await here.click()
    await expect(here).to_be_checked()
    step, neighbour = ("ArrowRight", now.hour + 1) if now.hour < 23 else ("ArrowLeft", now.hour - 1)
    await page.keyboard.press(step)
    other = page.get_by_role("checkbox", name=f"{DAY_NAMES[day]} {neighbour:02d}:00–{neighbour + 1:02d}:00")
    await expect(other).to_be_focused()
    await page.keyboard.press("Space")
    await expect(other).to_be_checked()
    await expect(page.locator("[data-grid-summary]")).to_have_text("2 hours a week chosen.")
    await page.get_by_label("Fewest turns in a round").fill("2")
    await page.get_by_label("Most turns in a round").fill("2")
    await screenshot(page, "warmup-grid")
    await page.get_by_role("button", name="Create pair").click()

    await expect(page.get_by_role("status").first).to_contain_text("Pair created.")
    pair_id = page.url.split("?")[0].rstrip("/").split("/")[-1]
    pair = await api(dashboard, tenant, "GET", f"/warmup/pairs/{pair_id}")
    first = min(now.hour, neighbour)
    assert pair["windows"] == [
        {"days": [DAYS[day]], "start": f"{first:02d}:00", "end": f"{first + 2:02d}:00"}
    ]
    await expect(page.locator("#pair-windows")).to_contain_text(f"{first:02d}:00–{first + 2:02d}:00")

    await page.get_by_role("button", name="Try a round now").click()
    await expect(page.get_by_role("status").first).to_contain_text("A round started.")

    async def round_done() -> bool:
        rounds = await api(dashboard, tenant, "GET", f"/warmup/pairs/{pair_id}/rounds")
        return bool(rounds["items"]) and rounds["items"][0]["state"] != "started"

    await wait_until(round_done, timeout=120, interval=1, message="the warm-up round ended")
    rounds: dict[str, Any] = await api(dashboard, tenant, "GET", f"/warmup/pairs/{pair_id}/rounds")
    latest = rounds["items"][0]
    assert latest["state"] == "completed", latest
    await page.reload()
    timeline = page.locator("#rounds > li").first
    await expect(timeline).to_contain_text("Completed")
    turns = timeline.locator(".turn")
    await expect(turns).to_have_count(len(latest["turns"]))
    for index, turn in enumerate(latest["turns"]):
        await expect(turns.nth(index)).to_contain_text(f"{turn['from']} → {turn['to']}")
        await expect(turns.nth(index)).to_contain_text("Delivered")
    await screenshot(page, "warmup-pair")
    await nav(page, "Warm-up").click()
    await expect(page.get_by_role("link", name=pair["name"])).to_be_visible()
    await screenshot(page, "warmup")
    print(f"browser: warm-up pair to a completed round in {time.monotonic() - started:.1f}s")


async def test_a_chart_shows_the_numbers_of_the_stats_api(
    page: Page, dashboard: Dashboard, tenant: Tenant
) -> None:
    instance = await connected_instance(dashboard, tenant)
    phone = f"55119{uuid.uuid4().int % 10**8:08d}"
    await dashboard.simulator(
        "POST",
        f"/_sim/instances/{instance['name']}/inbound",
        json={"from": phone, "text": "Oi, qual o preço da entrega?", "push_name": "Rita"},
    )

    async def counted() -> bool:
        await dashboard.refresh_statistics()
        overview = await api(dashboard, tenant, "GET", "/stats/overview")
        return bool(overview["totals"]["received"] >= 1 and overview["totals"]["sent"] >= 1)

    await wait_until(counted, timeout=60, interval=1, message="the conversation counted by analytics")
    overview = await api(dashboard, tenant, "GET", "/stats/overview")
    numbers = await api(dashboard, tenant, "GET", "/stats/numbers")
    mine = next(item for item in numbers["numbers"] if item["instance_name"] == instance["name"])

    await sign_in(page, dashboard, tenant)
    await nav(page, "Metrics").click()
    await expect(page.get_by_role("heading", name="Metrics")).to_be_visible()
    for key in ("sent", "received", "failed"):
        await expect(page.locator(f'#metrics-totals [data-total="{key}"]')).to_have_text(
            str(overview["totals"][key])
        )
    hourly = page.locator("#chart-hourly")
    await expect(hourly.get_by_role("img")).to_be_visible()
    await hourly.get_by_text("Show the numbers (table)").click()
    table = hourly.get_by_role("table")
    await expect(table.locator("tbody tr")).to_have_count(len(overview["hours"]))
    for key in ("sent", "received", "failed"):
        total = sum(hour[key] for hour in overview["hours"])
        await expect(table.locator(f'tfoot td[data-series="{key}"]')).to_have_text(str(total))
    # Every bar says its value: the number's bar of sent messages is the api's count.
    bars = page.locator("#chart-numbers svg rect title")
    await expect(bars.filter(has_text=f"{instance['name']} — Sent: {mine['totals']['sent']}")).to_have_count(
        1
    )
    await expect(
        bars.filter(has_text=f"{instance['name']} — Received: {mine['totals']['received']}")
    ).to_have_count(1)
    await screenshot(page, "metrics")
