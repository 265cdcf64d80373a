"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real api
process, the simulator, the reply pipeline (ingest, guard, generator, sender) and the scheduler,
outreach and analytics workers as processes, on the real Kafka, PostgreSQL and Redis with a
namespace of their own."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from api.tenants import service as tenants
from database import Pool
from testkit import Infra
from testkit.ports import free_port
from testkit.processes import ServiceProcess
from testkit.stack import MirageStack

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / ".local" / "browser-logs"
ARTIFACTS = ROOT / ".local" / "browser-screenshots"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
# The flags that work on this kind of machine as root; Playwright gives every launch a fresh
# profile directory of its own (and refuses `--user-data-dir` with `launch`).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything here is a browser test, and end-to-end (not in `make test-unit`)."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt-get when missing (never a browser download)."""
    if not CHROMIUM.exists():
        result = subprocess.run(
            ["bash", str(Path(__file__).with_name("ensure_chromium.sh"))],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"Chromium is missing and could not be installed:\n{result.stderr[-2000:]}")
    return CHROMIUM


@dataclass
class Dashboard:
    """The api (serving the dashboard) and the pipeline behind it."""

    url: str
    stack: MirageStack

    async def scan(self, instance: str) -> dict[str, Any]:
        """A person scans the instance's QR code with WhatsApp (the simulator's control API);
        the simulator's answer (its `connection.update` delivery)."""
        async with httpx.AsyncClient(base_url=self.stack.simulator_url, timeout=10) as client:
            response = await client.post(f"/_sim/instances/{instance}/scan", json={})
            response.raise_for_status()
            answer: dict[str, Any] = response.json()
            return answer

    async def refresh_statistics(self) -> None:
        """Have the analytics service refresh its views now (as its 15-minute timer would)."""
        url = f"http://127.0.0.1:{self.stack.ports['analytics']}"
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            response = await client.post("/refresh")
            response.raise_for_status()

    async def simulator(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        """Any call to the simulator's control API."""
        async with httpx.AsyncClient(base_url=self.stack.simulator_url, timeout=10) as client:
            response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
            response.raise_for_status()
            return response


@pytest.fixture(scope="package")
async def dashboard(infra: Infra, database_dsn: str) -> AsyncIterator[Dashboard]:
    """Simulator, ingest, guard, generator, sender, scheduler, outreach and analytics as
    processes, then the api as a process.

    Package-scoped: one stack for the browser modules (each test has a tenant of its own), gone
    before the next package starts: the scheduler and the outreach scanner act on the whole
    database, so it must never run beside another stack's (`MirageStack.start` checks)."""
    stack = MirageStack(
        infra=infra,
        database_dsn=database_dsn,
        log_dir=LOG_DIR,
        # Campaigns, warm-up rounds and the charts need their workers too.
        extra_services=("scheduler", "outreach", "analytics"),
        overrides={
            "guard": {"MIRAGE_GUARD_POLICY__DEBOUNCE_WINDOW_MS": "300"},
            # Warm-up typing and the round's pauses shrunk; rounds start only through a tick.
            "generator": {"MIRAGE_GENERATOR_WARMUP_TYPING__SCALE": "0.05"},
            "scheduler": {
                "MIRAGE_SCHEDULER_CRON": "",
                "MIRAGE_SCHEDULER_TIMER_INTERVAL_S": "0.2",
                "MIRAGE_SCHEDULER_LEADER_RETRY_S": "1",
                "MIRAGE_SCHEDULER_TIMING__SCALE": "0.02",
            },
            # The charts test refreshes the views itself (`POST /refresh`).
            "analytics": {"MIRAGE_ANALYTICS_REFRESH__INTERVAL_S": "3600"},
        },
    )
    api: ServiceProcess | None = None
    try:
        await stack.start()
        port = free_port()
        env = {
            **stack.shared_env(),
            "MIRAGE_API_RUNTIME__PORT": str(port),
            "MIRAGE_API_INGEST_PUBLIC_URL": stack.ingest_url,
            "MIRAGE_API_DEMO__ENABLED": "false",
            "MIRAGE_API_INSTANCES__QR_EXPIRY_INTERVAL_S": "1",
            "MIRAGE_API_SCHEDULER__URL": f"http://127.0.0.1:{stack.ports['scheduler']}",
            # The persona sandbox talks to the simulator's OpenAI-compatible endpoint.
            "MIRAGE_API_SANDBOX_MODEL__BASE_URL": f"{stack.simulator_url}/v1",
            "MIRAGE_API_SANDBOX_MODEL__API_KEY": "sk-simulator",
        }
        api = ServiceProcess(
            name="api",
            module="api.main",
            env=env,
            log_path=LOG_DIR / f"{stack.namespace}-api.log",
            ready_url=f"http://127.0.0.1:{port}/readyz",
        )
        api.start()
        await api.wait_ready(timeout=90)
        yield Dashboard(url=f"http://127.0.0.1:{port}", stack=stack)
    finally:
        if api is not None:
            api.terminate()
        stack.stop()


@dataclass
class Tenant:
    """A tenant of the test's own, with its API key."""

    id: uuid.UUID
    key: str

    @property
    def headers(self) -> dict[str, str]:
        """The API's bearer header."""
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture
async def tenant(db_pool: Pool) -> Tenant:
    """A fresh tenant and key (each test sees only its own instances)."""
    created = await tenants.create_tenant(db_pool, f"web-{uuid.uuid4().hex[:10]}", "Loja Centro")
    issued = await tenants.issue_key(db_pool, created.id)
    return Tenant(id=created.id, key=issued.secret)


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    """One headless Chromium for the session."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh browser context (no cookies) and page, 1280×860."""
    context: BrowserContext = await browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    opened = await context.new_page()
    try:
        yield opened
    finally:
        await context.close()


async def screenshot(page: Page, name: str) -> None:
    """Keep a screenshot of the page (in docs/screenshots when MIRAGE_UPDATE_SCREENSHOTS=1)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if os.environ.get("MIRAGE_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
