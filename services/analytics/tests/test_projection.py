"""What each event changes in the stats, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from analytics.projection import DEFAULT_PERSONA_ID, Projection, canonical_phone, hour_of
from analytics.settings import CostSettings, ModelPrice
from analytics.tables import (
    INBOUND,
    NUMBER_FAILURES_HOURLY,
    NUMBER_HOURLY,
    PERSONA_HOURLY,
    SENDS,
    TENANT_HOURLY,
    Table,
)
from contracts import (
    AMBIGUOUS_FAILURE_CODE,
    AdminAlert,
    AdminAlertData,
    AlertCause,
    RoundCompleted,
    RoundCompletedData,
    SendPurpose,
    Topic,
)

from .event_factory import Conversation

PROJECTION = Projection(CostSettings())


def _rows(rows: list, table: Table) -> list:  # type: ignore[type-arg]
    return [row for row in rows if row.table is table]


@pytest.mark.parametrize(
    ("address", "canonical"),
    [
        ("5511987654321@s.whatsapp.net", "5511987654321"),
        ("5511987654321", "5511987654321"),
        ("551187654321", "5511987654321"),
        ("14155550100@s.whatsapp.net", "14155550100"),
        ("5511987654321:12@s.whatsapp.net", "5511987654321"),
        ("123456789@lid", "123456789@lid"),
        ("", None),
        (None, None),
    ],
)
def test_phones_compare_in_one_form(address: str | None, canonical: str | None) -> None:
    assert canonical_phone(address) == canonical


def test_hours_are_utc() -> None:
    moment = datetime(2026, 12, 2, 21, 59, 59, tzinfo=UTC).astimezone(datetime.now(UTC).astimezone().tzinfo)
    assert hour_of(moment) == datetime(2026, 12, 2, 21, tzinfo=UTC)


def test_a_received_message_counts_for_the_tenant_and_the_number_and_is_kept_as_a_fact() -> None:
    chat = Conversation(tenant_id=uuid.uuid4())
    event = chat.received(datetime(2026, 12, 2, 10, 30, tzinfo=UTC))
    change = PROJECTION.change(event, Topic.MESSAGE_RECEIVED)
    (tenant,) = _rows(change.counters, TENANT_HOURLY)
    assert tenant.key == (chat.tenant_id, datetime(2026, 12, 2, 10, tzinfo=UTC))
    assert tenant.values == {"received": 1}
    (number,) = _rows(change.counters, NUMBER_HOURLY)
    assert number.key[0] == chat.instance_id
    assert number.attributes == (chat.tenant_id,)
    (fact,) = _rows(change.facts, INBOUND)
    assert fact.values["sender"] == canonical_phone(chat.phone)


def test_the_operators_own_messages_are_not_received() -> None:
    event = Conversation(tenant_id=uuid.uuid4()).received()
    mine = event.model_copy(update={"data": event.data.model_copy(update={"from_me": True})})
    assert PROJECTION.change(mine, Topic.MESSAGE_RECEIVED).empty


def test_sends_count_by_outcome_and_failures_by_code() -> None:
    chat = Conversation(tenant_id=uuid.uuid4())
    send_id = uuid.uuid4()
    sent = PROJECTION.change(chat.sent(send_id, purpose=SendPurpose.OUTREACH), Topic.MESSAGE_SENT)
    assert _rows(sent.counters, TENANT_HOURLY)[0].values == {"sent": 1}
    assert _rows(sent.counters, NUMBER_HOURLY)[0].values == {"sent": 1, "outreach_sent": 1}
    failed = PROJECTION.change(chat.failed(send_id, "http_400"), Topic.MESSAGE_FAILED)
    assert _rows(failed.counters, NUMBER_FAILURES_HOURLY)[0].key[2] == "http_400"
    (fact,) = _rows(failed.facts, SENDS)
    assert fact.values["failure_code"] == "http_400"
    # The request carries what the outcome does not: the campaign and the reply.
    campaign = uuid.uuid4()
    requested = PROJECTION.change(
        chat.requested(send_id, purpose=SendPurpose.OUTREACH, campaign_id=campaign), Topic.SEND_REQUESTED
    )
    assert not requested.counters
    assert requested.facts[0].values["campaign_id"] == campaign


def test_an_ambiguous_send_whose_echo_came_later_counts_as_sent_not_failed() -> None:
    """Reported ambiguous at 10:59, its late echo settled it at 11:20: one send, sent, none failed."""
    chat = Conversation(tenant_id=uuid.uuid4())
    send_id = uuid.uuid4()
    judged = datetime(2026, 12, 2, 10, 59, 59, tzinfo=UTC)
    failed = chat.failed(send_id, AMBIGUOUS_FAILURE_CODE, at=judged)
    late = chat.sent(send_id, at=datetime(2026, 12, 2, 11, 20, tzinfo=UTC))
    late = late.model_copy(update={"data": late.data.model_copy(update={"ambiguous_at": judged})})
    totals: dict[tuple[str, tuple[object, ...], str], int] = {}
    # Counters add up, so the order the stats see the two events in does not matter.
    for event, topic in ((late, Topic.MESSAGE_SENT), (failed, Topic.MESSAGE_FAILED)):
        for row in PROJECTION.change(event, topic).counters:
            for column, delta in row.values.items():
                slot = (row.table.name, row.key, column)
                totals[slot] = totals.get(slot, 0) + delta
    ten, eleven = datetime(2026, 12, 2, 10, tzinfo=UTC), datetime(2026, 12, 2, 11, tzinfo=UTC)
    assert totals[(TENANT_HOURLY.name, (chat.tenant_id, ten), "failed")] == 0
    assert totals[(NUMBER_HOURLY.name, (chat.instance_id, ten), "failed")] == 0
    assert (
        totals[(NUMBER_FAILURES_HOURLY.name, (chat.instance_id, ten, AMBIGUOUS_FAILURE_CODE), "failed")] == 0
    )
    assert totals[(TENANT_HOURLY.name, (chat.tenant_id, eleven), "sent")] == 1
    assert totals[(NUMBER_HOURLY.name, (chat.instance_id, eleven), "sent")] == 1
    # A send that was never in doubt takes nothing away.
    plain = PROJECTION.change(chat.sent(uuid.uuid4()), Topic.MESSAGE_SENT)
    assert all(
        delta > 0 for row in plain.counters for column, delta in row.values.items() if column == "sent"
    )
    assert not any("failed" in row.values for row in plain.counters)


def test_a_reply_counts_its_tokens_and_estimated_cost_for_its_persona() -> None:
    chat = Conversation(tenant_id=uuid.uuid4())
    generated, *_ = chat.answered(
        [chat.received()],
        after=timedelta(seconds=4),
        tokens=(1_000_000, 500_000),
        model="gpt-4o-mini-2024-07-18",
    )
    change = PROJECTION.change(generated, Topic.REPLY_GENERATED)
    (usage,) = _rows(change.counters, PERSONA_HOURLY)
    assert usage.key[1] == DEFAULT_PERSONA_ID
    # 1M prompt tokens at $0.15 and 0.5M completion tokens at $0.60 per million: $0.45.
    assert usage.values == {
        "replies": 1,
        "prompt_tokens": 1_000_000,
        "completion_tokens": 500_000,
        "cost_micro_usd": 450_000,
    }


def test_the_longest_listed_model_name_sets_the_price() -> None:
    cost = CostSettings(
        prices={
            "gpt-4o": ModelPrice(prompt=2.5, completion=10),
            "gpt-4o-mini": ModelPrice(prompt=0.15, completion=0.6),
        }
    )
    assert cost.price("gpt-4o-mini-2024-07-18").prompt == 0.15
    assert cost.price("gpt-4o-2024-08-06").prompt == 2.5
    assert cost.price("llama3").prompt == 0.0


def test_round_ends_count_completed_rounds_their_duration_messages_and_deaf_rounds() -> None:
    tenant, pair = uuid.uuid4(), uuid.uuid4()

    def ended(outcome: str, turns: int, messages: int = 0) -> dict[str, int]:
        event = RoundCompleted(
            tenant_id=tenant,
            correlation_id=uuid.uuid4(),
            data=RoundCompletedData(
                round_id=uuid.uuid4(),
                pair_id=pair,
                turns_completed=turns,
                outcome=outcome,
                duration_ms=60_000,
                messages_sent=messages,
            ),
        )
        (row,) = PROJECTION.change(event, Topic.ROUND_COMPLETED).counters
        return row.values

    assert ended("completed", 4, messages=6) == {
        "rounds_ended": 1,
        "rounds_completed": 1,
        "completed_duration_ms": 60_000,
        "messages": 6,
        "deaf_rounds": 0,
    }
    assert ended("deaf", 1)["deaf_rounds"] == 1
    assert ended("timed_out", 1)["deaf_rounds"] == 0
    assert ended("timed_out", 1)["rounds_completed"] == 0
    assert ended("timed_out", 3)["messages"] == 3  # an event without `messages_sent`


def test_events_no_statistic_reads_change_nothing() -> None:
    alert = AdminAlert(
        tenant_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        data=AdminAlertData(cause=AlertCause.SEND_EXHAUSTED, alert_key="k", title="t"),
    )
    assert PROJECTION.change(alert, Topic.ADMIN_ALERT).empty
