"""`apply_trigger` against PostgreSQL: conditional updates, history, staged events."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from contracts import InstanceState, InstanceStatusChanged, parse_event
from database import Pool
from instance_lifecycle import (
    REPORT_REORDER_WINDOW,
    Outcome,
    Pairing,
    QrCode,
    Trigger,
    apply_trigger,
    claim_report,
    database_now,
    report_applied_since,
)
from messaging import Outbox

pytestmark = pytest.mark.integration

OUTBOX = Outbox("lifecycle-test")


async def _new_instance(pool: Pool) -> uuid.UUID:
    async with pool.acquire() as conn:
        tenant = await conn.fetchval(
            "INSERT INTO tenants (slug, name) VALUES ($1, 'T') RETURNING id", f"t-{uuid.uuid4()}"
        )
        instance: uuid.UUID = await conn.fetchval(
            "INSERT INTO instances (tenant_id, name, webhook_secret) VALUES ($1, $2, 's') RETURNING id",
            tenant,
            f"i-{uuid.uuid4()}",
        )
    return instance


async def _apply(pool: Pool, instance: uuid.UUID, trigger: Trigger, **kwargs: Any) -> Outcome:
    async with pool.acquire() as conn, conn.transaction():
        return await apply_trigger(conn, instance_id=instance, trigger=trigger, outbox=OUTBOX, **kwargs)


async def test_onboarding_persists_states_qr_and_events(db_pool: Pool) -> None:
    instance = await _new_instance(db_pool)
    created = await _apply(db_pool, instance, Trigger.CREATED)
    assert created.state is InstanceState.OPEN
    qr = await _apply(
        db_pool,
        instance,
        Trigger.QR_ISSUED,
        qr=QrCode(code="2@abc", base64="data:image/png;base64,x"),
    )
    assert qr.qr_expires_at is not None
    paired = await _apply(
        db_pool,
        instance,
        Trigger.EVOLUTION_OPEN,
        status_code=200,
        pairing=Pairing("5511@s.whatsapp.net", "Loja"),
    )
    assert paired.state is InstanceState.CONNECTED
    events = [parse_event(item.payload) for item in created.staged + paired.staged]
    assert [(e.data.previous, e.data.current) for e in events if isinstance(e, InstanceStatusChanged)] == [
        (InstanceState.CREATING, InstanceState.OPEN),
        (InstanceState.OPEN, InstanceState.CONNECTED),
    ]
    assert qr.staged == []  # a refreshed QR is not a status change
    async with db_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM instances WHERE id = $1", instance)
        assert row is not None
        history = await conn.fetch(
            "SELECT previous, current, applied FROM instance_transitions WHERE instance_id = $1 ORDER BY id",
            instance,
        )
    assert row["state"] == "connected"
    assert row["qr_code"] is None
    assert row["owner_jid"] == "5511@s.whatsapp.net"
    assert [tuple(r) for r in history] == [
        ("creating", "open", True),
        ("open", "open", True),
        ("open", "connected", True),
    ]


async def test_an_illegal_trigger_is_refused_recorded_and_not_applied(db_pool: Pool) -> None:
    instance = await _new_instance(db_pool)
    refused = await _apply(db_pool, instance, Trigger.QR_EXPIRED)
    assert not refused.applied
    assert refused.staged == []
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT state FROM instances WHERE id = $1", instance) == "creating"
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM instance_transitions WHERE instance_id = $1 AND NOT applied",
                instance,
            )
            == 1
        )


async def test_a_likely_ban_stops_sending_and_pairing_again_resumes_it(db_pool: Pool) -> None:
    instance = await _new_instance(db_pool)
    await _apply(db_pool, instance, Trigger.CREATED)
    await _apply(db_pool, instance, Trigger.EVOLUTION_OPEN)
    banned = await _apply(db_pool, instance, Trigger.EVOLUTION_BANNED, status_code=403)
    assert banned.state is InstanceState.DISCONNECTED
    assert banned.sending_stopped
    [event] = [parse_event(item.payload) for item in banned.staged]
    assert isinstance(event, InstanceStatusChanged)
    assert event.data.sending_stopped
    assert event.data.reason == "likely_banned"
    resumed = await _apply(db_pool, instance, Trigger.EVOLUTION_OPEN)
    assert resumed.state is InstanceState.CONNECTED
    assert not resumed.sending_stopped


async def test_concurrent_writers_never_lose_a_transition(db_pool: Pool) -> None:
    """Ingest and api racing on one instance: each applies from the state it really finds."""
    instance = await _new_instance(db_pool)
    await _apply(db_pool, instance, Trigger.CREATED)
    outcomes = await asyncio.gather(
        *(
            _apply(db_pool, instance, trigger)
            for trigger in [Trigger.EVOLUTION_OPEN, Trigger.OPERATOR_LOGOUT] * 3
        )
    )
    async with db_pool.acquire() as conn:
        history = await conn.fetch(
            "SELECT previous, current FROM instance_transitions"
            " WHERE instance_id = $1 AND applied ORDER BY id",
            instance,
        )
        final = await conn.fetchval("SELECT state FROM instances WHERE id = $1", instance)
    # The recorded steps chain: each starts where the previous one ended.
    for before, after in itertools.pairwise(history):
        assert before["current"] == after["previous"]
    assert final == history[-1]["current"]
    assert all(o.state.value in {"connected", "closed", "open"} for o in outcomes)


async def _claim(pool: Pool, instance: uuid.UUID, reported_at: datetime) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        return await claim_report(conn, instance, reported_at)


async def test_an_evolution_report_older_than_the_newest_applied_is_not_claimed(db_pool: Pool) -> None:
    instance = await _new_instance(db_pool)
    opened = datetime(2026, 12, 3, 12, 0, 5, tzinfo=UTC)
    assert await _claim(db_pool, instance, opened)
    # The `connecting` made five seconds before, retried after the `open`: out of date.
    assert not await _claim(db_pool, instance, opened - timedelta(seconds=5))
    assert not await _claim(db_pool, instance, opened - timedelta(milliseconds=1))
    # The same report again (Evolution's retry re-POSTs the identical body) and newer ones are taken.
    assert await _claim(db_pool, instance, opened)
    assert await _claim(db_pool, instance, opened + timedelta(seconds=1))
    stored = await db_pool.fetchval("SELECT evolution_reported_at FROM instances WHERE id = $1", instance)
    assert stored == opened + timedelta(seconds=1)


async def test_evolutions_clock_moving_back_beyond_the_window_resets_the_reference(db_pool: Pool) -> None:
    """A DST fall-back moves Evolution's local `date_time` back an hour: reports keep applying."""
    instance = await _new_instance(db_pool)
    before = datetime(2026, 12, 3, 2, 59, 0, tzinfo=UTC)
    assert await _claim(db_pool, instance, before)
    after_fallback = before - REPORT_REORDER_WINDOW - timedelta(minutes=29)
    assert await _claim(db_pool, instance, after_fallback)
    # From then on the new clock is the reference: a minute later is newer, not an hour stale.
    assert await _claim(db_pool, instance, after_fallback + timedelta(minutes=1))
    assert not await _claim(db_pool, instance, after_fallback)


async def test_concurrent_reports_of_one_instance_are_claimed_one_after_the_other(db_pool: Pool) -> None:
    instance = await _new_instance(db_pool)
    base = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
    moments = [base + timedelta(milliseconds=step) for step in range(8)]
    async with db_pool.acquire() as first:
        async with first.transaction():
            # The newest is claimed first and its row lock held while the others wait on it.
            assert await claim_report(first, instance, moments[-1])
            waiting = asyncio.gather(*(_claim(db_pool, instance, moment) for moment in moments[:-1]))
            await asyncio.sleep(0.2)
        claimed = await waiting
    assert claimed == [False] * (len(moments) - 1)


async def test_a_report_from_another_evolution_server_starts_a_new_reference(db_pool: Pool) -> None:
    """The instance moved to a server whose clock is ten minutes behind: its reports still apply."""
    instance = await _new_instance(db_pool)
    moment = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

    async def claim(at: datetime, server: str) -> bool:
        async with db_pool.acquire() as conn, conn.transaction():
            return await claim_report(conn, instance, at, server_url=server)

    assert await claim(moment, "https://evo-a.example")
    behind = moment - timedelta(minutes=10)
    assert not await claim(behind, "https://evo-a.example"), "same server: a late report"
    assert await claim(behind, "https://evo-b.example"), "another server, another clock"
    assert not await claim(behind - timedelta(seconds=1), "https://evo-b.example")
    assert await claim(behind + timedelta(seconds=1), "https://evo-b.example")


async def test_a_report_without_a_time_is_taken_and_leaves_the_reference(db_pool: Pool) -> None:
    instance = await _new_instance(db_pool)
    opened = datetime(2026, 12, 3, 12, 0, 5, tzinfo=UTC)
    assert await _claim(db_pool, instance, opened)
    async with db_pool.acquire() as conn, conn.transaction():
        assert await claim_report(conn, instance, None)
    stored = await db_pool.fetchval("SELECT evolution_reported_at FROM instances WHERE id = $1", instance)
    assert stored == opened
    assert not await _claim(db_pool, instance, opened - timedelta(seconds=1))


async def test_a_refresh_asked_before_a_report_was_applied_is_older_news(db_pool: Pool) -> None:
    instance = await _new_instance(db_pool)
    before_any = await database_now(db_pool)
    async with db_pool.acquire() as conn:
        assert not await report_applied_since(conn, instance, before_any), "no report yet"
    asked = await database_now(db_pool)
    assert await _claim(db_pool, instance, datetime(2026, 12, 3, 12, 0, tzinfo=UTC))
    asked_later = await database_now(db_pool)
    async with db_pool.acquire() as conn:
        assert await report_applied_since(conn, instance, asked)
        assert not await report_applied_since(conn, instance, asked_later)
    # A stale report (not claimed) does not count as news either.
    assert not await _claim(db_pool, instance, datetime(2026, 12, 3, 11, 59, tzinfo=UTC))
    async with db_pool.acquire() as conn:
        assert not await report_applied_since(conn, instance, asked_later)


async def test_no_report_is_claimed_between_the_refresh_check_and_its_commit(db_pool: Pool) -> None:
    instance = await _new_instance(db_pool)
    asked = await database_now(db_pool)
    async with db_pool.acquire() as refresh, refresh.transaction():
        assert not await report_applied_since(refresh, instance, asked)
        # A webhook's claim meanwhile waits for the refresh's transaction to end.
        async with db_pool.acquire() as webhook, webhook.transaction():
            await webhook.execute("SET LOCAL lock_timeout = '200ms'")
            with pytest.raises(asyncpg.LockNotAvailableError):
                await claim_report(webhook, instance, datetime(2026, 12, 3, 12, 0, tzinfo=UTC))
    assert await _claim(db_pool, instance, datetime(2026, 12, 3, 12, 0, tzinfo=UTC))
