"""Pieces of the scheduler that need no infrastructure."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from scheduler.leadership import lock_key
from scheduler.phone_numbers import sender_numbers
from scheduler.repository import TurnMessages, number_of
from scheduler.round_events import script_id_for, turn_id_for
from scheduler.settings import SchedulerSettings
from scheduler.turns import match_part


def test_sender_numbers_read_phone_jids_with_the_other_brazilian_spelling() -> None:
    assert sender_numbers(["5511987654321@s.whatsapp.net"]) == ["5511987654321", "551187654321"]
    assert sender_numbers(["553187654321@s.whatsapp.net"]) == ["553187654321", "5531987654321"]
    # A LID is not a phone number; duplicates and empties go away.
    assert sender_numbers(["12345@lid", None, "", "5511987654321:3@s.whatsapp.net", "5511987654321"]) == [
        "5511987654321",
        "551187654321",
    ]


def test_number_of_an_own_jid() -> None:
    assert number_of("5511999990001:12@s.whatsapp.net") == "5511999990001"
    assert number_of(None) is None
    assert number_of("@s.whatsapp.net") is None


def _messages(**changes: object) -> TurnMessages:
    values: dict[str, object] = {
        "parts": ["oi", "tudo bem?", "oi"],
        "sends": {0: "sent", 1: "sent", 2: "sent"},
        "provider_ids": {0: "ID0", 1: "ID1", 2: "ID2"},
        "arrived": set(),
        "arrived_ids": {},
        **changes,
    }
    return TurnMessages(**values)  # type: ignore[arg-type]


def test_an_arrival_is_matched_by_provider_id_first_then_by_text() -> None:
    assert match_part(_messages(), "ID2", "oi") == 2
    assert match_part(_messages(), "other", " tudo bem? ") == 1
    # Two parts with the same text: the first one not arrived yet.
    assert match_part(_messages(arrived={0}, arrived_ids={"X": 0}), "other", "oi") == 2
    assert match_part(_messages(), "other", "nada a ver") is None
    assert match_part(_messages(), "other", None) is None
    assert match_part(_messages(parts=None), "ID0", "oi") is None
    # A redelivered arrival is recognised by the provider id it arrived with.
    assert match_part(_messages(arrived={1}, arrived_ids={"P": 1}, provider_ids={}), "P", "oi") == 1


def test_round_ids_are_stable() -> None:
    round_id = uuid.uuid4()
    assert turn_id_for(round_id, 1) == turn_id_for(round_id, 1)
    assert turn_id_for(round_id, 1) != turn_id_for(round_id, 2)
    assert script_id_for(round_id).startswith("warmup-")


def test_each_namespace_has_its_own_leader_lock() -> None:
    assert lock_key("a.") == lock_key("a.")
    assert lock_key("a.") != lock_key("b.")
    assert -(2**63) <= lock_key("") < 2**63


def test_settings_refuse_a_cron_croniter_cannot_read() -> None:
    with pytest.raises(ValidationError, match="cron"):
        SchedulerSettings(cron="every five minutes")
    assert SchedulerSettings(cron="").cron == ""
    assert SchedulerSettings().cron == "*/5 * * * *"
