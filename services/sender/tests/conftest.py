"""Fixtures of the sender's integration tests: an Evolution stub, tenant rows, a running sender."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import SecretStr

from contracts import (
    AdminAlert,
    Envelope,
    MessageFailed,
    MessageSent,
    SendPurpose,
    SendText,
    SendTextData,
    Topic,
    parse_event,
    partition_key,
)
from database import Pool, PostgresSettings
from evolution_client import EvolutionSettings
from messaging import KafkaSettings, create_broker, ensure_topics
from sender.app import create_app
from sender.settings import (
    PresenceSettings,
    SenderRuntime,
    SenderSettings,
    SendRetrySettings,
)
from testkit import wait_until
from testkit.asgi import served

from .evolution_stub import GLOBAL_KEY, EvolutionStub


@dataclass(frozen=True)
class Contact:
    """A contact of the test tenant and its conversation with the test instance."""

    contact_id: uuid.UUID
    conversation_id: uuid.UUID
    phone: str


@dataclass(frozen=True)
class World:
    """One tenant with one instance (with a token) and one contact, inserted with SQL."""

    tenant_id: uuid.UUID
    instance_id: uuid.UUID
    instance_name: str
    token: str | None
    contact: Contact

    def command(
        self,
        text: str,
        *,
        contact: Contact | None = None,
        to: str | None = None,
        purpose: SendPurpose = SendPurpose.REPLY,
        typing_delay_ms: int = 0,
        part_index: int = 0,
        send_id: uuid.UUID | None = None,
        instance_id: uuid.UUID | None = None,
    ) -> SendText:
        """A `send.requested` command from this world."""
        target = contact or self.contact
        return SendText(
            tenant_id=self.tenant_id,
            correlation_id=uuid.uuid4(),
            data=SendTextData(
                send_id=send_id or uuid.uuid4(),
                instance_id=instance_id or self.instance_id,
                instance_name=self.instance_name,
                conversation_id=target.conversation_id,
                contact_id=target.contact_id,
                to=to or target.phone,
                text=text,
                typing_delay_ms=typing_delay_ms,
                purpose=purpose,
                part_index=part_index,
            ),
        )


def random_phone() -> str:
    """A Brazilian mobile number (13 digits, ninth digit 9) unique enough for one test run."""
    return "55119" + str(uuid.uuid4().int)[:8]


async def add_contact(
    pool: Pool, tenant_id: uuid.UUID, instance_id: uuid.UUID, phone: str | None = None
) -> Contact:
    """A contact with a direct conversation on the instance."""
    phone = phone or random_phone()
    async with pool.acquire() as conn:
        contact_id = await conn.fetchval(
            "INSERT INTO contacts (tenant_id, jid, phone) VALUES ($1, $2, $3) RETURNING id",
            tenant_id,
            f"{phone}@s.whatsapp.net",
            phone,
        )
        conversation_id = await conn.fetchval(
            "INSERT INTO conversations (tenant_id, instance_id, contact_id, chat_kind)"
            " VALUES ($1, $2, $3, 'direct') RETURNING id",
            tenant_id,
            instance_id,
            contact_id,
        )
    return Contact(contact_id, conversation_id, phone)


async def add_instance(
    pool: Pool,
    tenant_id: uuid.UUID,
    *,
    token: str | None,
    sending_stopped: bool = False,
    state: str = "connected",
) -> tuple[uuid.UUID, str]:
    """An instance of the tenant; returns its id and name."""
    name = f"inst-{uuid.uuid4().hex[:10]}"
    async with pool.acquire() as conn:
        instance_id = await conn.fetchval(
            "INSERT INTO instances (tenant_id, name, token, webhook_secret, state, sending_stopped)"
            " VALUES ($1, $2, $3, 's', $4, $5) RETURNING id",
            tenant_id,
            name,
            token,
            state,
            sending_stopped,
        )
    return instance_id, name


async def new_world(pool: Pool, stub: EvolutionStub, *, token: bool = True) -> World:
    """A fresh tenant, instance and contact; the stub learns the instance token."""
    async with pool.acquire() as conn:
        tenant_id = await conn.fetchval(
            "INSERT INTO tenants (slug, name) VALUES ($1, 'Sender test') RETURNING id", f"t-{uuid.uuid4()}"
        )
    instance_token = f"tok-{uuid.uuid4().hex}" if token else None
    instance_id, name = await add_instance(pool, tenant_id, token=instance_token)
    if instance_token is not None:
        stub.tokens[name] = instance_token
    contact = await add_contact(pool, tenant_id, instance_id)
    return World(tenant_id, instance_id, name, instance_token, contact)


class TopicTail:
    """Every record of one physical topic, read from the beginning in the background."""

    def __init__(self, settings: KafkaSettings, topic: str) -> None:
        self.topic = topic
        self.records: list[ConsumerRecord[bytes, bytes]] = []
        self._next_offset: dict[int, int] = {}
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.bootstrap_servers,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start reading."""
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            for records in batches.values():
                for record in records:
                    self.records.append(record)
                    self._next_offset[record.partition] = record.offset + 1

    async def stop(self) -> None:
        """Stop reading."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    def events(self) -> list[Envelope]:
        """The records parsed as Mirage events, in arrival order."""
        return [parse_event(record.value or b"") for record in self.records]

    async def caught_up(self) -> None:
        """Wait until everything written to the topic so far has been read."""
        partitions = self._consumer.partitions_for_topic(self.topic) or set()
        ends = await self._consumer.end_offsets([TopicPartition(self.topic, p) for p in partitions])
        await wait_until(
            lambda: all(self._next_offset.get(tp.partition, 0) >= end for tp, end in ends.items()),
            timeout=30,
            message=f"reading {self.topic} to its end",
        )


@dataclass
class SenderHarness:
    """A running sender plus what the tests need around it."""

    settings: SenderSettings
    pool: Pool
    stub: EvolutionStub
    sent: TopicTail
    failed: TopicTail
    alerts: TopicTail
    dead_letters: TopicTail
    producer: Any = field(repr=False)

    async def publish(self, *commands: SendText) -> None:
        """Publish commands to `send.requested`, keyed like production, in order."""
        for command in commands:
            await self.producer.publish(
                command.to_json_bytes(),
                topic=self.settings.kafka.topic(Topic.SEND_REQUESTED),
                key=partition_key(command),
            )

    async def row(self, send_id: uuid.UUID) -> asyncpg.Record | None:
        """The `sends` row of a send."""
        async with self.pool.acquire() as conn:
            return await conn.fetchrow("SELECT * FROM sends WHERE send_id = $1", send_id)

    async def wait_status(self, send_id: uuid.UUID, status: str, timeout: float = 30) -> asyncpg.Record:
        """Wait until the send's row reaches `status` (failing fast on another final status)."""

        async def reached() -> asyncpg.Record | None:
            row = await self.row(send_id)
            if row is not None and row["status"] not in ("sending", status):
                raise AssertionError(f"send settled as {row['status']!r}, expected {status!r}: {dict(row)}")
            return row if row is not None and row["status"] == status else None

        found: asyncpg.Record = await wait_until(reached, timeout=timeout, message=f"send {send_id} {status}")
        return found

    async def settled(self) -> None:
        """Wait until every event the sender staged is on Kafka and every tail has read it."""

        async def outbox_empty() -> bool:
            async with self.pool.acquire() as conn:
                return not await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE producer = $1",
                    f"{self.settings.kafka.topic_prefix}sender",
                )

        await wait_until(outbox_empty, timeout=30, message="the sender's outbox to drain")
        for tail in (self.sent, self.failed, self.alerts, self.dead_letters):
            await tail.caught_up()

    def sent_events(self, send_id: uuid.UUID) -> list[MessageSent]:
        """`message.sent` events of one send."""
        return [e for e in self.sent.events() if isinstance(e, MessageSent) and e.data.send_id == send_id]

    def failed_events(self, send_id: uuid.UUID) -> list[MessageFailed]:
        """`message.failed` events of one send."""
        return [e for e in self.failed.events() if isinstance(e, MessageFailed) and e.data.send_id == send_id]

    def alert_events(self, send_id: uuid.UUID) -> list[AdminAlert]:
        """`admin.alert` events about one send."""
        return [e for e in self.alerts.events() if isinstance(e, AdminAlert) and e.data.send_id == send_id]

    def dead_lettered(self, send_id: uuid.UUID) -> list[SendText]:
        """Commands of one send found on `send.requested.dlq.sender`."""
        return [
            e for e in self.dead_letters.events() if isinstance(e, SendText) and e.data.send_id == send_id
        ]


def sender_settings(
    kafka_settings: KafkaSettings, postgres_settings: PostgresSettings, stub: EvolutionStub, **overrides: Any
) -> SenderSettings:
    """Test settings: the stub as Evolution, small delays and timeouts."""
    settings = SenderSettings(
        runtime=SenderRuntime(log_json=False),
        kafka=kafka_settings,
        postgres=postgres_settings,
        evolution=EvolutionSettings(
            base_url=stub.url, api_key=SecretStr(GLOBAL_KEY), connect_timeout_s=1.0, read_timeout_s=5.0
        ),
        retry=SendRetrySettings(attempts=3, base_delay_s=0.05, max_delay_s=0.2),
        presence=PresenceSettings(enabled=True, max_delay_ms=50),
        echo_wait_s=0.5,
        poll_interval_s=0.05,
    )
    return settings.model_copy(update=overrides)


RunSender = Callable[..., AbstractAsyncContextManager[SenderHarness]]


@pytest.fixture
async def stub() -> AsyncIterator[EvolutionStub]:
    """The Evolution stand-in, serving for one test."""
    evolution = EvolutionStub()
    async with served(evolution.build_app(), lifespan="off", http="h11") as url:
        evolution.url = url
        try:
            yield evolution
        finally:
            evolution.release_hung()  # hung handlers must finish before the server can stop


@pytest.fixture
async def world(db_pool: Pool, stub: EvolutionStub) -> World:
    """A fresh tenant, instance (with token) and contact."""
    return await new_world(db_pool, stub)


@pytest.fixture
def run_sender(
    kafka_settings: KafkaSettings, postgres_settings: PostgresSettings, db_pool: Pool, stub: EvolutionStub
) -> RunSender:
    """Start the real sender app (its composition root) against the stub; settings overridable."""

    @asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[SenderHarness]:
        settings = sender_settings(kafka_settings, postgres_settings, stub, **overrides)
        app = create_app(settings)
        host = app.state.host
        await host.start()
        producer = create_broker(kafka_settings, client_id="sender-test-producer")
        await producer.start()
        tails = [
            TopicTail(kafka_settings, kafka_settings.topic(topic))
            for topic in (Topic.MESSAGE_SENT, Topic.MESSAGE_FAILED, Topic.ADMIN_ALERT)
        ]
        tails.append(TopicTail(kafka_settings, kafka_settings.dead_letter(Topic.SEND_REQUESTED, "sender")))
        for tail in tails:
            await tail.start()
        try:
            sent, failed, alerts, dead_letters = tails
            yield SenderHarness(settings, db_pool, stub, sent, failed, alerts, dead_letters, producer)
        finally:
            for tail in tails:
                await tail.stop()
            await producer.stop()
            await host.stop()

    return running


async def create_send_topics(kafka_settings: KafkaSettings) -> None:
    """Create `send.requested` before the sender exists, to publish into it first."""
    await ensure_topics(kafka_settings, [kafka_settings.topic(Topic.SEND_REQUESTED)])
