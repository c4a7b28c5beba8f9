"""Configuration mistakes are caught when settings load, with the variable named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from temporalio.client import Client

from workers.settings import Settings
from workers.worker import build_worker


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


async def test_worker_tuning_reaches_the_worker(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, client: Client
) -> None:
    """Cache size and pollers are configuration (bench/scale.py and bench/burst.py measure
    them), so each variable must reach the worker the process builds."""
    monkeypatch.setenv("PUNCHCARD_WORKER_MAX_CACHED_WORKFLOWS", "123")
    monkeypatch.setenv("PUNCHCARD_WORKER_WORKFLOW_TASK_POLLS", "8")
    monkeypatch.setenv("PUNCHCARD_WORKER_NONSTICKY_POLL_RATIO", "0.5")
    tuned = Settings()
    assert tuned.worker_max_cached_workflows == 123
    tuned = settings.model_copy(
        update={
            "worker_max_cached_workflows": tuned.worker_max_cached_workflows,
            "worker_workflow_task_polls": tuned.worker_workflow_task_polls,
            "worker_nonsticky_poll_ratio": tuned.worker_nonsticky_poll_ratio,
        }
    )
    async with build_worker(tuned, client) as worker:
        config = worker.main.config()
    assert config.get("max_cached_workflows") == 123
    assert config.get("max_concurrent_workflow_task_polls") == 8
    assert config.get("nonsticky_to_sticky_poll_ratio") == 0.5


def test_worker_tuning_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUNCHCARD_WORKER_WORKFLOW_TASK_POLLS", "1")  # sticky needs two
    with pytest.raises(ValidationError, match="worker_workflow_task_polls"):
        Settings()
