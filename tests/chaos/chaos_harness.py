"""The chaos run: the reply pipeline under a steady load while every part of it is broken in turn.

Everything runs on infrastructure of its own, so the shared Kafka, PostgreSQL and Redis of the
other suites (and of other people) are never touched: `deploy/local/stack.sh` starts a second
Kafka, PostgreSQL and Redis on free ports with data under `.local/chaos/stack/`, and a
`FaultyProxy` sits in front of each (Kafka advertises the proxy's port, so every broker
connection goes through it). The services (ingest, guard, generator, sender) run as processes
against the proxies, and the simulator stands in for Evolution API and the model.

Faults, while the load runs (each one on its own schedule, see `Fault`):
SIGKILL of the Kafka broker (down 10 s), SIGKILL and restart of one worker of each stage,
Redis stopped for 10 s, PostgreSQL restarted, latency and connection resets on the links to
PostgreSQL, Redis and Kafka, and the simulator answering `sendText` with 500s and with
answers slower than the sender's timeout.

The checker reads every message id from the simulator's logs (`/_sim/inbound`, `/_sim/webhooks`,
`/_sim/sent`), the database and the dead-letter and alert topics, and returns a `ChaosReport`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from contracts import AdminAlert, AlertCause, parse_event
from testkit import wait_until
from testkit.databases import create_database, drop_database, prepare_template
from testkit.infra import REPO_ROOT, STACK_SCRIPT, Infra, pinned_kafka_version
from testkit.ports import free_port
from testkit.stack import Instance, MirageStack, SimulatorClient

from .tcp_proxy import FaultyProxy

CHAOS_DIR = REPO_ROOT / ".local" / "chaos"
LOG_DIR = CHAOS_DIR / "logs"
STAGES = ("ingest", "guard", "generator", "sender")

# The services: quick retries, a short sendText timeout (so the simulator's slow answers are
# timeouts), a short debounce, and the sender's late-echo check often enough to settle
# ambiguous sends inside the run.
OVERRIDES: dict[str, dict[str, str]] = {
    "guard": {
        "MIRAGE_GUARD_POLICY__DEBOUNCE_WINDOW_MS": "300",
        # Bursts Redis loses while it is stopped are given back by the guard's repair: looked
        # for every 5 s (not 30), and found 62 s after they arrived (not 80; the claim lease
        # stays at its default). It took a minute of the drain in runs where Redis lost some.
        "MIRAGE_GUARD_POLICY__DEBOUNCE_MAX_WAIT_MS": "2000",
        "MIRAGE_GUARD_POLICY__REPAIR_INTERVAL_S": "5",
    },
    "sender": {
        "MIRAGE_SENDER_RETRY__BASE_DELAY_S": "0.2",
        "MIRAGE_SENDER_RETRY__MAX_DELAY_S": "1",
        "MIRAGE_SENDER_ECHO_WAIT_S": "1",
        "MIRAGE_SENDER_LATE_ECHO_INTERVAL_S": "2",
        "MIRAGE_EVOLUTION__READ_TIMEOUT_S": "3",
    },
}
SHARED = {
    # Faults on the links must be noticed and retried quickly, not after minutes.
    "MIRAGE_KAFKA__REQUEST_TIMEOUT_MS": "10000",
}


@dataclass
class ChaosStackProcesses:
    """Kafka, PostgreSQL and Redis of the chaos run's own, through `deploy/local/stack.sh`."""

    local_dir: Path
    kafka_port: int = field(default_factory=free_port)
    kafka_proxy_port: int = field(default_factory=free_port)
    pg_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def env(self) -> dict[str, str]:
        """The stack script's overrides: ports, data folder, the advertised (proxy) port."""
        return {
            **os.environ,
            "MIRAGE_LOCAL_DIR": str(self.local_dir),
            "MIRAGE_KAFKA_PORT": str(self.kafka_port),
            "MIRAGE_KAFKA_ADVERTISED_PORT": str(self.kafka_proxy_port),
            "MIRAGE_KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "MIRAGE_PG_PORT": str(self.pg_port),
            "MIRAGE_REDIS_PORT": str(self.redis_port),
            "MIRAGE_KAFKA_HEAP": "512m",
            "MIRAGE_STACK_WAIT_SECONDS": "180",
        }

    def run(self, action: str) -> subprocess.CompletedProcess[str]:
        """`stack.sh <action>` for this stack (blocking; call it through a thread)."""
        return subprocess.run(
            [str(STACK_SCRIPT), action],
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
        )

    async def up(self) -> None:
        """Start (or restart) whatever is not running; fail with the script's words."""
        async with self.lock:
            await self.up_locked()

    async def up_locked(self) -> None:
        """`up` for a caller that holds `lock` (an infrastructure fault holds it for its whole
        outage, so one fault's restart never cuts another's outage short)."""
        self._share_kafka_jars()
        result = await asyncio.to_thread(self.run, "up")
        if result.returncode != 0:
            await asyncio.sleep(2)  # a server caught mid-shutdown: once more
            result = await asyncio.to_thread(self.run, "up")
        if result.returncode != 0:
            raise RuntimeError(f"chaos stack did not come up:\n{result.stderr[-3000:]}")

    async def down(self) -> None:
        """Stop the chaos stack's servers."""
        await asyncio.to_thread(self.run, "down")

    def _share_kafka_jars(self) -> None:
        # The main stack already resolved Kafka's jars: hard links, so no Maven run is needed.
        source = REPO_ROOT / ".local" / "kafka" / "libs"
        target = self.local_dir / "kafka" / "libs"
        if source.exists() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(source, target, copy_function=os.link)

    def _pid(self, path: Path) -> int | None:
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kafka_pid(self) -> int | None:
        """The broker's process id."""
        return self._pid(self.local_dir / "kafka" / "kafka.pid")

    def postgres_pid(self) -> int | None:
        """The postmaster's process id."""
        data = Path((self.local_dir / "postgres.dir").read_text().strip()) / "data"
        return self._pid(data / "postmaster.pid")

    @property
    def admin_dsn(self) -> str:
        """PostgreSQL directly (not through the proxy), for set-up and checks."""
        return f"postgresql://mirage:mirage@127.0.0.1:{self.pg_port}/mirage"


def _kill(pid: int | None, sig: signal.Signals) -> None:
    if pid is None:
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return


async def _gone(pid: int | None, timeout: float = 60) -> None:
    if pid is None:
        return

    def dead() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    await wait_until(dead, timeout=timeout, interval=0.1, message=f"process {pid} gone")


@dataclass
class Fault:
    """One fault: when it starts (fraction of the load's duration) and what it does."""

    name: str
    at: float
    action: Callable[[], Awaitable[None]]
    started_s: float | None = None
    ended_s: float | None = None


@dataclass
class ChaosReport:
    """What the checker found."""

    messages: int
    replied: int
    recorded_reasons: dict[str, int]
    lost: list[str]
    duplicate_sends: int
    duplicated_numbers: list[str]
    ambiguous: int
    ambiguous_duplicates: int
    exhausted: int
    exhausted_without_one_dead_letter: list[str]
    exhausted_without_one_alert: list[str]
    worker_kills: dict[str, int]
    faults: list[tuple[str, float, float]]
    drain_s: float
    load_s: float
    webhook_failures: int

    def bench_line(self) -> str:
        """`BENCH chaos …`."""
        return (
            f"BENCH chaos messages={self.messages} lost={len(self.lost)}"
            f" duplicate_sends={self.duplicate_sends}"
            f" ambiguous={self.ambiguous} drain_s={self.drain_s:.1f} replied={self.replied}"
            f" exhausted={self.exhausted} faults={len(self.faults)} load_s={self.load_s:.1f}"
        )


@dataclass
class ChaosRun:
    """One chaos run: `messages` inbound messages at `rate` per second, with `faults` (names)."""

    messages: int
    rate: float
    faults: tuple[str, ...]
    drain_timeout_s: float = 120.0
    # A data folder of the run's own (ports are new every run).
    stack: ChaosStackProcesses = field(
        default_factory=lambda: ChaosStackProcesses(local_dir=CHAOS_DIR / f"stack-{uuid.uuid4().hex[:8]}")
    )
    proxies: dict[str, FaultyProxy] = field(default_factory=dict)
    mirage: MirageStack | None = None
    instance: Instance | None = None
    kills: Counter[str] = field(default_factory=Counter)
    schedule: list[Fault] = field(default_factory=list)
    sim: SimulatorClient | None = None
    log: list[str] = field(default_factory=list)
    _fault_tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def note(self, text: str) -> None:
        """A line of the run's own log (printed with the report)."""
        self.log.append(f"{time.strftime('%H:%M:%S')} {text}")

    # ---------------------------------------------------------------- set-up

    async def start(self) -> None:
        """The chaos stack, its proxies, a migrated database, the services and one instance."""
        CHAOS_DIR.mkdir(parents=True, exist_ok=True)
        await self.stack.up()
        ports = self.stack
        self.proxies = {
            "postgres": FaultyProxy("postgres", free_port(), ports.pg_port),
            "redis": FaultyProxy("redis", free_port(), ports.redis_port),
            "kafka": FaultyProxy("kafka", ports.kafka_proxy_port, ports.kafka_port),
        }
        for proxy in self.proxies.values():
            await proxy.start()
        template = await prepare_template(ports.admin_dsn)
        name = f"mirage_chaos_{uuid.uuid4().hex[:8]}"
        direct = await create_database(ports.admin_dsn, name, template)
        self.direct_dsn = direct
        proxied = direct.replace(f":{ports.pg_port}/", f":{self.proxies['postgres'].listen_port}/")
        infra = Infra(
            mode="chaos",
            kafka_bootstrap=f"127.0.0.1:{ports.kafka_proxy_port}",
            kafka_version=pinned_kafka_version(),
            postgres_admin_dsn=ports.admin_dsn,
            redis_url=f"redis://127.0.0.1:{self.proxies['redis'].listen_port}/0",
        )
        overrides = {service: dict(values) for service, values in OVERRIDES.items()}
        for service in STAGES:
            overrides.setdefault(service, {}).update(SHARED)
        self.mirage = MirageStack(infra=infra, database_dsn=proxied, log_dir=LOG_DIR, overrides=overrides)
        await self.mirage.start()
        self.sim = SimulatorClient(self.mirage.simulator_url)
        self.instance = await self.mirage.create_instance()
        self.note(f"stack up: kafka {ports.kafka_port} (proxy {ports.kafka_proxy_port}), pg {ports.pg_port}")

    async def stop(self) -> None:
        """Stop the services, the proxies and (unless kept) the chaos stack."""
        if self.sim is not None:
            await self.sim.close()
        if self.mirage is not None:
            # In a thread: the proxies run on this event loop, and the services' graceful
            # shutdown (the last commits) goes through them.
            await asyncio.to_thread(self.mirage.stop)
            self.note("services stopped")
        for proxy in self.proxies.values():
            await proxy.stop()
        if self.proxies and hasattr(self, "direct_dsn"):
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await drop_database(self.stack.admin_dsn, self.direct_dsn.rsplit("/", 1)[-1])
        for fault in self._fault_tasks:
            fault.cancel()
        await asyncio.gather(*self._fault_tasks, return_exceptions=True)
        async with self.stack.lock:
            await self.stack.down()
        self.note("chaos stack down")
        shutil.rmtree(self.stack.local_dir, ignore_errors=True)

    # ------------------------------------------------------------------ faults

    def _faults(self) -> dict[str, tuple[float, Callable[[], Awaitable[None]]]]:
        """Every fault the run knows, with where in the load it starts."""
        return {
            "kill_ingest": (0.10, lambda: self._kill_worker("ingest")),
            "kafka_sigkill": (0.15, self._kafka_down),
            "kill_guard": (0.25, lambda: self._kill_worker("guard")),
            "link_latency": (0.30, self._links_slow),
            "kill_generator": (0.40, lambda: self._kill_worker("generator")),
            "redis_stop": (0.45, self._redis_down),
            "link_resets": (0.55, self._links_reset),
            "kill_sender": (0.60, lambda: self._kill_worker("sender")),
            "postgres_restart": (0.70, self._postgres_restart),
            "send_500s": (0.78, self._send_500s),
            "send_timeouts": (0.85, self._send_timeouts),
        }

    async def _kill_worker(self, name: str) -> None:
        assert self.mirage is not None
        self.mirage.kill(name)
        self.kills[name] += 1
        self.note(f"SIGKILL {name}")
        # Like a supervisor (Kubernetes) would: a start-up that fails fast because a dependency
        # is down at that moment (another fault) is simply tried again.
        for attempt in range(1, 31):
            try:
                await self.mirage.start_service(name)
            except AssertionError:
                self.note(f"{name} did not start (attempt {attempt}); trying again")
                await asyncio.sleep(2)
            else:
                break
        else:
            raise RuntimeError(f"{name} did not come back")
        self.note(f"{name} back")

    async def _kafka_down(self) -> None:
        async with self.stack.lock:
            pid = self.stack.kafka_pid()
            _kill(pid, signal.SIGKILL)
            await _gone(pid)
            self.note("SIGKILL kafka")
            await asyncio.sleep(10)
            await self.stack.up_locked()
        self.note("kafka back")

    async def _redis_down(self) -> None:
        # SHUTDOWN saves first (as a Redis with persistence would): down for 10 s, data kept.
        async with self.stack.lock:
            await asyncio.to_thread(
                subprocess.run,
                ["redis-cli", "-p", str(self.stack.redis_port), "shutdown"],
                capture_output=True,
                check=False,
            )
            self.note("redis stopped")
            await asyncio.sleep(10)
            await self.stack.up_locked()
        self.note("redis back")

    async def _postgres_restart(self) -> None:
        async with self.stack.lock:
            pid = self.stack.postgres_pid()
            _kill(pid, signal.SIGINT)  # fast shutdown: every connection is cut
            await _gone(pid)
            self.note("postgres stopped")
            await self.stack.up_locked()
        self.note("postgres back")

    async def _links_slow(self) -> None:
        for proxy in self.proxies.values():
            proxy.latency_s = 0.05
        self.note("links +50 ms")
        await asyncio.sleep(8)
        for proxy in self.proxies.values():
            proxy.latency_s = 0.0
        self.note("links fast again")

    async def _links_reset(self) -> None:
        for _ in range(3):
            cut = {name: proxy.reset() for name, proxy in self.proxies.items()}
            self.note(f"connections reset: {cut}")
            await asyncio.sleep(2)

    async def _send_500s(self) -> None:
        assert self.sim is not None
        # Every call fails for 2 s (sends starting then exhaust their three attempts), then a
        # burst of single failures that retries get through.
        await self.sim.faults({"sendText": {"fail_next": 1_000_000, "status": 500}})
        self.note("sendText: every call answers 500 for 2 s")
        await asyncio.sleep(2)
        failures = max(24, int(self.rate * 3))
        await self.sim.faults({"sendText": {"fail_next": failures, "status": 500}})
        self.note(f"sendText: the next {failures} answer 500")
        await asyncio.sleep(4)
        await self.sim.faults({"sendText": {"fail_next": 0}})

    async def _send_timeouts(self) -> None:
        assert self.sim is not None
        await self.sim.faults({"sendText": {"latency_ms": 4000}})
        self.note("sendText: answers after 4 s (the sender gives up after 3 s)")
        await asyncio.sleep(5)
        await self.sim.faults({"sendText": {"latency_ms": 0}})

    # -------------------------------------------------------------------- load

    async def run(self) -> ChaosReport:
        """Load, faults, drain, check."""
        assert self.mirage is not None
        assert self.instance is not None
        known = self._faults()
        self.schedule = [Fault(name, known[name][0], known[name][1]) for name in self.faults]
        duration = self.messages / self.rate
        started = time.monotonic()
        # Distinct Brazilian mobiles as WhatsApp writes them (with the 9th digit): no spelling rewritten.
        phones = list(dict.fromkeys(f"55119{uuid.uuid4().int % 10**8:08d}" for _ in range(self.messages * 2)))
        phones = phones[: self.messages]
        self._fault_tasks = [
            asyncio.create_task(self._at(fault, started, duration)) for fault in self.schedule
        ]
        webhook_failures = await self._load(phones, started)
        load_s = time.monotonic() - started
        await asyncio.gather(*self._fault_tasks)
        last_fault = max((fault.ended_s or 0.0) for fault in self.schedule) if self.schedule else load_s
        self.note(f"load done in {load_s:.1f}s; last fault ended at {last_fault:.1f}s")
        drained_at = await self._drain(phones, started)
        self.note("drained; checking")
        report = await self.check(phones)
        self.note("checked")
        report.load_s = load_s
        # From the end of the last fault (the load may still be running then) to the moment
        # every message was answered or settled.
        report.drain_s = max(0.0, drained_at - last_fault)
        report.webhook_failures = webhook_failures
        report.faults = [(f.name, f.started_s or 0.0, f.ended_s or 0.0) for f in self.schedule]
        return report

    async def _at(self, fault: Fault, started: float, duration: float) -> None:
        await asyncio.sleep(max(0.0, started + fault.at * duration - time.monotonic()))
        fault.started_s = time.monotonic() - started
        try:
            await fault.action()
        finally:
            fault.ended_s = time.monotonic() - started

    async def _load(self, phones: list[str], started: float) -> int:
        """One message per phone at the steady rate (each request on its own schedule)."""
        assert self.instance is not None
        limit = asyncio.Semaphore(64)
        failures = 0
        async with httpx.AsyncClient(
            base_url=self.mirage.simulator_url if self.mirage else "", timeout=60
        ) as http:

            async def one(index: int, phone: str) -> None:
                nonlocal failures
                await asyncio.sleep(max(0.0, started + index / self.rate - time.monotonic()))
                async with limit:
                    assert self.instance is not None
                    response = await http.post(
                        f"/_sim/instances/{self.instance.name}/inbound",
                        json={"from": phone, "text": f"mensagem de caos {index}", "push_name": "Caos"},
                    )
                    response.raise_for_status()

            results = await asyncio.gather(
                *(one(index, phone) for index, phone in enumerate(phones)), return_exceptions=True
            )
        for result in results:
            if isinstance(result, BaseException):
                failures += 1
                self.note(f"inbound call failed: {result!r}"[:300])
        return failures

    async def _drain(self, phones: list[str], started: float) -> float:
        """Wait until every message is answered or settled otherwise; when that happened."""
        deadline = time.monotonic() + self.drain_timeout_s + 60
        next_note = time.monotonic() + 10
        while time.monotonic() < deadline:
            pending = await self._unsettled(phones)
            if pending == 0:
                return time.monotonic() - started
            if time.monotonic() >= next_note:
                self.note(f"draining: {pending} messages neither answered nor settled")
                next_note += 10
            await asyncio.sleep(1)
        self.note("the backlog did not drain in time")
        return time.monotonic() - started

    async def _unsettled(self, phones: list[str]) -> int:
        assert self.sim is not None
        assert self.instance is not None
        sent = {row["number"] for row in await self.sim.sent(instance=self.instance.name)}
        waiting = [phone for phone in phones if phone not in sent]
        if not waiting:
            return 0
        reasons = await self._reasons(waiting)
        return sum(1 for phone in waiting if phone not in reasons)

    async def _reasons(self, phones: list[str]) -> dict[str, str]:
        """Phones without a reply that have a recorded reason, and the reason."""
        assert self.instance is not None
        conn = await asyncpg.connect(self.direct_dsn)
        try:
            sends = await conn.fetch(
                "SELECT recipient_digits, status, attempts FROM sends"
                " WHERE instance_id = $1 AND recipient_digits = ANY($2::text[]) AND status <> 'sending'",
                self.instance.id,
                phones,
            )
            decisions = await conn.fetch(
                "SELECT c.phone, d.decision, d.reason FROM guard_decisions d"
                " JOIN messages m ON m.id = d.message_id JOIN contacts c ON c.id = m.contact_id"
                # `debounced` waits for its burst's reply: not an outcome.
                " WHERE m.instance_id = $1 AND c.phone = ANY($2::text[])"
                " AND d.decision NOT IN ('reply', 'debounced')",
                self.instance.id,
                phones,
            )
        finally:
            await conn.close()
        found: dict[str, str] = {}
        for row in sends:
            if row["status"] != "sent":
                found[row["recipient_digits"]] = f"send {row['status']}"
        for row in decisions:
            found.setdefault(row["phone"], f"guard {row['decision']}:{row['reason']}")
        return found

    # ----------------------------------------------------------------- checker

    async def check(self, phones: list[str]) -> ChaosReport:
        """Read every message id from the simulator and the database; judge the run."""
        assert self.sim is not None
        assert self.instance is not None
        assert self.mirage is not None
        inbound = [
            row
            for row in (await self.sim.http.get("/_sim/inbound")).json()
            if row["instance"] == self.instance.name
        ]
        inbound_ids = {row["key"]["id"] for row in inbound}
        failed_webhooks = (
            await self.sim.http.get(
                "/_sim/webhooks",
                params={"instance": self.instance.name, "event": "messages.upsert", "outcome": "failed"},
            )
        ).json()
        sent_rows = await self.sim.sent(instance=self.instance.name)
        per_number = Counter(row["number"] for row in sent_rows)
        conn = await asyncpg.connect(self.direct_dsn)
        try:
            stored = {
                row["provider_id"]
                for row in await conn.fetch(
                    "SELECT provider_id FROM messages WHERE instance_id = $1 AND direction = 'inbound'",
                    self.instance.id,
                )
            }
            sends = await conn.fetch(
                "SELECT send_id, recipient_digits, status, attempts, last_status_code FROM sends"
                " WHERE instance_id = $1",
                self.instance.id,
            )
        finally:
            await conn.close()
        wanted = set(phones)
        replied = {number for number in per_number if number in wanted}
        reasons = await self._reasons([phone for phone in phones if phone not in replied])
        not_stored = inbound_ids - stored
        lost = [phone for phone in phones if phone not in replied and phone not in reasons]
        if not_stored:
            self.note(f"{len(not_stored)} inbound ids never reached the database")
        duplicated = sorted(number for number, count in per_number.items() if count > 1)
        ambiguous_alerts, exhausted_alerts, dead_letters = await self._topics()
        exhausted = [row for row in sends if row["status"] == "failed" and row["attempts"] >= 3]
        no_dead_letter = [str(row["send_id"]) for row in exhausted if dead_letters[str(row["send_id"])] != 1]
        no_alert = [str(row["send_id"]) for row in exhausted if exhausted_alerts[str(row["send_id"])] != 1]
        ambiguous_numbers = {
            row["recipient_digits"]
            for row in sends
            if row["status"] == "ambiguous" or str(row["send_id"]) in ambiguous_alerts
        }
        return ChaosReport(
            messages=len(phones),
            replied=len(replied),
            recorded_reasons=dict(Counter(reasons.values())),
            lost=lost,
            duplicate_sends=sum(per_number[number] - 1 for number in duplicated),
            duplicated_numbers=duplicated,
            ambiguous=len(ambiguous_numbers),
            ambiguous_duplicates=sum(1 for number in duplicated if number in ambiguous_numbers),
            exhausted=len(exhausted),
            exhausted_without_one_dead_letter=no_dead_letter,
            exhausted_without_one_alert=no_alert,
            worker_kills=dict(self.kills),
            faults=[],
            drain_s=0.0,
            load_s=0.0,
            webhook_failures=len(failed_webhooks),
        )

    async def _topics(self) -> tuple[set[str], Counter[str], Counter[str]]:
        """Send ids with an ambiguous-send alert, exhausted-send alerts and dead letters per send id."""
        assert self.mirage is not None
        prefix = self.mirage.topic_prefix
        bootstrap = f"127.0.0.1:{self.stack.kafka_port}"  # directly, not through the proxy
        alerts = await _read_topic(bootstrap, f"{prefix}admin.alert")
        ambiguous: set[str] = set()
        exhausted: Counter[str] = Counter()
        for value in alerts:
            event = parse_event(value)
            if isinstance(event, AdminAlert) and event.data.send_id is not None and not event.data.resolved:
                if event.data.cause == AlertCause.SEND_AMBIGUOUS:
                    ambiguous.add(str(event.data.send_id))
                elif event.data.cause == AlertCause.SEND_EXHAUSTED:
                    exhausted[str(event.data.send_id)] += 1
        dead: Counter[str] = Counter()
        for value in await _read_topic(bootstrap, f"{prefix}send.requested.dlq.sender"):
            try:
                send_id = parse_event(value).data.send_id  # type: ignore[attr-defined]
            except (ValueError, AttributeError):
                continue
            dead[str(send_id)] += 1
        return ambiguous, exhausted, dead


async def _read_topic(bootstrap: str, topic: str, idle_ms: int = 1500) -> list[bytes]:
    """Every record value of a topic, from the beginning."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=idle_ms)
            if not batch:
                break
            for records in batch.values():
                values.extend(record.value for record in records if record.value is not None)
    finally:
        await consumer.stop()
    return values


def describe(run: ChaosRun, report: ChaosReport) -> str:
    """The run's log and the report, for the test output."""
    lines = [*run.log, ""]
    lines.append(f"faults: {[(name, round(start, 1), round(end, 1)) for name, start, end in report.faults]}")
    lines.append(f"worker kills: {report.worker_kills}")
    lines.append(f"recorded reasons: {report.recorded_reasons}")
    lines.append(
        f"exhausted sends: {report.exhausted}"
        f" (without one dead letter: {report.exhausted_without_one_dead_letter},"
        f" without one alert: {report.exhausted_without_one_alert})"
    )
    lines.append(f"webhook deliveries the simulator gave up on: {report.webhook_failures}")
    if report.lost:
        lines.append(f"lost (first 20): {report.lost[:20]}")
    if report.duplicated_numbers:
        lines.append(f"duplicated (first 20): {report.duplicated_numbers[:20]}")
    lines.append(report.bench_line())
    return "\n".join(lines)
