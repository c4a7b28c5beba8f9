"""Configuration mistakes are caught when settings load, with the variable named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from workers.settings import Settings


def test_an_unknown_spa_time_zone_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUNCHCARD_SPA_TIMEZONE", "America/Nowhere")
    with pytest.raises(ValidationError, match="unknown time zone 'America/Nowhere'"):
        Settings()


def test_environment_configures_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUNCHCARD_SPA_TIMEZONE", "Europe/Paris")
    monkeypatch.setenv("PUNCHCARD_TWILIO_BASE_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("PUNCHCARD_TWILIO_AUTH_TOKEN", "secret-token")
    settings = Settings()
    assert settings.spa_timezone == "Europe/Paris"
    assert settings.twilio_base_url == "http://127.0.0.1:9999"
    assert "secret-token" not in repr(settings)
