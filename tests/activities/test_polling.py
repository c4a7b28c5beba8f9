"""The `poll.*` activities and the location repository over real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.booking.zenoti import ZenotiApi
from activities.polling import JANE_BLOCKED, PollingActivities
from activities.repository.poll_locations import PollLocationRepository
from tests.fakes.zenoti import CLOSED, ZenotiFake
from workflows.policies import BAD_CONFIGURATION
from workflows.poll_models import (
    AdvanceCursorInput,
    CursorInput,
    FetchPageInput,
    PollInput,
    PollWindow,
)
from workflows.visit_models import Platform

NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
WINDOW = PollWindow(start=NOW - timedelta(hours=1), end=NOW)


@pytest.fixture
async def zenoti() -> AsyncIterator[ZenotiFake]:
    fake = ZenotiFake()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def polling(pool: asyncpg.Pool, zenoti: ZenotiFake) -> AsyncIterator[PollingActivities]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield PollingActivities(
            pool, ZenotiApi(http, base_url=zenoti.base_url, api_key=zenoti.api_key)
        )


async def test_locations_are_added_listed_and_deactivated(pool: asyncpg.Pool) -> None:
    repo = PollLocationRepository(pool)
    await repo.add("zenoti", "center-1", "Downtown")
    await repo.add("jane", "clinic-9")
    await repo.add("zenoti", "center-1")  # again: label kept

    assert [(x.platform, x.location_id, x.label) for x in await repo.list()] == [
        ("jane", "clinic-9", None),
        ("zenoti", "center-1", "Downtown"),
    ]
    assert await repo.deactivate("jane", "clinic-9")
    assert not await repo.deactivate("jane", "nowhere")
    assert [x.location_id for x in await repo.list(active_only=True)] == ["center-1"]
    reactivated = await repo.add("jane", "clinic-9")
    assert reactivated.active


async def test_the_cursor_only_moves_forward(pool: asyncpg.Pool) -> None:
    repo = PollLocationRepository(pool)
    await repo.add("zenoti", "center-1")

    assert await repo.record_run("zenoti", "center-1", cursor_at=NOW, result="ok") == NOW
    earlier = NOW - timedelta(hours=1)
    assert await repo.record_run("zenoti", "center-1", cursor_at=earlier, result="late") == NOW
    assert await repo.record_run("zenoti", "center-1", cursor_at=None, result="failed: x") == NOW
    stored = await repo.get("zenoti", "center-1")
    assert stored is not None
    assert (stored.cursor_at, stored.last_result) == (NOW, "failed: x")
    assert stored.last_run_at is not None


async def test_read_cursor_knows_unknown_and_inactive_locations(
    pool: asyncpg.Pool, polling: PollingActivities
) -> None:
    env = ActivityEnvironment()
    where = CursorInput(platform=Platform.ZENOTI, location_id="center-1")

    assert not (await env.run(polling.read_cursor, where)).known
    await PollLocationRepository(pool).add("zenoti", "center-1")
    state = await env.run(polling.read_cursor, where)
    assert (state.known, state.active, state.cursor_at) == (True, True, None)

    await env.run(
        polling.advance_cursor,
        AdvanceCursorInput(
            platform=Platform.ZENOTI, location_id="center-1", cursor_at=NOW, result="ok"
        ),
    )
    await PollLocationRepository(pool).deactivate("zenoti", "center-1")
    state = await env.run(polling.read_cursor, where)
    assert (state.known, state.active, state.cursor_at) == (True, False, NOW)


async def test_fetch_page_turns_zenoti_rows_into_poll_events(
    polling: PollingActivities, zenoti: ZenotiFake
) -> None:
    done = zenoti.add("center-1", guest_id="g-ana", start=NOW - timedelta(hours=2), status=CLOSED)

    page = await ActivityEnvironment().run(
        polling.fetch_page,
        FetchPageInput(platform=Platform.ZENOTI, location_id="center-1", window=WINDOW),
    )

    assert [v.event_key for v in page.visits] == [f"zenoti:{done}:completed"]
    assert page.appointments == 1 and page.next_page_token is None
    assert page.visits[0].occurred_at <= WINDOW.end  # stable across retries of the page


async def test_jane_is_blocked_with_a_clear_permanent_error(
    polling: PollingActivities, zenoti: ZenotiFake
) -> None:
    with pytest.raises(ApplicationError) as failure:
        await ActivityEnvironment().run(
            polling.fetch_page,
            FetchPageInput(platform=Platform.JANE, location_id="clinic-9", window=WINDOW),
        )

    assert failure.value.type == BAD_CONFIGURATION and failure.value.non_retryable
    assert failure.value.message == JANE_BLOCKED
    assert "Jane Developer Platform" in JANE_BLOCKED and "CSV" in JANE_BLOCKED
    assert zenoti.attempts == 0


async def test_zenoti_without_a_key_is_a_configuration_error(pool: asyncpg.Pool) -> None:
    with pytest.raises(ApplicationError, match="PUNCHCARD_ZENOTI_API_KEY") as failure:
        await ActivityEnvironment().run(
            PollingActivities(pool, None).fetch_page,
            FetchPageInput(platform=Platform.ZENOTI, location_id="center-1", window=WINDOW),
        )

    assert failure.value.type == BAD_CONFIGURATION and failure.value.non_retryable


def test_only_zenoti_and_jane_are_polled() -> None:
    assert PollInput(platform=Platform.JANE, location_id="x").overlap_minutes == 30
    with pytest.raises(ValueError, match="not polled"):
        PollInput(platform=Platform.BOULEVARD, location_id="x")
