"""What the benchmarks of the model-bound path share (`generator_throughput`, `transcription_path`).

The Go model stub (`bench/modelstub`) as a process, the `openai` client configured the way the
guard and the generator configure theirs (the baselines), the generator as a process, a burst
of events put on Kafka at once, and the count of replies stored.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx2
import openai
from aiokafka import AIOKafkaProducer

from bench.harness import go_tool, process, wait_http
from contracts import Envelope, partition_key
from testkit.processes import ServiceProcess


@asynccontextmanager
async def model_stub(
    port: int, *, latency_ms: int, transcription_latency_ms: int | None = None
) -> AsyncIterator[str]:
    """The stub serving `/v1/chat/completions` (and `/v1/audio/transcriptions`) after the given
    latencies; yields its OpenAI base URL once it answers."""
    argv = [str(go_tool("modelstub")), "-addr", f"127.0.0.1:{port}", "-latency", f"{latency_ms}ms"]
    if transcription_latency_ms is not None:
        argv += ["-transcription-latency", f"{transcription_latency_ms}ms"]
    with process("modelstub", argv, {}) as stub:
        await wait_http(f"http://127.0.0.1:{port}/healthz", stub)
        yield f"http://127.0.0.1:{port}/v1"


def services_sdk_client(base_url: str) -> openai.AsyncOpenAI:
    """An `openai` client configured as the guard's and the generator's are: the aiohttp
    transport with 256 kept-alive connections, no retries."""
    return openai.AsyncOpenAI(
        base_url=base_url,
        api_key="sk-bench",
        max_retries=0,
        timeout=60,
        http_client=openai.DefaultAioHttpClient(
            limits=httpx2.Limits(max_connections=256, max_keepalive_connections=256)
        ),
    )


def generator_process(*, port: int, model_url: str, env: Mapping[str, str], log_path: Path) -> ServiceProcess:
    """The generator as a process (not started), its model at `model_url`, no human delays."""
    return ServiceProcess(
        "generator",
        "generator.main",
        {
            **env,
            "MIRAGE_GENERATOR_RUNTIME__PORT": str(port),
            "MIRAGE_GENERATOR_MODEL__BASE_URL": model_url,
            "MIRAGE_GENERATOR_MODEL__API_KEY": "sk-bench",
            "MIRAGE_GENERATOR_TYPING__HUMAN_DELAYS": "false",
        },
        log_path,
        ready_url=f"http://127.0.0.1:{port}/readyz",
    )


async def publish_burst(producer: AIOKafkaProducer, topic: str, events: Iterable[Envelope]) -> None:
    """Every event on `topic` at once (keyed as the services key them), then flushed."""
    await asyncio.gather(
        *(producer.send(topic, event.to_json_bytes(), key=partition_key(event)) for event in events)
    )
    await producer.flush()


async def replies_stored(pool: asyncpg.Pool, count: int) -> bool:
    """Whether at least `count` replies are stored."""
    return bool(await pool.fetchval("SELECT count(*) FROM replies") >= count)


async def seed_number(conn: asyncpg.Connection, name_prefix: str) -> tuple[uuid.UUID, uuid.UUID, str]:
    """A tenant with one connected instance: (tenant id, instance id, instance name)."""
    tenant: uuid.UUID = await conn.fetchval(
        "INSERT INTO tenants (slug, name) VALUES ($1, 'bench') RETURNING id", uuid.uuid4().hex
    )
    name = f"{name_prefix}-{uuid.uuid4().hex[:8]}"
    instance: uuid.UUID = await conn.fetchval(
        "INSERT INTO instances (tenant_id, name, webhook_secret, state)"
        " VALUES ($1, $2, 's', 'connected') RETURNING id",
        tenant,
        name,
    )
    return tenant, instance, name


async def seed_chat(
    conn: asyncpg.Connection, tenant: uuid.UUID, instance: uuid.UUID, jid: str
) -> tuple[uuid.UUID, uuid.UUID]:
    """A contact (`jid`, its digits as the phone) and its direct conversation on `instance`:
    (contact id, conversation id)."""
    contact: uuid.UUID = await conn.fetchval(
        "INSERT INTO contacts (tenant_id, jid, phone) VALUES ($1, $2, $3) RETURNING id",
        tenant,
        jid,
        jid.split("@", 1)[0],
    )
    conversation: uuid.UUID = await conn.fetchval(
        "INSERT INTO conversations (tenant_id, instance_id, contact_id, chat_kind)"
        " VALUES ($1, $2, $3, 'direct') RETURNING id",
        tenant,
        instance,
        contact,
    )
    return contact, conversation
