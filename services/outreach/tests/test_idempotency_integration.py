"""Each of the outreach's consumers handles a redelivered record without changing anything.

A redelivery is what follows a crash between the database commit and the offset commit: the
same record, handled a second time. For `outreach.requested`, `message.sent`, `message.failed`
and `contact.opted_out` the test handles the record once, takes a snapshot of everything the
outreach writes (its tables' rows of the tenant, its outbox rows, its processed-event claims)
and of the quota counters in Redis, handles the same record again, and requires the snapshot
unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from api.outreach.schemas import CampaignCreate
from api.outreach.service import CampaignService
from api.tenants import service as tenants
from contracts import (
    ConsentChangeData,
    ContactOptedOut,
    Envelope,
    MessageFailed,
    MessageFailedData,
    MessageSent,
    MessageSentData,
    RequestOutreach,
    SendPurpose,
    SendText,
    parse_event,
)
from database import Pool
from messaging import Outbox, OutboxRelay, StagedEvent
from outreach.metrics import OutreachMetrics
from outreach.service import CONSENT_CONSUMER, CONSUMER, OUTCOMES_CONSUMER, OutreachWorker
from outreach.settings import OutreachPolicy
from quotas import QuotaGate
from redis_client import RedisSettings, create_redis

pytestmark = pytest.mark.integration


class RecordingRelay:
    """Stands in for the outbox relay: the staged rows stay in the outbox for the test to read."""

    def __init__(self) -> None:
        self.notified: list[StagedEvent] = []

    def notify(self, staged: Sequence[StagedEvent]) -> None:
        self.notified.extend(staged)


@dataclass
class Campaign:
    tenant_id: uuid.UUID
    instance_id: uuid.UUID
    phones: list[str]
    requests: list[RequestOutreach]


PREFIX: list[str] = [""]


@pytest.fixture
async def redis(redis_settings: RedisSettings) -> AsyncIterator[Redis]:
    PREFIX[0] = redis_settings.key_prefix
    assert PREFIX[0], "a key prefix of this test's own"
    client = await create_redis(redis_settings)
    yield client
    await client.aclose()


@pytest.fixture
def worker(db_pool: Pool, redis: Redis, redis_settings: RedisSettings, kafka_settings: Any) -> OutreachWorker:
    outbox = Outbox("outreach", namespace=kafka_settings.topic_prefix)
    built = OutreachWorker(
        policy=OutreachPolicy(), outbox=outbox, metrics=OutreachMetrics(CollectorRegistry())
    )
    built.bind(pool=db_pool, relay=cast(OutboxRelay, RecordingRelay()), gate=QuotaGate(redis, redis_settings))
    return built


@pytest.fixture
async def campaign(
    db_pool: Pool, redis: Redis, redis_settings: RedisSettings, kafka_settings: Any
) -> Campaign:
    """A tenant with one connected number and a running campaign of three contacts, created the
    way the api creates it; its `outreach.requested` commands read back from the api's outbox."""
    slug = f"idem-{uuid.uuid4().hex[:8]}"
    tenant = await tenants.create_tenant(db_pool, slug, slug)
    number = f"55119{uuid.uuid4().int % 10**8:08d}"
    name = f"idem-{uuid.uuid4().hex[:8]}"
    instance_id = await db_pool.fetchval(
        "INSERT INTO instances (tenant_id, name, webhook_secret, state, owner_jid)"
        " VALUES ($1, $2, 's', 'connected', $3) RETURNING id",
        tenant.id,
        name,
        f"{number}@s.whatsapp.net",
    )
    phones = [f"55119{uuid.uuid4().int % 10**8:08d}" for _ in range(3)]
    service = CampaignService(
        pool=db_pool,
        outbox=Outbox("api", namespace=kafka_settings.topic_prefix),
        relay=cast(OutboxRelay, RecordingRelay()),
        gate=QuotaGate(redis, redis_settings),
    )
    created = await service.create(
        tenant,
        CampaignCreate.model_validate(
            {
                "name": "Idempotência",
                "instances": [name],
                "contacts": [{"phone": phone, "variables": {"name": "Ana"}} for phone in phones],
                "template": "Oi {{name}}",
                "pacing": {"min_gap_s": 0, "max_gap_s": 0},
            }
        ),
    )
    requests = [
        event
        for event in await staged(db_pool, "api", str(tenant.id))
        if isinstance(event, RequestOutreach) and event.data.campaign_id == created.id
    ]
    assert len(requests) == 3
    return Campaign(tenant.id, instance_id, phones, requests)


async def staged(pool: Pool, producer: str, tenant: str) -> list[Envelope]:
    """The events a producer staged for a tenant, oldest first."""
    rows = await pool.fetch(
        "SELECT payload FROM outbox WHERE producer LIKE '%' || $1"
        " AND strpos(convert_from(payload, 'UTF8'), $2) > 0 ORDER BY id",
        producer,
        tenant,
    )
    return [parse_event(bytes(row["payload"])) for row in rows]


async def snapshot(
    pool: Pool, redis: Redis, tenant_id: uuid.UUID, event_ids: list[uuid.UUID]
) -> dict[str, Any]:
    """Everything the outreach writes that concerns the tenant, as comparable text."""
    tables = await pool.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_description d ON d.objoid = c.oid AND d.objsubid = 0"
        " WHERE n.nspname = 'public' AND c.relkind = 'r' AND d.description LIKE 'writer: outreach%'"
    )
    assert tables, "the outreach writes tables"
    state: dict[str, Any] = {}
    for table in tables:
        rows = await pool.fetch(
            f'SELECT t::text AS row FROM "{table["relname"]}" t WHERE strpos(t::text, $1) > 0',
            str(tenant_id),
        )
        state[table["relname"]] = sorted(row["row"] for row in rows)
    # campaign_targets is the api's table, but the outreach moves its targets' states.
    targets = await pool.fetch(
        "SELECT t::text AS row FROM campaign_targets t WHERE tenant_id = $1", tenant_id
    )
    state["campaign_targets"] = sorted(row["row"] for row in targets)
    outbox = await pool.fetch(
        "SELECT id, topic, payload FROM outbox WHERE producer LIKE '%outreach'"
        " AND strpos(convert_from(payload, 'UTF8'), $1) > 0 ORDER BY id",
        str(tenant_id),
    )
    state["outbox"] = [(row["id"], row["topic"], bytes(row["payload"])) for row in outbox]
    claims = await pool.fetch(
        "SELECT consumer, event_id FROM processed_events WHERE event_id = ANY($1::uuid[]) ORDER BY 1, 2",
        event_ids,
    )
    state["processed_events"] = [tuple(row) for row in claims]
    # This test's keys only (the Redis is shared).
    prefix = PREFIX[0]
    keys = sorted([key async for key in redis.scan_iter(match=f"{prefix}*")])
    state["redis"] = {key: await _redis_value(redis, key) for key in keys}
    return state


async def _redis_value(redis: Redis, key: Any) -> Any:
    kind = await redis.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "string":
        return await redis.get(key)
    if kind == "zset":
        return await redis.zrange(key, 0, -1, withscores=True)
    if kind == "hash":
        return sorted((await redis.hgetall(key)).items())
    if kind == "set":
        return sorted(await redis.smembers(key))
    if kind == "list":
        return await redis.lrange(key, 0, -1)
    return kind


async def twice_changes_nothing(
    handler: Any, event: Envelope, pool: Pool, redis: Redis, tenant_id: uuid.UUID, ids: list[uuid.UUID]
) -> dict[str, Any]:
    """Handle `event`, snapshot, handle the same record again (decoded afresh), and compare."""
    await handler(event)
    before = await snapshot(pool, redis, tenant_id, ids)
    await handler(type(event).model_validate_json(event.to_json_bytes()))
    after = await snapshot(pool, redis, tenant_id, ids)
    assert after == before
    return after


async def test_each_outreach_consumer_handles_a_redelivered_record_without_a_change(
    worker: OutreachWorker, campaign: Campaign, db_pool: Pool, redis: Redis
) -> None:
    tenant = campaign.tenant_id
    first, second, third = campaign.requests
    ids = [request.event_id for request in campaign.requests]

    async def progress() -> list[tuple[str, str | None]]:
        rows = await db_pool.fetch(
            "SELECT p.state, p.reason FROM campaign_target_progress p JOIN campaign_targets t"
            " ON t.id = p.target_id WHERE p.tenant_id = $1 ORDER BY t.row_number",
            tenant,
        )
        return [(row["state"], row["reason"]) for row in rows]

    async def sends() -> list[SendText]:
        return [
            event for event in await staged(db_pool, "outreach", str(tenant)) if isinstance(event, SendText)
        ]

    # outreach.requested: the first target is handed to the sender (one send, one quota unit).
    state = await twice_changes_nothing(worker.on_outreach_requested, first, db_pool, redis, tenant, ids)
    assert len(await sends()) == 1
    assert (CONSUMER, first.event_id) in state["processed_events"]
    assert any(value for value in state["redis"].values()), "a quota unit was taken"
    # The third target finds the number busy with that send and waits.
    await twice_changes_nothing(worker.on_outreach_requested, third, db_pool, redis, tenant, ids)
    assert (await progress())[1] == ("queued", "number_busy")

    # contact.opted_out for the third contact: its waiting target is skipped once.
    opted_out = ContactOptedOut(
        tenant_id=tenant,
        correlation_id=uuid.uuid4(),
        data=ConsentChangeData.model_validate(
            {
                "contact_id": uuid.uuid4(),
                "phone": campaign.phones[2],
                "jid": f"{campaign.phones[2]}@s.whatsapp.net",
                "instance_id": campaign.instance_id,
                "keyword": "PARE",
                "source": "inbound_keyword",
                "message_id": uuid.uuid4(),
            }
        ),
    )
    ids.append(opted_out.event_id)
    state = await twice_changes_nothing(worker.on_consent_changed, opted_out, db_pool, redis, tenant, ids)
    assert (CONSENT_CONSUMER, opted_out.event_id) in state["processed_events"]
    assert (await progress())[1] == ("skipped", "opted_out")

    # message.sent for the first send: its target is settled once.
    [send] = await sends()
    sent = MessageSent(
        tenant_id=tenant,
        correlation_id=first.correlation_id,
        data=MessageSentData(
            send_id=send.data.send_id,
            instance_id=campaign.instance_id,
            instance_name=send.data.instance_name,
            to=send.data.to,
            provider_message_id="3EB0" + uuid.uuid4().hex[:18].upper(),
            attempts=1,
            purpose=SendPurpose.OUTREACH,
            sent_at=datetime.now(UTC),
        ),
    )
    ids.append(sent.event_id)
    state = await twice_changes_nothing(worker.on_message_sent, sent, db_pool, redis, tenant, ids)
    assert (OUTCOMES_CONSUMER, sent.event_id) in state["processed_events"]
    assert (await progress())[0] == ("sent", None)

    # The second target goes out and fails for good: settled once.
    await worker.on_outreach_requested(second)
    assert len(await sends()) == 2
    failing = (await sends())[1]
    failed = MessageFailed(
        tenant_id=tenant,
        correlation_id=second.correlation_id,
        data=MessageFailedData(
            send_id=failing.data.send_id,
            instance_id=campaign.instance_id,
            instance_name=failing.data.instance_name,
            to=failing.data.to,
            error="not on WhatsApp",
            failure_code="not_on_whatsapp",
            status_code=400,
            attempts=1,
            retryable=False,
            purpose=SendPurpose.OUTREACH,
        ),
    )
    ids.append(failed.event_id)
    state = await twice_changes_nothing(worker.on_message_failed, failed, db_pool, redis, tenant, ids)
    assert (OUTCOMES_CONSUMER, failed.event_id) in state["processed_events"]
    assert await progress() == [("sent", None), ("failed", "not_on_whatsapp"), ("skipped", "opted_out")]
