"""The guard's settings from the environment."""

from __future__ import annotations

import os

import pytest

from guard.settings import GuardPolicy, GuardSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MIRAGE_"):
            monkeypatch.delenv(name)


def test_defaults_follow_the_product_spec() -> None:
    settings = GuardSettings()
    assert settings.runtime.port == 8003
    policy = settings.policy
    assert policy.debounce_window_ms == 3_000
    assert policy.flush_poll_interval_ms == 100
    assert policy.human_takeover_minutes == 30
    assert policy.in_flight_echo_s == 30
    assert policy.loop_threshold == 3


def test_policy_and_dependencies_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIRAGE_GUARD_POLICY__DEBOUNCE_WINDOW_MS", "0")
    monkeypatch.setenv("MIRAGE_GUARD_POLICY__LOOP_THRESHOLD", "5")
    monkeypatch.setenv("MIRAGE_GUARD_RUNTIME__LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("MIRAGE_KAFKA__BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("MIRAGE_GUARD_REDIS__KEY_PREFIX", "prod:")
    settings = GuardSettings()
    assert settings.policy.debounce_window_ms == 0
    assert settings.policy.loop_threshold == 5
    # One policy variable leaves the other fields at their defaults.
    assert settings.policy.human_takeover_minutes == 30
    # Changing the log level keeps the guard's own port.
    assert settings.runtime.port == 8003
    assert settings.runtime.log_level == "DEBUG"
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.redis.key("x") == "prod:x"


def test_a_negative_window_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIRAGE_GUARD_POLICY__DEBOUNCE_WINDOW_MS", "-1")
    with pytest.raises(ValueError, match="debounce_window_ms"):
        GuardSettings()


def test_lost_bursts_are_repaired_only_well_after_they_could_still_be_waiting() -> None:
    policy = GuardPolicy(debounce_window_ms=3_000, debounce_max_wait_ms=20_000, claim_lease_ms=30_000)
    assert policy.repair_after_s > (20_000 + 30_000) / 1000
