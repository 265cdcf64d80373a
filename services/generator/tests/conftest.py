"""Fixtures of the generator's tests: the OpenAI stub, seeded conversations, Kafka helpers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import SecretStr

from contracts import (
    Envelope,
    GenerateReply,
    GenerateReplyData,
    ReplyIntent,
    Topic,
    parse_event,
    partition_key,
    topic_of,
    utc_now,
)
from database import Pool, PostgresSettings
from generator.app import create_app
from generator.settings import GeneratorSettings, ModelSettings, TypingSettings
from messaging import KafkaSettings, ensure_topics
from testkit.asgi import served

from .openai_stub import OpenAIStub


@pytest.fixture
async def stub() -> AsyncIterator[OpenAIStub]:
    """A running OpenAI-compatible stub (fast and healthy until a test says otherwise)."""
    model = OpenAIStub()
    async with served(model.app(), lifespan="off", backlog=2048) as url:
        model.url = url
        yield model


@dataclass(frozen=True)
class Seeded:
    """Rows of one conversation inserted for a test."""

    tenant_id: uuid.UUID
    instance_id: uuid.UUID
    instance_name: str
    persona_id: uuid.UUID | None
    contact_id: uuid.UUID
    conversation_id: uuid.UUID
    reply_to: str


@dataclass(frozen=True)
class PersonaRow:
    """A persona to insert."""

    system_prompt: str = "Você é a Bia, atendente da Loja Teste."
    name: str = "Bia"
    language: str = "pt-BR"
    max_length: int = 600
    emoji: bool = True
    temperature: float = 0.5
    model: str | None = "persona-model"


async def seed_tenant(pool: Pool, opt_in_keywords: Sequence[str] | None = None) -> uuid.UUID:
    """A tenant with a random slug."""
    slug = f"gen-{uuid.uuid4().hex[:12]}"
    tenant_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO tenants (slug, name, opt_in_keywords) VALUES ($1, $2,"
        " coalesce($3::text[], ARRAY['VOLTAR','START','INICIAR'])) RETURNING id",
        slug,
        f"Tenant {slug}",
        list(opt_in_keywords) if opt_in_keywords is not None else None,
    )
    return tenant_id


async def seed_conversation(
    pool: Pool,
    *,
    tenant_id: uuid.UUID | None = None,
    persona: PersonaRow | None = None,
) -> Seeded:
    """Tenant (unless given), optional persona, instance, contact and conversation."""
    tenant_id = tenant_id or await seed_tenant(pool)
    token = uuid.uuid4().hex[:12]
    persona_id: uuid.UUID | None = None
    if persona is not None:
        persona_id = await pool.fetchval(
            "INSERT INTO personas (tenant_id, name, system_prompt, language, max_length, emoji,"
            " temperature, model) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            tenant_id,
            f"{persona.name} {token}",
            persona.system_prompt,
            persona.language,
            persona.max_length,
            persona.emoji,
            persona.temperature,
            persona.model,
        )
    instance_name = f"gen-{token}"
    instance_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO instances (tenant_id, name, webhook_secret, state, persona_id)"
        " VALUES ($1, $2, 'secret', 'connected', $3) RETURNING id",
        tenant_id,
        instance_name,
        persona_id,
    )
    phone = f"55119{uuid.uuid4().int % 10**8:08d}"
    jid = f"{phone}@s.whatsapp.net"
    contact_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO contacts (tenant_id, jid, phone, push_name)"
        " VALUES ($1, $2, $3, 'Ana Souza') RETURNING id",
        tenant_id,
        jid,
        phone,
    )
    conversation_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO conversations (tenant_id, instance_id, contact_id, chat_kind)"
        " VALUES ($1, $2, $3, 'direct') RETURNING id",
        tenant_id,
        instance_id,
        contact_id,
    )
    return Seeded(
        tenant_id=tenant_id,
        instance_id=instance_id,
        instance_name=instance_name,
        persona_id=persona_id,
        contact_id=contact_id,
        conversation_id=conversation_id,
        reply_to=jid,
    )


async def add_message(
    pool: Pool,
    seeded: Seeded,
    text: str | None,
    *,
    at: datetime,
    origin: str = "contact",
    category: str = "text",
    provider_id: str | None = None,
    push_name: str | None = "Ana Souza",
) -> uuid.UUID:
    """A message of the conversation, as ingest would have stored it."""
    direction = "inbound" if origin == "contact" else "outbound"
    message_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO messages (tenant_id, instance_id, conversation_id, contact_id, provider_id,"
        " direction, origin, source_event, chat_jid, push_name, category, text, sent_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, 'messages.upsert', $8, $9, $10, $11, $12) RETURNING id",
        seeded.tenant_id,
        seeded.instance_id,
        seeded.conversation_id,
        seeded.contact_id,
        provider_id or uuid.uuid4().hex[:22].upper(),
        direction,
        origin,
        seeded.reply_to,
        push_name if origin == "contact" else None,
        category,
        text,
        at,
    )
    return message_id


def minutes_ago(minutes: float) -> datetime:
    """A timestamp `minutes` before now."""
    return utc_now() - timedelta(minutes=minutes)


def reply_request(
    seeded: Seeded,
    message_ids: Sequence[uuid.UUID],
    *,
    intent: ReplyIntent = ReplyIntent.ANSWER,
    without_text: bool = False,
    delay_ms: int = 0,
    event_id: uuid.UUID | None = None,
) -> GenerateReply:
    """The guard's `reply.requested` for a burst of the seeded conversation."""
    return GenerateReply(
        event_id=event_id or uuid.uuid4(),
        tenant_id=seeded.tenant_id,
        correlation_id=uuid.uuid4(),
        causation_id=uuid.uuid4(),
        data=GenerateReplyData(
            conversation_id=seeded.conversation_id,
            instance_id=seeded.instance_id,
            instance_name=seeded.instance_name,
            contact_id=seeded.contact_id,
            reply_to=seeded.reply_to,
            message_ids=tuple(message_ids),
            delay_ms=delay_ms,
            without_text=without_text,
            intent=intent,
        ),
    )


def generator_settings(
    kafka: KafkaSettings,
    postgres: PostgresSettings,
    *,
    stub: OpenAIStub | None,
    timeout_s: float = 5.0,
    max_retries: int = 0,
    on_failure: str = "fallback",
    model: str = "default-model",
    typing: TypingSettings | None = None,
    context_messages: int = 20,
) -> GeneratorSettings:
    """Settings pointing at the test's Kafka namespace, database and (optionally) the stub."""
    model_settings = ModelSettings.model_validate(
        {
            "base_url": stub.base_url if stub else None,
            "api_key": SecretStr("test-key") if stub else None,
            "model": model,
            "timeout_s": timeout_s,
            "max_retries": max_retries,
            "on_failure": on_failure,
        }
    )
    return GeneratorSettings.model_validate(
        {
            "kafka": kafka,
            "postgres": postgres,
            "model": model_settings,
            "typing": typing or TypingSettings(),
            "reply": {"context_messages": context_messages},
        }
    )


@asynccontextmanager
async def running_generator(settings: GeneratorSettings) -> AsyncIterator[Any]:
    """The generator process's app, started (consumers, relay, pool) for the block."""
    app = create_app(settings, environ={})
    host = app.state.host
    await host.start()
    try:
        yield app
    finally:
        await host.stop()


async def publish(settings: KafkaSettings, events: Sequence[Envelope]) -> None:
    """Publish events to their topics, keyed as production does, in order."""
    await ensure_topics(settings, {settings.topic(topic_of(event)) for event in events})
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                settings.topic(topic_of(event)), event.to_json_bytes(), key=partition_key(event)
            )
    finally:
        await producer.stop()


async def read_events(
    settings: KafkaSettings, topic: Topic | str, count: int, timeout_s: float = 30
) -> list[Any]:
    """The first `count` records of a logical topic, as (key, parsed event) pairs."""
    consumer = AIOKafkaConsumer(
        settings.topic(topic), bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = utc_now() + timedelta(seconds=timeout_s)
        while len(records) < count:
            if utc_now() >= deadline:
                raise AssertionError(f"read {len(records)} of {count} records from {topic}")
            batch = await consumer.getmany(timeout_ms=500)
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()
    return [(record.key, parse_event(record.value)) for record in records]


async def topic_size(settings: KafkaSettings, topic: Topic | str) -> int:
    """How many records a logical topic holds (the sum of its partitions' end offsets)."""
    name = settings.topic(topic)
    await ensure_topics(settings, [name])
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    await consumer.start()
    try:
        # Topics are created with the settings' partition count (`ensure_topics`).
        offsets = await consumer.end_offsets([TopicPartition(name, p) for p in range(settings.partitions)])
    finally:
        await consumer.stop()
    return sum(offsets.values())
