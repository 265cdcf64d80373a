"""Voice-note benchmark: replies per second when every message is a voice note to transcribe.

One guard process and one generator process on the real Kafka, PostgreSQL and Redis; an
OpenAI-compatible stub (`bench/modelstub`, Go, almost no CPU) answers
`/v1/audio/transcriptions` after 300 ms and `/v1/chat/completions` after 500 ms, through the
real `openai` SDK on both sides. The benchmark stores N voice notes the way ingest stores a
webhook that carried the bytes (Evolution's webhook `base64` setting: the raw event keeps
`message.base64`, the message row points at it, `MediaInfo.inline` is set), so the guard's
media step runs its real path with no Evolution server: load → read the inline base64 →
decode and check → transcribe → store bytes and transcript → decide on the transcript
(debounce window 0) → `reply.requested`; the generator reads the transcript from
`message_media` in its context query and asks the model. N `message.received` events (one per
conversation) go on Kafka at once; the clock runs from the first event sent to the N-th
reply stored.

Same-run baseline: the same N transcriptions and N completions straight through the
`openai` SDK (the guard's and the generator's client configuration: the aiohttp transport,
256 kept-alive connections) from one asyncio loop, every voice note transcribed then
answered, all at once, against the same stub — what the SDK allows on this machine with no
Kafka, no database and no Mirage in between. Goal: >= 60 replies/s.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from datetime import UTC, datetime

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
from bench.process_cpu import sample
from contracts import (
    ChatKind,
    MediaInfo,
    MessageCategory,
    MessageReceived,
    MessageReceivedData,
    stable_id,
)
from messaging import KafkaSettings, ensure_topics
from testkit import free_port, wait_until
from testkit.namespaces import new_namespace
from testkit.processes import ServiceProcess

VOICE_NOTES = int(os.environ.get("BENCH_TRANSCRIPTION_VOICE_NOTES", "1500"))
TRANSCRIPTION_LATENCY_MS = 300
MODEL_LATENCY_MS = 500
GOAL_PER_S = 60
SECONDS = 5
# An Opus voice note of SECONDS seconds is about 2 kB a second; it only has to look like Ogg.
VOICE = b"OggS" + bytes(range(256)) * (SECONDS * 2048 // 256)
MIMETYPE = "audio/ogg; codecs=opus"


def _jid(index: int) -> str:
    return f"55117{index:08d}@s.whatsapp.net"


def _webhook(instance: str, provider_id: str, index: int) -> dict[str, object]:
    """Evolution's `messages.upsert` of a voice note, with the bytes (webhook `base64: true`)."""
    return {
        "event": "messages.upsert",
        "instance": instance,
        "data": {
            "key": {"remoteJid": _jid(index), "fromMe": False, "id": provider_id},
            "pushName": f"Cliente {index}",
            "message": {
                "audioMessage": {
                    "mimetype": MIMETYPE,
                    "fileLength": str(len(VOICE)),
                    "seconds": SECONDS,
                    "ptt": True,
                },
                "base64": base64.b64encode(VOICE).decode(),
            },
            "messageType": "audioMessage",
            "messageTimestamp": int(time.time()),
        },
    }


async def _seed(dsn: str, count: int) -> list[MessageReceived]:
    """A tenant, an instance, and `count` conversations each holding one stored voice note; the
    `message.received` ingest would have published for each."""
    conn = await asyncpg.connect(dsn)
    try:
        tenant, instance, name = await seed_number(conn, "voice")
        events = []
        now = datetime.now(UTC)
        async with conn.transaction():
            for index in range(count):
                provider_id = f"3EB0{uuid.uuid4().hex[:18].upper()}"
                webhook = json.dumps(_webhook(name, provider_id, index))
                raw_event = await conn.fetchval(
                    "INSERT INTO raw_events (path, instance_name, instance_id, tenant_id, event, auth_result,"
                    " parse_result, http_status, body_size, payload)"
                    " VALUES ('/webhook/evolution', $1, $2, $3, 'messages.upsert', 'ok', 'ok', 200, $4,"
                    " $5::jsonb) RETURNING id",
                    name,
                    instance,
                    tenant,
                    len(webhook),
                    webhook,
                )
                contact, conversation = await seed_chat(conn, tenant, instance, _jid(index))
                message = await conn.fetchval(
                    "INSERT INTO messages (tenant_id, instance_id, conversation_id, contact_id, provider_id,"
                    " direction, origin, source_event, chat_jid, message_type, category, text, sent_at,"
                    " raw_event_id)"
                    " VALUES ($1, $2, $3, $4, $5, 'inbound', 'contact', 'messages.upsert', $6,"
                    " 'audioMessage', 'audio', NULL, $7, $8) RETURNING id",
                    tenant,
                    instance,
                    conversation,
                    contact,
                    provider_id,
                    _jid(index),
                    now,
                    raw_event,
                )
                events.append(
                    MessageReceived(
                        event_id=stable_id("bench-voice", name, index),
                        tenant_id=tenant,
                        correlation_id=message,
                        data=MessageReceivedData(
                            message_id=message,
                            instance_id=instance,
                            instance_name=name,
                            conversation_id=conversation,
                            contact_id=contact,
                            provider_message_id=provider_id,
                            from_me=False,
                            chat_jid=_jid(index),
                            reply_to=_jid(index),
                            push_name=f"Cliente {index}",
                            chat_kind=ChatKind.DIRECT,
                            category=MessageCategory.AUDIO,
                            text=None,
                            message_type="audioMessage",
                            sent_at=now,
                            media=MediaInfo(
                                kind="audio",
                                mimetype=MIMETYPE,
                                seconds=SECONDS,
                                file_length=len(VOICE),
                                voice_note=True,
                                inline=True,
                            ),
                        ),
                    )
                )
        return events
    finally:
        await conn.close()


async def _baseline(base_url: str, count: int) -> float:
    """Voice notes per second straight through the SDK: transcribe then answer, all at once."""

    transcriber, chat = services_sdk_client(base_url), services_sdk_client(base_url)

    async def one() -> None:
        result = await transcriber.audio.transcriptions.create(
            model="whisper-1",
            file=("voice-note.ogg", VOICE, "audio/ogg"),
            language="pt",
            response_format="json",
        )
        await chat.chat.completions.create(
            model="bench",
            messages=[{"role": "user", "content": f"[áudio transcrito] {result.text}"}],
        )

    await asyncio.gather(*(one() for _ in range(50)))  # warm the connection pools
    with frozen_heap():  # as the guard's and the generator's processes' heaps are
        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        elapsed = time.perf_counter() - start
    await transcriber.close()
    await chat.close()
    return count / elapsed


async def main(count: int = VOICE_NOTES) -> list[str]:
    """Run the voice-note benchmark and return its BENCH line."""
    token = uuid.uuid4().hex[:8]
    namespace = new_namespace("tp")
    async with infrastructure() as infra:
        dsn = await fresh_database(infra, "transcription")
        events = await _seed(dsn, count)
        kafka = KafkaSettings(
            bootstrap_servers=infra.kafka_bootstrap,
            topic_prefix=f"{namespace}.",
            group_prefix=f"{namespace}.",
        )
        await ensure_topics(kafka, [kafka.topic("message.received"), kafka.topic("reply.requested")])
        stub_port, guard_port, generator_port = free_port(), free_port(), free_port()
        common = {
            "MIRAGE_RUNTIME__LOG_LEVEL": "WARNING",
            "OTEL_SDK_DISABLED": "true",
            "MIRAGE_POSTGRES__DSN": dsn,
            "MIRAGE_KAFKA__BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "MIRAGE_KAFKA__TOPIC_PREFIX": kafka.topic_prefix,
            "MIRAGE_KAFKA__GROUP_PREFIX": kafka.group_prefix,
            "MIRAGE_REDIS__URL": infra.redis_url,
            "MIRAGE_REDIS__KEY_PREFIX": f"{namespace}:",
        }
        async with model_stub(
            stub_port, latency_ms=MODEL_LATENCY_MS, transcription_latency_ms=TRANSCRIPTION_LATENCY_MS
        ) as stub_url:
            guard = ServiceProcess(
                "guard",
                "guard.main",
                {
                    **common,
                    "MIRAGE_GUARD_RUNTIME__PORT": str(guard_port),
                    "MIRAGE_GUARD_POLICY__DEBOUNCE_WINDOW_MS": "0",
                    "MIRAGE_GUARD_TRANSCRIPTION__BASE_URL": stub_url,
                    "MIRAGE_GUARD_TRANSCRIPTION__API_KEY": "sk-bench",
                    # Nothing is fetched from Evolution (the bytes came with the webhook).
                    "MIRAGE_EVOLUTION__BASE_URL": "http://127.0.0.1:9",
                    "MIRAGE_EVOLUTION__API_KEY": "unused",
                },
                LOG_DIR / f"transcription-bench-{token}-guard.log",
                ready_url=f"http://127.0.0.1:{guard_port}/readyz",
            )
            generator = generator_process(
                port=generator_port,
                model_url=stub_url,
                env=common,
                log_path=LOG_DIR / f"transcription-bench-{token}-generator.log",
            )
            guard.start()
            generator.start()
            try:
                await asyncio.gather(guard.wait_ready(), generator.wait_ready())
                baseline_rps = await _baseline(stub_url, count)
                producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all", linger_ms=5)
                await producer.start()
                pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
                assert guard.process is not None
                assert generator.process is not None
                pids = {"guard": guard.process.pid, "generator": generator.process.pid}
                cpu_before = sample(pids, {})
                start = time.perf_counter()
                await publish_burst(producer, kafka.topic("message.received"), events)
                await wait_until(
                    lambda: replies_stored(pool, count),
                    timeout=600,
                    interval=0.1,
                    message=f"{count} replies stored",
                )
                elapsed = time.perf_counter() - start
                cpu_ms = cpu_before.per_message_ms(sample(pids, {}), count)
                transcribed, answered = await _check(pool)
                await pool.close()
                await producer.stop()
            finally:
                generator.terminate()
                guard.terminate()
    if transcribed != count or answered != count:
        raise RuntimeError(f"{transcribed} voice notes transcribed, {answered} model replies of {count}")
    rps = count / elapsed
    return [
        bench_line(
            "transcription_path",
            voice_notes=count,
            transcription_latency_ms=TRANSCRIPTION_LATENCY_MS,
            model_latency_ms=MODEL_LATENCY_MS,
            replies_per_s=rps,
            baseline_sdk_per_s=baseline_rps,
            ratio=rps / baseline_rps,
            guard_cpu_ms_per_note=cpu_ms["guard"],
            generator_cpu_ms_per_note=cpu_ms["generator"],
            goal_per_s=GOAL_PER_S,
            **{"pass": rps >= GOAL_PER_S},
        )
    ]


async def _check(pool: asyncpg.Pool) -> tuple[int, int]:
    """Voice notes transcribed by the stub, and replies written by the model (not fallbacks)."""
    transcribed = await pool.fetchval(
        "SELECT count(*) FROM message_media"
        " WHERE status = 'transcribed' AND transcript_source = 'transcription'"
    )
    answered = await pool.fetchval("SELECT count(*) FROM replies WHERE kind = 'reply' AND NOT offline")
    return int(transcribed), int(answered)


if __name__ == "__main__":
    asyncio.run(main())
