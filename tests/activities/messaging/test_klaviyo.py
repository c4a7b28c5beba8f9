"""The Klaviyo handoff against the Create Event stand-in: the body, dedupe, and failures."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.messaging.handoff import Handoff, KlaviyoHandoff, PackageFacts
from activities.messaging.klaviyo import KlaviyoEvents
from tests.activities.messaging.helpers import EMAIL, PHONE, add_client
from tests.fakes.klaviyo import KlaviyoFake
from workflows.policies import BAD_CONFIGURATION


@pytest.fixture
async def klaviyo() -> AsyncIterator[KlaviyoFake]:
    fake = KlaviyoFake()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def make_handoff(
    pool: asyncpg.Pool, http: httpx.AsyncClient, klaviyo: KlaviyoFake, key: str | None = None
) -> KlaviyoHandoff:
    events = KlaviyoEvents(
        http=http,
        base_url=klaviyo.base_url,
        private_key=SecretStr(key or klaviyo.private_key),
        revision="2026-07-15",
    )
    return KlaviyoHandoff(pool=pool, events=events, timezone="America/New_York")


def completed(key: str = "p-1:confirm:k1") -> Handoff:
    return Handoff(
        key=key,
        kind="confirmation",
        client_id="c-1",
        package_id="p-1",
        subject="Visit complete",
        body="Test Spa: Session 1 of 6 complete — 5 remaining.",
        renewal_link="https://spa.example/renew/p-1",
        package=PackageFacts(
            name="Laser hair removal, 6 sessions",
            kind="sessions",
            status="active",
            remaining=5,
            purchased_units=6,
            # 02:00 UTC is still the evening before in New York: the spa's day counts.
            expires_at=datetime(2027, 3, 2, 2, 0, tzinfo=UTC),
        ),
    )


async def row(pool: asyncpg.Pool, key: str) -> asyncpg.Record:
    found = await pool.fetchrow("SELECT * FROM klaviyo_events WHERE event_key = $1", key)
    assert found is not None
    return found


async def test_session_completed_event_carries_what_a_flow_needs(
    pool: asyncpg.Pool, http: httpx.AsyncClient, klaviyo: KlaviyoFake
) -> None:
    await add_client(pool)
    result = await ActivityEnvironment().run(
        make_handoff(pool, http, klaviyo).hand_over, completed()
    )

    assert result.status == "sent"
    [request] = klaviyo.requests
    assert request["headers"]["authorization"] == f"Klaviyo-API-Key {klaviyo.private_key}"
    assert request["headers"]["revision"] == "2026-07-15"
    assert request["headers"]["content-type"] == "application/vnd.api+json"
    body = json.loads(request["body"])
    assert body["data"]["attributes"]["unique_id"] == "p-1:confirm:k1"
    [event] = klaviyo.events
    assert event.metric == "Punchcard Session Completed"
    assert event.profile["email"] == EMAIL and event.profile["phone_number"] == PHONE
    assert event.profile["external_id"] == "c-1"
    assert event.profile["properties"] == {
        "punchcard_package_name": "Laser hair removal, 6 sessions",
        "punchcard_package_status": "active",
        "punchcard_sessions_remaining": 5,
        "punchcard_credit_remaining": None,
        "punchcard_purchased_units": 6,
        "punchcard_good_through": "2027-03-01",
        "punchcard_renewal_link": "https://spa.example/renew/p-1",
        "punchcard_sms_opt_out": False,
        "punchcard_email_opt_out": False,
    }
    assert event.properties["message"].startswith("Test Spa: Session 1 of 6")
    assert (await row(pool, "p-1:confirm:k1"))["status"] == "sent"


async def test_a_sent_event_is_not_submitted_again(
    pool: asyncpg.Pool, http: httpx.AsyncClient, klaviyo: KlaviyoFake
) -> None:
    await add_client(pool)
    handoff = make_handoff(pool, http, klaviyo)
    await ActivityEnvironment().run(handoff.hand_over, completed())
    again = await ActivityEnvironment().run(handoff.hand_over, completed())

    assert again.status == "already_sent"
    assert len(klaviyo.requests) == 1


async def test_throttled_is_retryable_after_klaviyos_wait(
    pool: asyncpg.Pool, http: httpx.AsyncClient, klaviyo: KlaviyoFake
) -> None:
    await add_client(pool)
    klaviyo.throttle_next(1, retry_after=3)
    handoff = make_handoff(pool, http, klaviyo)

    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(handoff.hand_over, completed())

    assert failed.value.type == "KlaviyoUnavailable" and not failed.value.non_retryable
    assert failed.value.next_retry_delay == timedelta(seconds=3)
    assert (await row(pool, "p-1:confirm:k1"))["status"] == "sending"
    assert (await ActivityEnvironment().run(handoff.hand_over, completed())).status == "sent"
    assert len(klaviyo.events) == 1
    assert (await row(pool, "p-1:confirm:k1"))["attempts"] == 2


async def test_refused_event_is_recorded_and_not_retried(
    pool: asyncpg.Pool, http: httpx.AsyncClient, klaviyo: KlaviyoFake
) -> None:
    await add_client(pool, phone="5555550123")  # not E.164: Klaviyo refuses the profile

    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(make_handoff(pool, http, klaviyo).hand_over, completed())

    assert failed.value.type == "KlaviyoRejected" and failed.value.non_retryable
    assert "phone_number" in failed.value.message
    stored = await row(pool, "p-1:confirm:k1")
    assert stored["status"] == "rejected" and "phone_number" in stored["error"]
    assert klaviyo.events == []


async def test_wrong_key_is_bad_configuration(
    pool: asyncpg.Pool, http: httpx.AsyncClient, klaviyo: KlaviyoFake
) -> None:
    await add_client(pool)
    handoff = make_handoff(pool, http, klaviyo, key="pk_not_the_key")

    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(handoff.hand_over, completed())

    assert failed.value.type == BAD_CONFIGURATION and failed.value.non_retryable
    assert "pk_not_the_key" not in failed.value.message
