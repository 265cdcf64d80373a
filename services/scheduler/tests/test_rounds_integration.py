"""Ticks, turns and round endings against the real PostgreSQL and Redis, on a hand-moved clock."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

from contracts import AdminAlert, AlertCause, RequestTurn, RoundCompleted, RoundStarted
from database import Pool
from quotas import local_periods

from .conftest import MONDAY_9_SP, Bound, arrival, new_pair, one, write_turn


async def _skips(pool: Pool, pair_id: uuid.UUID) -> list[tuple[str, int]]:
    rows = await pool.fetch(
        "SELECT reason, occurrences FROM round_skips WHERE pair_id = $1 ORDER BY id", pair_id
    )
    return [(row["reason"], row["occurrences"]) for row in rows]


async def test_outside_the_window_the_tick_skips_and_records_why(bound: Bound, db_pool: Pool) -> None:
    tenant = bound.tenant
    pair = await new_pair(db_pool, tenant)
    bound.clock.now = MONDAY_9_SP + timedelta(hours=4)  # 13:00 in São Paulo
    first = await bound.scheduler.tick(pair, tenant_id=tenant.id)
    again = await bound.scheduler.tick(pair, tenant_id=tenant.id, trigger="cron")
    assert first is not None
    assert again is not None
    assert (first.decision, first.reason) == ("skipped", "outside_window")
    assert "13:00" in first.detail
    # Consecutive skips for one reason are one row with a count.
    assert await _skips(db_pool, pair) == [("outside_window", 2)]
    assert bound.relay.staged == []


async def test_another_tenants_pair_is_not_found(bound: Bound, db_pool: Pool) -> None:
    tenant = bound.tenant
    pair = await new_pair(db_pool, tenant)
    assert await bound.scheduler.tick(pair, tenant_id=uuid.uuid4()) is None
    assert await bound.scheduler.tick(uuid.uuid4(), tenant_id=tenant.id) is None


async def test_in_its_window_a_round_starts_and_its_first_turn_is_requested(
    bound: Bound, db_pool: Pool
) -> None:
    tenant = bound.tenant
    pair = await new_pair(db_pool, tenant, min_turns=2, max_turns=6)
    result = await bound.scheduler.tick(pair, tenant_id=tenant.id)
    assert result is not None
    assert result.decision == "started"
    assert result.round_id is not None
    round_row = await one(db_pool, "SELECT * FROM rounds WHERE id = $1", result.round_id)
    assert round_row["status"] == "started"
    assert round_row["trigger"] == "manual"
    assert 2 <= round_row["planned_turns"] <= 6
    turns = await db_pool.fetch(
        "SELECT turn_index, status, speaker_instance_id, messages FROM round_turns WHERE round_id = $1"
        " ORDER BY turn_index",
        result.round_id,
    )
    assert len(turns) == round_row["planned_turns"]
    assert [t["status"] for t in turns] == ["requested"] + ["planned"] * (len(turns) - 1)
    speakers = [t["speaker_instance_id"] for t in turns]
    assert all(a != b for a, b in itertools.pairwise(speakers))  # the sides alternate

    [started] = bound.relay.events(RoundStarted)
    assert started.data.round_id == result.round_id
    assert started.data.planned_turns == len(turns)
    [request] = bound.relay.events(RequestTurn)
    assert request.data.turn_index == 0
    assert request.data.messages == turns[0]["messages"]
    assert request.data.script_id == round_row["script_id"]
    assert request.data.history == ()
    speaker = next(n for n in tenant.numbers if n.id == speakers[0])
    listener = next(n for n in tenant.numbers[:2] if n.id != speakers[0])
    assert request.data.speaker_instance_name == speaker.name
    assert request.data.listener_number == listener.number
    # The turn's messages came out of the speaker's daily counter, shared with outreach.
    periods = local_periods(bound.clock.now, "America/Sao_Paulo")
    [used] = await bound.budget.gate.used([bound.budget.gate.keys.number(speaker.number, periods)])
    assert used == turns[0]["messages"]
    # A second tick while the round runs starts nothing.
    busy = await bound.scheduler.tick(pair, tenant_id=tenant.id)
    assert busy is not None
    assert busy.reason == "round_in_progress"


async def test_skip_reasons_paused_disconnected_capped_and_receive_first(bound: Bound, db_pool: Pool) -> None:
    tenant = bound.tenant
    paused = await new_pair(db_pool, tenant, active=False)
    result = await bound.scheduler.tick(paused, tenant_id=tenant.id)
    assert result is not None
    assert result.reason == "paused"

    await db_pool.execute("DELETE FROM warmup_pairs WHERE id = $1", paused)
    offline = await new_pair(db_pool, tenant)
    await db_pool.execute("UPDATE instances SET state = 'disconnected' WHERE id = $1", tenant.numbers[1].id)
    result = await bound.scheduler.tick(offline, tenant_id=tenant.id)
    assert result is not None
    assert result.reason == "participant_not_connected"
    assert tenant.numbers[1].name in result.detail

    capped = await new_pair(
        db_pool,
        tenant,
        instance_a_id=tenant.numbers[2].id,
        instance_b_id=tenant.numbers[3].id,
        max_rounds_per_day=0,
    )
    result = await bound.scheduler.tick(capped, tenant_id=tenant.id)
    assert result is not None
    assert result.reason == "daily_cap"

    await db_pool.execute("UPDATE warmup_pairs SET max_rounds_per_day = NULL WHERE id = $1", capped)
    for number in tenant.numbers[2:]:
        await db_pool.execute(
            "INSERT INTO warmup_numbers (instance_id, tenant_id, declared_age_days, declared_at)"
            " VALUES ($1, $2, 1, $3)",
            number.id,
            tenant.id,
            bound.clock.now,
        )
    result = await bound.scheduler.tick(capped, tenant_id=tenant.id)
    assert result is not None
    assert result.reason == "ramp_receive_first"


async def test_a_number_without_room_in_its_daily_budget_is_capped(bound: Bound, db_pool: Pool) -> None:
    tenant = bound.tenant
    await db_pool.execute("UPDATE tenants SET number_daily_quota = 5 WHERE id = $1", tenant.id)
    pair = await new_pair(db_pool, tenant)
    periods = local_periods(bound.clock.now, "America/Sao_Paulo")
    # Outreach used the first number's whole budget today.
    counters = bound.budget.gate.counters(
        tenant=None,
        number=tenant.numbers[0].number,
        periods=periods,
        daily=None,
        hourly=None,
        per_number_daily=5,
    )
    assert (await bound.budget.gate.take(counters, periods, amount=5)).admitted
    result = await bound.scheduler.tick(pair, tenant_id=tenant.id)
    assert result is not None
    assert result.reason == "daily_cap"
    assert tenant.numbers[0].name in result.detail


async def _run_round(bound: Bound, db_pool: Pool, turns: int) -> tuple[uuid.UUID, uuid.UUID, list[str]]:
    """Start a round of `turns` turns and play every turn's delivery; (pair, round, texts)."""
    tenant = bound.tenant
    pair = await new_pair(db_pool, tenant, min_turns=turns, max_turns=turns, min_delay_s=1800, jitter_s=600)
    started = await bound.scheduler.tick(pair, tenant_id=tenant.id)
    assert started is not None
    assert started.round_id is not None
    texts = []
    for index in range(turns):
        if index > 0:
            # The next turn waits for its reading pause; the leader's timer requests it.
            assert await bound.scheduler.turns.request_due() == 0
            bound.clock.advance(seconds=5)
            assert await bound.scheduler.turns.request_due() == 1
        request = bound.relay.events(RequestTurn)[-1]
        assert request.data.turn_index == index
        # Turn n+1 is requested only after turn n arrived: until then nothing is due.
        assert len(bound.relay.events(RequestTurn)) == index + 1
        parts = [f"mensagem {index}.{part}" for part in range(request.data.messages)]
        texts.extend(parts)
        ids = await write_turn(
            db_pool,
            request.data.turn_id or uuid.uuid4(),
            tenant.id,
            request.data.speaker_instance_id,
            parts,
            round_id=started.round_id,
        )
        speaker = next(n for n in tenant.numbers if n.id == request.data.speaker_instance_id)
        listener = next(n for n in tenant.numbers[:2] if n.id != speaker.id)
        for part, provider_id in zip(parts, ids, strict=True):
            event = arrival(
                tenant.id, listener, speaker, part, provider_id=provider_id, sent_at=bound.clock.now
            )
            await bound.scheduler.on_message_received(event)
            await bound.scheduler.on_message_received(event)  # a redelivery changes nothing
        if index + 1 < turns:
            assert len(bound.relay.events(RequestTurn)) == index + 1
    return pair, started.round_id, texts


async def test_a_round_moves_turn_by_turn_as_each_turn_arrives_and_completes(
    bound: Bound, db_pool: Pool
) -> None:
    pair, round_id, texts = await _run_round(bound, db_pool, turns=3)
    row = await one(db_pool, "SELECT * FROM rounds WHERE id = $1", round_id)
    assert row["status"] == "completed"
    assert row["turns_completed"] == 3
    assert row["messages_delivered"] == len(texts)
    assert row["messages_sent"] == len(texts)
    [completed] = bound.relay.events(RoundCompleted)
    assert completed.data.outcome == "completed"
    assert completed.data.turns_completed == 3
    assert completed.data.messages_delivered == len(texts)
    assert completed.data.duration_ms >= 10_000
    # The last turn was asked to wrap up; later turns saw what arrived before them.
    requests = bound.relay.events(RequestTurn)
    assert [r.data.closing for r in requests] == [False, False, True]
    assert [line.text for line in requests[2].data.history] == texts[: len(texts) - requests[2].data.messages]
    # The next round waits for the minimum gap plus jitter.
    state = await one(db_pool, "SELECT * FROM warmup_pair_state WHERE pair_id = $1", pair)
    gap = state["next_round_not_before"] - state["last_round_ended_at"]
    assert timedelta(minutes=30) <= gap <= timedelta(minutes=40)
    tenant_id = row["tenant_id"]
    too_soon = await bound.scheduler.tick(pair, tenant_id=tenant_id)
    assert too_soon is not None
    assert too_soon.reason == "too_recent"
    bound.clock.advance(minutes=41)
    later = await bound.scheduler.tick(pair, tenant_id=tenant_id)
    assert later is not None
    assert later.decision == "started"


async def test_a_message_that_is_not_the_turns_moves_nothing(bound: Bound, db_pool: Pool) -> None:
    tenant = bound.tenant
    pair = await new_pair(db_pool, tenant)
    started = await bound.scheduler.tick(pair, tenant_id=tenant.id)
    assert started is not None
    assert started.round_id is not None
    request = bound.relay.events(RequestTurn)[-1]
    await write_turn(
        db_pool,
        request.data.turn_id or uuid.uuid4(),
        tenant.id,
        request.data.speaker_instance_id,
        ["oi!"],
        round_id=started.round_id,
    )
    speaker = next(n for n in tenant.numbers if n.id == request.data.speaker_instance_id)
    listener = next(n for n in tenant.numbers[:2] if n.id != speaker.id)
    stranger = tenant.numbers[2]
    # Another text from the right number, the right text from another number, and an old message.
    await bound.scheduler.on_message_received(arrival(tenant.id, listener, speaker, "outra coisa"))
    await bound.scheduler.on_message_received(arrival(tenant.id, listener, stranger, "oi!"))
    old = MONDAY_9_SP - timedelta(hours=1)
    await bound.scheduler.on_message_received(arrival(tenant.id, listener, speaker, "oi!", sent_at=old))
    status = await db_pool.fetchval(
        "SELECT status FROM round_turns WHERE round_id = $1 AND turn_index = 0", started.round_id
    )
    assert status == "requested"
    # The right text from the right number does.
    await bound.scheduler.on_message_received(arrival(tenant.id, listener, speaker, " oi! "))
    status = await db_pool.fetchval(
        "SELECT status FROM round_turns WHERE round_id = $1 AND turn_index = 0", started.round_id
    )
    assert status == "delivered"


async def test_a_turn_that_never_arrives_makes_the_round_deaf_quarantines_and_alerts(
    bound: Bound, db_pool: Pool
) -> None:
    tenant = bound.tenant
    pair = await new_pair(db_pool, tenant)
    started = await bound.scheduler.tick(pair, tenant_id=tenant.id)
    assert started is not None
    assert started.round_id is not None
    request = bound.relay.events(RequestTurn)[-1]
    await write_turn(
        db_pool,
        request.data.turn_id or uuid.uuid4(),
        tenant.id,
        request.data.speaker_instance_id,
        ["alô?"],
        round_id=started.round_id,
    )
    bound.clock.advance(seconds=59)
    assert await bound.scheduler.turns.expire_overdue() == 0
    bound.clock.advance(seconds=2)
    assert await bound.scheduler.turns.expire_overdue() == 1
    assert await bound.scheduler.turns.expire_overdue() == 0

    row = await one(db_pool, "SELECT status, end_reason FROM rounds WHERE id = $1", started.round_id)
    speaker = next(n for n in tenant.numbers if n.id == request.data.speaker_instance_id)
    listener = next(n for n in tenant.numbers[:2] if n.id != speaker.id)
    assert row["status"] == "deaf"
    assert row["end_reason"] == f"deaf: {speaker.name} -> {listener.name}"
    [alert] = bound.relay.events(AdminAlert)
    assert alert.data.cause is AlertCause.WARMUP_DEAF
    assert alert.data.context["direction"] == f"{speaker.name} -> {listener.name}"
    assert speaker.name in alert.data.title
    assert listener.name in alert.data.title
    [completed] = bound.relay.events(RoundCompleted)
    assert completed.data.outcome == "deaf"
    quarantined = await bound.scheduler.tick(pair, tenant_id=tenant.id)
    assert quarantined is not None
    assert quarantined.reason == "quarantined"
    bound.clock.advance(hours=24)
    assert (await bound.scheduler.tick(pair, tenant_id=tenant.id)).decision == "started"  # type: ignore[union-attr]


async def test_a_turn_never_written_or_sent_times_out_without_quarantine(bound: Bound, db_pool: Pool) -> None:
    tenant = bound.tenant
    pair = await new_pair(db_pool, tenant)
    started = await bound.scheduler.tick(pair, tenant_id=tenant.id)
    assert started is not None
    bound.clock.advance(seconds=61)
    assert await bound.scheduler.turns.expire_overdue() == 1
    row = await one(db_pool, "SELECT status, end_reason FROM rounds WHERE id = $1", started.round_id)
    assert row["status"] == "timed_out"
    assert "not written" in row["end_reason"]
    assert bound.relay.events(AdminAlert) == []
    state = await one(db_pool, "SELECT quarantined_until FROM warmup_pair_state WHERE pair_id = $1", pair)
    assert state["quarantined_until"] is None


async def test_pausing_a_pair_ends_its_round_at_the_next_turn(bound: Bound, db_pool: Pool) -> None:
    tenant = bound.tenant
    pair = await new_pair(db_pool, tenant, min_turns=3, max_turns=3)
    started = await bound.scheduler.tick(pair, tenant_id=tenant.id)
    assert started is not None
    assert started.round_id is not None
    request = bound.relay.events(RequestTurn)[-1]
    ids = await write_turn(
        db_pool,
        request.data.turn_id or uuid.uuid4(),
        tenant.id,
        request.data.speaker_instance_id,
        ["oi"],
        round_id=started.round_id,
    )
    speaker = next(n for n in tenant.numbers if n.id == request.data.speaker_instance_id)
    listener = next(n for n in tenant.numbers[:2] if n.id != speaker.id)
    await bound.scheduler.on_message_received(arrival(tenant.id, listener, speaker, "oi", provider_id=ids[0]))
    await db_pool.execute("UPDATE warmup_pairs SET active = false WHERE id = $1", pair)
    bound.clock.advance(minutes=5)
    assert await bound.scheduler.turns.request_due() == 1
    row = await one(
        db_pool, "SELECT status, end_reason, turns_completed FROM rounds WHERE id = $1", started.round_id
    )
    assert (row["status"], row["end_reason"], row["turns_completed"]) == ("aborted", "paused", 1)
    assert len(bound.relay.events(RequestTurn)) == 1
