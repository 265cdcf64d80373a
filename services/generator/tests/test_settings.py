"""Unit tests: the generator's settings and how the model endpoint is resolved."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from generator.settings import GeneratorSettings, ModelSettings


def test_defaults() -> None:
    settings = GeneratorSettings.model_validate({})
    assert settings.runtime.port == 8004
    assert settings.model.model == "gpt-4o-mini"
    assert settings.model.on_failure == "fallback"
    assert settings.reply.context_messages == 20
    assert settings.reply.max_parts == 3
    assert settings.typing.human_delays is True


def test_nothing_configured_means_the_offline_generator() -> None:
    assert ModelSettings().endpoint({}) is None


def test_openai_variables_are_fallbacks_when_mirage_settings_are_unset() -> None:
    endpoint = ModelSettings().endpoint({"OPENAI_API_KEY": "sk-env", "OPENAI_BASE_URL": "http://env:1/v1"})
    assert endpoint is not None
    assert endpoint.api_key == "sk-env"
    assert endpoint.base_url == "http://env:1/v1"


def test_mirage_settings_win_over_openai_variables() -> None:
    settings = ModelSettings(api_key=SecretStr("sk-mirage"), base_url="http://mirage:1/v1", model="m")
    endpoint = settings.endpoint({"OPENAI_API_KEY": "sk-env", "OPENAI_BASE_URL": "http://env:1/v1"})
    assert endpoint is not None
    assert (endpoint.api_key, endpoint.base_url, endpoint.model) == ("sk-mirage", "http://mirage:1/v1", "m")


def test_a_base_url_alone_is_enough_for_a_local_server() -> None:
    endpoint = ModelSettings(base_url="http://127.0.0.1:8002/v1").endpoint({})
    assert endpoint is not None
    assert endpoint.api_key is None


def test_offline_can_be_forced_even_with_a_key() -> None:
    assert ModelSettings(api_key=SecretStr("sk"), offline=True).endpoint({"OPENAI_API_KEY": "sk"}) is None


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIRAGE_GENERATOR_MODEL__BASE_URL", "http://sim:8002/v1")
    monkeypatch.setenv("MIRAGE_GENERATOR_MODEL__ON_FAILURE", "dead_letter")
    monkeypatch.setenv("MIRAGE_GENERATOR_REPLY__MAX_PARTS", "2")
    monkeypatch.setenv("MIRAGE_GENERATOR_TYPING__HUMAN_DELAYS", "false")
    monkeypatch.setenv("MIRAGE_MODEL__MODEL", "shared-model")  # the shared prefix works too
    settings = GeneratorSettings()
    assert settings.model.base_url == "http://sim:8002/v1"
    assert settings.model.on_failure == "dead_letter"
    assert settings.model.model == "shared-model"
    assert settings.reply.max_parts == 2
    assert settings.typing.human_delays is False


def test_the_api_key_is_never_shown() -> None:
    settings = ModelSettings(api_key=SecretStr("sk-very-secret"))
    assert "sk-very-secret" not in repr(settings)
    assert "sk-very-secret" not in str(settings.model_dump())
