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
from aiokafka import AIOKafkaProducer

from bench.harness import LOG_DIR, bench_line, fresh_database, frozen_heap, infrastructure
from bench.model_path import (
    generator_process,
    model_stub,
    publish_burst,
    replies_stored,
    seed_chat,
    seed_number,
    services_sdk_client,
)
from contracts import GenerateReply, GenerateReplyData, stable_id
from messaging import KafkaSettings, ensure_topics
from testkit import free_port, wait_until
from testkit.namespaces import new_namespace

REQUESTS = 1500
MODEL_LATENCY_MS = 500


async def _seed(
    dsn: str, count: int
) -> tuple[uuid.UUID, uuid.UUID, str, list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]]:
    """A tenant, an instance and `count` conversations, each with one inbound message."""
    conn = await asyncpg.connect(dsn)
    try:
        tenant, instance, name = await seed_number(conn, "gen")
        rows = []
        for index in range(count):
            contact, conversation = await seed_chat(
                conn, tenant, instance, f"55116{index:08d}@s.whatsapp.net"
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
    client = services_sdk_client(base_url)
    messages = [{"role": "user", "content": "Vocês têm o modelo azul em estoque?"}]

    async def one() -> None:
        await client.chat.completions.create(model="bench", messages=messages)  # type: ignore[arg-type]

    await asyncio.gather(*(one() for _ in range(50)))  # warm the connection pool
    with frozen_heap():  # as the generator process's heap is
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
        env = {
            "MIRAGE_RUNTIME__LOG_LEVEL": "WARNING",
            "OTEL_SDK_DISABLED": "true",
            "MIRAGE_GENERATOR_POSTGRES__DSN": dsn,
            "MIRAGE_GENERATOR_KAFKA__BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "MIRAGE_GENERATOR_KAFKA__TOPIC_PREFIX": kafka.topic_prefix,
            "MIRAGE_GENERATOR_KAFKA__GROUP_PREFIX": kafka.group_prefix,
        }
        async with model_stub(stub_port, latency_ms=MODEL_LATENCY_MS) as model_url:
            generator = generator_process(
                port=generator_port,
                model_url=model_url,
                env=env,
                log_path=LOG_DIR / f"generator-bench-{token}-generator.log",
            )
            generator.start()
            try:
                await generator.wait_ready()
                baseline_rps = await _baseline(model_url, count)
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
                await publish_burst(producer, kafka.topic("reply.requested"), commands)
                await wait_until(
                    lambda: replies_stored(pool, count),
                    timeout=300,
                    interval=0.1,
                    message=f"{count} replies stored",
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


if __name__ == "__main__":
    asyncio.run(main())
