"""Settings (env names, refused defaults) and the shared input types (unit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from api.input_types import PhoneDigits, StorableText, UtcDatetime
from api.settings import ApiRuntime, ApiSettings


def test_development_accepts_the_default_secrets() -> None:
    assert ApiSettings().default_secrets_in_use() == []


def test_production_refuses_the_default_secrets() -> None:
    settings = ApiSettings(runtime=ApiRuntime(environment="production"))
    assert settings.default_secrets_in_use() == ["MIRAGE_DEMO_API_KEY", "MIRAGE_EVOLUTION__API_KEY"]
    chosen = ApiSettings(
        runtime=ApiRuntime(environment="production"),
        demo_api_key=SecretStr("something-else"),
        evolution={"api_key": "real-key"},  # type: ignore[arg-type]
    )
    assert chosen.default_secrets_in_use() == []


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIRAGE_DEMO_API_KEY", "from-the-shared-name")
    monkeypatch.setenv("MIRAGE_API_INGEST_PUBLIC_URL", "http://ingest:8001/")
    monkeypatch.setenv("MIRAGE_API_RATE_LIMIT__ENDPOINTS", '{"POST /instances": {"limit": 3, "window_s": 9}}')
    settings = ApiSettings()
    assert settings.demo_api_key.get_secret_value() == "from-the-shared-name"
    assert settings.webhook_url() == "http://ingest:8001/webhook/evolution"
    assert settings.rate_limit.endpoints["POST /instances"].limit == 3
    assert settings.runtime.port == 8000


class _Inputs(BaseModel):
    phone: PhoneDigits | None = None
    text: StorableText | None = None
    when: UtcDatetime | None = None


def test_phones_keep_their_digits() -> None:
    assert _Inputs(phone="+55 (11) 99999-0001").phone == "5511999990001"
    for bad in ("12345", "55119999900011234567890", "55 11 abc 9999", "+", ""):
        with pytest.raises(ValidationError):
            _Inputs(phone=bad)


def test_text_postgresql_cannot_store_is_refused() -> None:
    assert _Inputs(text="olá 👋").text == "olá 👋"
    for bad in ("a\x00b", "\ud800"):
        with pytest.raises(ValidationError):
            _Inputs(text=bad)


def test_instants_become_utc() -> None:
    assert _Inputs(when=datetime(2026, 1, 1, 12)).when == datetime(2026, 1, 1, 12, tzinfo=UTC)
    offset = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=-3)))
    assert _Inputs(when=offset).when == datetime(2026, 1, 1, 15, tzinfo=UTC)
    with pytest.raises(ValidationError):
        _Inputs(when="0001-01-01T00:00:00+05:00")  # type: ignore[arg-type]
