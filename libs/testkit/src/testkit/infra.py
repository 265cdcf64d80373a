"""The real Kafka, PostgreSQL and Redis the integration tiers run against.

Two ways to get them:

- **native** (default): the project's own `deploy/local/stack.sh up` — Apache Kafka
  from Maven Central jars, PostgreSQL and Redis from Debian packages. Idempotent:
  a stack that is already up is reused.
- **containers** (`MIRAGE_TEST_INFRA=containers`, where a Docker engine exists):
  throwaway testcontainers for the same three services.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from testkit.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[4]
STACK_SCRIPT = REPO_ROOT / "deploy" / "local" / "stack.sh"
KAFKA_POM = REPO_ROOT / "deploy" / "local" / "kafka" / "pom.xml"
INFRA_MODE_ENV = "MIRAGE_TEST_INFRA"
CONTAINER_KAFKA_IMAGE = "apache/kafka:{version}"
CONTAINER_POSTGRES_IMAGE = "postgres:16-alpine"
CONTAINER_REDIS_IMAGE = "redis:7-alpine"


@dataclass(frozen=True)
class Infra:
    """Where the real services answer."""

    mode: str
    kafka_bootstrap: str
    kafka_version: str
    # A DSN with the right to create databases.
    postgres_admin_dsn: str
    redis_url: str

    def describe(self) -> str:
        """One line for the test log."""
        return (
            f"{self.mode} infrastructure: Apache Kafka {self.kafka_version} (KRaft) at "
            f"{self.kafka_bootstrap}, PostgreSQL {_dsn_host(self.postgres_admin_dsn)}, "
            f"Redis {self.redis_url}"
        )


def _dsn_host(dsn: str) -> str:
    return dsn.rsplit("@", 1)[-1]


def pinned_kafka_version() -> str:
    """The Kafka version the project pins (deploy/local/kafka/pom.xml)."""
    text = KAFKA_POM.read_text()
    start = text.index("<kafka.version>") + len("<kafka.version>")
    return text[start : text.index("</kafka.version>", start)]


def _stack_env() -> dict[str, str]:
    env = {}
    result = subprocess.run(
        [str(STACK_SCRIPT), "env"], check=True, capture_output=True, text=True, cwd=REPO_ROOT
    )
    for line in result.stdout.splitlines():
        name, _, value = line.partition("=")
        env[name] = value
    return env


def running_kafka_version(local_dir: Path | None = None) -> str | None:
    """The version the local broker reported at start-up, if it is up.

    `stack.sh` records it in `.local/kafka/VERSION` once the broker has started; the
    broker's own log line is read first while it is still in the current log.
    """
    kafka_dir = (local_dir or REPO_ROOT / ".local") / "kafka"
    log = kafka_dir / "logs" / "server.log"
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            if "Kafka version:" in line:
                return line.split("Kafka version:", 1)[1].split()[0]
    recorded = kafka_dir / "VERSION"
    if recorded.exists():
        return recorded.read_text().strip() or None
    return None


@contextmanager
def native_infra() -> Iterator[Infra]:
    """Bring the native stack up (or find it up) and describe it."""
    subprocess.run([str(STACK_SCRIPT), "up"], check=True, cwd=REPO_ROOT)
    env = _stack_env()
    yield Infra(
        mode="native",
        kafka_bootstrap=env["MIRAGE_KAFKA_BOOTSTRAP"],
        kafka_version=running_kafka_version() or "unknown",
        postgres_admin_dsn=env["MIRAGE_POSTGRES_DSN"],
        redis_url=env["MIRAGE_REDIS_URL"],
    )


@contextmanager
def container_infra() -> Iterator[Infra]:  # pragma: no cover - needs a Docker engine
    """Throwaway containers for Kafka (KRaft), PostgreSQL and Redis."""
    from testcontainers.core.container import DockerContainer  # noqa: PLC0415
    from testcontainers.core.waiting_utils import wait_for_logs  # noqa: PLC0415
    from testcontainers.postgres import PostgresContainer  # noqa: PLC0415
    from testcontainers.redis import RedisContainer  # noqa: PLC0415

    version = pinned_kafka_version()
    kafka_port = free_port()
    # The advertised listener must be the host's mapped port, so it is fixed up front.
    kafka = (
        DockerContainer(CONTAINER_KAFKA_IMAGE.format(version=version))
        .with_bind_ports(9092, kafka_port)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
        .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{kafka_port}")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT")
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
    )
    postgres = PostgresContainer(
        CONTAINER_POSTGRES_IMAGE, username="mirage", password="mirage", dbname="mirage", driver=None
    )
    redis = RedisContainer(CONTAINER_REDIS_IMAGE)
    with kafka, postgres, redis:
        wait_for_logs(kafka, "Kafka Server started", timeout=120)
        yield Infra(
            mode="containers",
            kafka_bootstrap=f"127.0.0.1:{kafka_port}",
            kafka_version=version,
            postgres_admin_dsn=postgres.get_connection_url(driver=None),
            redis_url=(f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"),
        )


@contextmanager
def real_infra() -> Iterator[Infra]:
    """The infrastructure chosen by `MIRAGE_TEST_INFRA` (`native` unless set to `containers`)."""
    mode = os.environ.get(INFRA_MODE_ENV, "native")
    if mode == "containers":
        with container_infra() as infra:
            yield infra
    elif mode == "native":
        with native_infra() as infra:
            yield infra
    else:
        raise ValueError(f"{INFRA_MODE_ENV} must be 'native' or 'containers', not {mode!r}")
