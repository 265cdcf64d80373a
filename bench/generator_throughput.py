"""Generator benchmark: replies per second from ONE generator process with a 500 ms model.

The generator runs as its own process on the real Kafka and PostgreSQL, calling
an OpenAI-compatible stub with 500 ms of latency through the real `openai` SDK.
The benchmark puts N `reply.requested` commands (one per conversation) on Kafka
and measures how long the generator takes to store all N replies.

Same-run baseline: the same N completions requested straight through the
`openai` SDK from one asyncio loop, all at once, against the same stub — what
the SDK allows on this machine with no Kafka, no database and no Mirage in between.
The stub is a tiny Go server (`bench/modelstub`), so the measurement is of the
client side, not of the stub. Goal: >= 100 replies/s.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import httpx2
import openai
from aiokafka import AIOKafkaProducer

from bench.harness import LOG_DIR, bench_line, fresh_database, go_tool, infrastructure, process, wait_http
from contracts import GenerateReply, GenerateReplyData, partition_key, stable_id
from messaging import KafkaSettings, ensure_topics
from testkit import free_port, wait_until
from testkit.namespaces import new_namespace
from testkit.processes import ServiceProcess

REQUESTS = 1500
MODEL_LATENCY_MS = 500


async def _seed(
    dsn: str, count: int
) -> tuple[uuid.UUID, uuid.UUID, str, list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]]:
    """A tenant, an instance and `count` conversations, each with one inbound message."""
    conn = await asyncpg.connect(dsn)
    try:
        tenant = await conn.fetchval(
            "INSERT INTO tenants (slug, name) VALUES ($1, 'bench') RETURNING id", uuid.uuid4().hex
        )
        name = f"gen-{uuid.uuid4().hex[:8]}"
        instance = await conn.fetchval(
            "INSERT INTO instances (tenant_id, name, webhook_secret, state)"
            " VALUES ($1, $2, 's', 'connected') RETURNING id",
            tenant,
            name,
        )
        rows = []
        for index in range(count):
            contact = await conn.fetchval(
                "INSERT INTO contacts (tenant_id, jid, phone) VALUES ($1, $2, $3) RETURNING id",
                tenant,
                f"55116{index:08d}@s.whatsapp.net",
                f"55116{index:08d}",
            )
            conversation = await conn.fetchval(
                "INSERT INTO conversations (tenant_id, instance_id, contact_id, chat_kind)"
                " VALUES ($1, $2, $3, 'direct') RETURNING id",
                tenant,
                instance,
                contact,
            )
            message = await conn.fetchval(
                "INSERT INTO messages (tenant_id, instance_id, conversation_id, contact_id, provider_id,"
                " direction, origin, source_event, chat_jid, category, text, sent_at)"
                " VALUES ($1, $2, $3, $4, $5, 'inbound', 'contact', 'messages.upsert', $6, 'text',"
                " 'Vocês têm o modelo azul em estoque?', now()) RETURNING id",
                tenant,
                instance,
                conversation,
                contact,
                uuid.uuid4().hex[:20].upper(),
                f"55116{index:08d}@s.whatsapp.net",
            )
            rows.append((conversation, contact, message))
        return tenant, instance, name, rows
    finally:
        await conn.close()


async def _baseline(base_url: str, count: int) -> float:
    """Completions per second straight through the SDK, all requests at once."""
    # The same client configuration as the generator's: the aiohttp transport, 256 connections.
    client = openai.AsyncOpenAI(
        base_url=base_url,
        api_key="sk-bench",
        max_retries=0,
        timeout=60,
        http_client=openai.DefaultAioHttpClient(
            limits=httpx2.Limits(max_connections=256, max_keepalive_connections=256)
        ),
    )
    messages = [{"role": "user", "content": "Vocês têm o modelo azul em estoque?"}]

    async def one() -> None:
        await client.chat.completions.create(model="bench", messages=messages)  # type: ignore[arg-type]

    await asyncio.gather(*(one() for _ in range(50)))  # warm the connection pool
    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    elapsed = time.perf_counter() - start
    await client.close()
    return count / elapsed


async def main(count: int = REQUESTS) -> list[str]:
    """Run the generator benchmark and return its BENCH line."""
    token = uuid.uuid4().hex[:8]
    namespace = new_namespace("gb")
    async with infrastructure() as infra:
        dsn = await fresh_database(infra, "generator")
        tenant, instance, name, conversations = await _seed(dsn, count)
        kafka = KafkaSettings(
            bootstrap_servers=infra.kafka_bootstrap,
            topic_prefix=f"{namespace}.",
            group_prefix=f"{namespace}.",
        )
        await ensure_topics(kafka, [kafka.topic("reply.requested")])
        stub_port, generator_port = free_port(), free_port()
        common = {"MIRAGE_RUNTIME__LOG_LEVEL": "WARNING", "OTEL_SDK_DISABLED": "true"}
        generator = ServiceProcess(
            "generator",
            "generator.main",
            {
                **common,
                "MIRAGE_GENERATOR_RUNTIME__PORT": str(generator_port),
                "MIRAGE_GENERATOR_POSTGRES__DSN": dsn,
                "MIRAGE_GENERATOR_KAFKA__BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
                "MIRAGE_GENERATOR_KAFKA__TOPIC_PREFIX": kafka.topic_prefix,
                "MIRAGE_GENERATOR_KAFKA__GROUP_PREFIX": kafka.group_prefix,
                "MIRAGE_GENERATOR_MODEL__BASE_URL": f"http://127.0.0.1:{stub_port}/v1",
                "MIRAGE_GENERATOR_MODEL__API_KEY": "sk-bench",
                "MIRAGE_GENERATOR_TYPING__HUMAN_DELAYS": "false",
            },
            LOG_DIR / f"generator-bench-{token}-generator.log",
            ready_url=f"http://127.0.0.1:{generator_port}/readyz",
        )
        stub_argv = [
            str(go_tool("modelstub")),
            "-addr",
            f"127.0.0.1:{stub_port}",
            "-latency",
            f"{MODEL_LATENCY_MS}ms",
        ]
        with process("modelstub", stub_argv, {}) as stub:
            await wait_http(f"http://127.0.0.1:{stub_port}/healthz", stub)
            generator.start()
            try:
                await generator.wait_ready()
                baseline_rps = await _baseline(f"http://127.0.0.1:{stub_port}/v1", count)
                producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all", linger_ms=5)
                await producer.start()
                commands = [
                    GenerateReply(
                        event_id=stable_id("bench", token, index),
                        tenant_id=tenant,
                        correlation_id=message,
                        data=GenerateReplyData(
                            conversation_id=conversation,
                            instance_id=instance,
                            instance_name=name,
                            contact_id=contact,
                            reply_to=f"55116{index:08d}@s.whatsapp.net",
                            message_ids=(message,),
                        ),
                    )
                    for index, (conversation, contact, message) in enumerate(conversations)
                ]
                pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
                start = time.perf_counter()
                await asyncio.gather(
                    *(
                        producer.send(
                            kafka.topic("reply.requested"),
                            command.to_json_bytes(),
                            key=partition_key(command),
                        )
                        for command in commands
                    )
                )
                await producer.flush()
                await wait_until(
                    lambda: _stored(pool, count), timeout=300, interval=0.1, message=f"{count} replies stored"
                )
                elapsed = time.perf_counter() - start
                await pool.close()
                await producer.stop()
            finally:
                generator.terminate()
    rps = count / elapsed
    return [
        bench_line(
            "generator_throughput",
            replies=count,
            model_latency_ms=MODEL_LATENCY_MS,
            replies_per_s=rps,
            baseline_sdk_per_s=baseline_rps,
            ratio=rps / baseline_rps,
            goal_per_s=100,
            **{"pass": rps >= 100},
        )
    ]


async def _stored(pool: asyncpg.Pool, count: int) -> bool:
    return bool(await pool.fetchval("SELECT count(*) FROM replies") >= count)


if __name__ == "__main__":
    asyncio.run(main())
