"""The sender's settings and start-up refusals, without infrastructure."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from database import PostgresSettings
from evolution_client import EvolutionSettings
from sender.app import create_app
from sender.settings import SenderRuntime, SenderSettings
from service_runtime import StartupError


def test_defaults() -> None:
    settings = SenderSettings()
    assert settings.runtime.port == 8005
    assert settings.retry.attempts == 3
    assert settings.evolution.base_url == "http://127.0.0.1:8002"
    assert settings.presence.enabled is True


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIRAGE_SENDER_RETRY__ATTEMPTS", "5")
    monkeypatch.setenv("MIRAGE_SENDER_RETRY__BASE_DELAY_S", "0.5")
    monkeypatch.setenv("MIRAGE_SENDER_PRESENCE__ENABLED", "false")
    monkeypatch.setenv("MIRAGE_SENDER_ECHO_WAIT_S", "3")
    # Shared once for every service, overridden by the sender's own prefix.
    monkeypatch.setenv("MIRAGE_EVOLUTION__BASE_URL", "http://shared:8080")
    monkeypatch.setenv("MIRAGE_SENDER_EVOLUTION__API_KEY", "real-key")
    monkeypatch.setenv("MIRAGE_SENDER_RUNTIME__LOG_LEVEL", "DEBUG")
    settings = SenderSettings()
    assert settings.retry.attempts == 5
    assert settings.retry.base_delay_s == 0.5
    assert settings.retry.max_delay_s == 20.0
    assert settings.presence.enabled is False
    assert settings.echo_wait_s == 3
    assert settings.evolution.base_url == "http://shared:8080"
    assert settings.evolution.api_key.get_secret_value() == "real-key"
    assert settings.runtime.port == 8005, "a nested override keeps the sender's own port"
    assert "real-key" not in repr(settings)


async def test_production_refuses_the_simulator_key() -> None:
    settings = SenderSettings(runtime=SenderRuntime(environment="production"))
    app = create_app(settings)
    with pytest.raises(StartupError) as caught:
        await app.state.host.start()
    assert "MIRAGE_SENDER_EVOLUTION__API_KEY" in str(caught.value)


async def test_production_with_a_real_key_gets_past_the_key_check() -> None:
    settings = SenderSettings(
        runtime=SenderRuntime(environment="production"),
        evolution=EvolutionSettings(api_key=SecretStr("a-real-key")),
        # Nothing listens there: start-up now stops at the database, not at the key.
        postgres=PostgresSettings(dsn=SecretStr("postgresql://x:y@127.0.0.1:9/none"), connect_timeout_s=2),
    )
    app = create_app(settings)
    with pytest.raises(StartupError) as caught:
        await app.state.host.start()
    assert "PostgreSQL is unreachable" in str(caught.value)
    assert "MIRAGE_SENDER_POSTGRES__DSN" in str(caught.value)
