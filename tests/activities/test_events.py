"""Outbound lifecycle webhooks against two local subscribers and real Postgres: signed
deliveries, at-least-once retries that spare subscribers already served, and the signature
check subscribers run."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.events import (
    EVENT_UNDELIVERED,
    EventActivities,
    WebhookPublisher,
    event_body,
    parse_urls,
    signature_header,
    verify_signature,
)
from tests.activities.messaging.helpers import closed_port
from tests.fakes.event_receiver import EventReceiver
from workflows import schedule, texts
from workflows.models import LifecycleEvent, PackageKind, PackageSnapshot, PackageStatus

SECRET = "whsec_punchcard_events_test"
SOLD_AT = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
SPA_ZONE = "America/New_York"


async def _receiver() -> EventReceiver:
    receiver = EventReceiver(secret=SECRET)
    await receiver.start()
    return receiver


@pytest.fixture
async def spa_crm() -> AsyncIterator[EventReceiver]:
    receiver = await _receiver()
    try:
        yield receiver
    finally:
        await receiver.stop()


@pytest.fixture
async def analytics() -> AsyncIterator[EventReceiver]:
    receiver = await _receiver()
    try:
        yield receiver
    finally:
        await receiver.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


def activities_for(
    pool: asyncpg.Pool, http: httpx.AsyncClient, *urls: str, secret: str = SECRET
) -> EventActivities:
    publisher = WebhookPublisher(http, urls=list(urls), secret=SecretStr(secret), timezone=SPA_ZONE)
    return EventActivities(pool=pool, publisher=publisher)


@pytest.fixture
def events(
    pool: asyncpg.Pool, http: httpx.AsyncClient, spa_crm: EventReceiver, analytics: EventReceiver
) -> EventActivities:
    return activities_for(pool, http, spa_crm.url, analytics.url)


def redeemed(event_id: str = "pkg-1/event/4") -> LifecycleEvent:
    return LifecycleEvent(
        event_id=event_id,
        type="package.redeemed",
        occurred_at=SOLD_AT + timedelta(days=90),
        package=PackageSnapshot(
            package_id="pkg-1",
            client_id="c-ana",
            type_code="laser6",
            name="Laser hair removal, 6 sessions",
            kind=PackageKind.SESSIONS,
            status=PackageStatus.ACTIVE,
            remaining=2,
            purchased_units=6,
            paid_cents=180_000,
            unused_value_cents=60_000,
            purchased_at=SOLD_AT,
            expires_at=SOLD_AT + timedelta(days=365),
        ),
        entry_seq=5,
        appointment_id="appt-4",
        units_delta=-1,
        value_cents=30_000,
    )


async def delivery_rows(pool: asyncpg.Pool, event_id: str) -> dict[str, asyncpg.Record]:
    rows = await pool.fetch(
        "SELECT url, status, attempts, http_status, last_error, delivered_at"
        " FROM event_deliveries WHERE event_id = $1",
        event_id,
    )
    return {row["url"]: row for row in rows}


async def test_signed_event_reaches_every_subscriber(
    pool: asyncpg.Pool, spa_crm: EventReceiver, analytics: EventReceiver, events: EventActivities
) -> None:
    result = await ActivityEnvironment().run(events.publish, redeemed())

    assert (result.endpoints, result.delivered) == (2, 2)
    for receiver in (spa_crm, analytics):
        (delivery,) = receiver.deliveries
        assert delivery.signature_ok
        assert delivery.headers["Punchcard-Event-Id"] == "pkg-1/event/4"
        assert delivery.headers["Punchcard-Event-Type"] == "package.redeemed"
        assert delivery.headers["Content-Type"] == "application/json"
        assert verify_signature(delivery.body, delivery.headers["Punchcard-Signature"], SECRET)
    (event,) = spa_crm.events
    assert event == {
        "id": "pkg-1/event/4",
        "type": "package.redeemed",
        "created": int((SOLD_AT + timedelta(days=90)).timestamp()),
        "data": {
            "package_id": "pkg-1",
            "client_id": "c-ana",
            "type_code": "laser6",
            "name": "Laser hair removal, 6 sessions",
            "kind": "sessions",
            "status": "active",
            "remaining": 2,
            "purchased_units": 6,
            "paid_cents": 180_000,
            "unused_value_cents": 60_000,
            "purchased_at": "2026-01-05T15:00:00Z",
            "expires_at": "2027-01-05T15:00:00Z",
            "parent_purchase_id": None,
            "refund_due_cents": None,
            "pace_at_risk": False,
            "expires_on": "2027-01-05",
            "occurred_at": "2026-04-05T15:00:00Z",
            "entry_seq": 5,
            "appointment_id": "appt-4",
            "units_delta": -1,
            "value_cents": 30_000,
            "renews_package_id": None,
        },
    }
    rows = await delivery_rows(pool, "pkg-1/event/4")
    assert {url: (r["status"], r["attempts"], r["http_status"]) for url, r in rows.items()} == {
        spa_crm.url: ("delivered", 1, 200),
        analytics.url: ("delivered", 1, 200),
    }
    assert all(r["delivered_at"] is not None for r in rows.values())


async def test_failed_subscriber_is_retried_alone_with_the_same_event(
    pool: asyncpg.Pool, spa_crm: EventReceiver, analytics: EventReceiver, events: EventActivities
) -> None:
    analytics.fail_next(1, status=503)
    env = ActivityEnvironment()

    with pytest.raises(ApplicationError) as failed:
        await env.run(events.publish, redeemed())
    assert failed.value.type == EVENT_UNDELIVERED and not failed.value.non_retryable
    assert analytics.url in failed.value.message and "503" in failed.value.message
    assert spa_crm.url not in failed.value.message
    assert len(spa_crm.events) == 1 and analytics.events == []

    result = await env.run(events.publish, redeemed())

    assert (result.endpoints, result.delivered) == (2, 2)
    assert len(spa_crm.deliveries) == 1  # already served: not posted again
    first, second = analytics.deliveries
    assert (first.answered, second.answered) == (503, 200)
    assert first.body == second.body  # same event, same bytes; only the signature's t moves
    assert analytics.event_ids() == ["pkg-1/event/4"]
    rows = await delivery_rows(pool, "pkg-1/event/4")
    assert (rows[analytics.url]["status"], rows[analytics.url]["attempts"]) == ("delivered", 2)
    assert rows[spa_crm.url]["attempts"] == 1


async def test_publishing_a_delivered_event_again_posts_nothing(
    pool: asyncpg.Pool, spa_crm: EventReceiver, analytics: EventReceiver, events: EventActivities
) -> None:
    env = ActivityEnvironment()
    await env.run(events.publish, redeemed())

    again = await env.run(events.publish, redeemed())
    other = await env.run(events.publish, redeemed("pkg-1/event/5"))

    assert (again.endpoints, again.delivered) == (2, 2)
    assert (other.endpoints, other.delivered) == (2, 2)
    assert spa_crm.event_ids() == analytics.event_ids() == ["pkg-1/event/4", "pkg-1/event/5"]


async def test_subscriber_refusing_with_4xx_is_recorded_and_not_retried(
    pool: asyncpg.Pool, spa_crm: EventReceiver, analytics: EventReceiver, events: EventActivities
) -> None:
    analytics.fail_next(1, status=410)
    env = ActivityEnvironment()

    result = await env.run(events.publish, redeemed())
    again = await env.run(events.publish, redeemed())

    assert (result.endpoints, result.delivered) == (2, 1)
    assert again == result
    assert len(analytics.deliveries) == 1
    row = (await delivery_rows(pool, "pkg-1/event/4"))[analytics.url]
    assert (row["status"], row["http_status"]) == ("rejected", 410)
    assert "410" in row["last_error"]


async def test_rate_limited_subscriber_is_retried_after_its_retry_after(
    pool: asyncpg.Pool, http: httpx.AsyncClient, spa_crm: EventReceiver
) -> None:
    spa_crm.fail_next(1, status=429, retry_after=30)
    events = activities_for(pool, http, spa_crm.url)

    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(events.publish, redeemed())

    assert not failed.value.non_retryable
    assert failed.value.next_retry_delay == timedelta(seconds=30)


async def test_unreachable_subscriber_is_retryable_and_named_without_its_token(
    pool: asyncpg.Pool, http: httpx.AsyncClient, spa_crm: EventReceiver
) -> None:
    down = f"http://127.0.0.1:{closed_port()}/hooks?token=s3cret"
    events = activities_for(pool, http, spa_crm.url, down)

    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(events.publish, redeemed())

    assert not failed.value.non_retryable
    assert down.split("?")[0] in failed.value.message and "unreachable" in failed.value.message
    assert "s3cret" not in failed.value.message
    assert len(spa_crm.events) == 1
    row = (await delivery_rows(pool, "pkg-1/event/4"))[down]
    assert row["status"] == "failed" and "unreachable" in row["last_error"]


async def test_subscriber_with_another_secret_refuses_the_event(
    pool: asyncpg.Pool, http: httpx.AsyncClient, spa_crm: EventReceiver
) -> None:
    events = activities_for(pool, http, spa_crm.url, secret="whsec_not_what_they_have")

    result = await ActivityEnvironment().run(events.publish, redeemed())

    (delivery,) = spa_crm.deliveries
    assert not delivery.signature_ok and spa_crm.events == []
    assert result.delivered == 0
    header = delivery.headers["Punchcard-Signature"]
    assert verify_signature(delivery.body, header, "whsec_not_what_they_have")
    assert not verify_signature(delivery.body, header, SECRET)


async def test_no_subscribers_means_nothing_to_do(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    env = ActivityEnvironment()
    unconfigured = EventActivities(pool=pool, publisher=None)
    empty = EventActivities(
        pool=pool, publisher=WebhookPublisher(http, urls=[], secret=None, timezone=SPA_ZONE)
    )

    for activities in (unconfigured, empty):
        result = await env.run(activities.publish, redeemed())
        assert (result.endpoints, result.delivered) == (0, 0)
    assert await pool.fetchval("SELECT count(*) FROM event_deliveries") == 0


# --- the signature and the configuration -------------------------------------------------


def test_signature_check_refuses_tampering_staleness_and_garbage() -> None:
    body = event_body(redeemed(), timezone=SPA_ZONE)
    now = int(time.time())
    header = signature_header(body, SECRET, now)

    assert verify_signature(body, header, SECRET)
    tampered = json.loads(body)
    tampered["data"]["remaining"] = 6
    assert not verify_signature(json.dumps(tampered).encode(), header, SECRET)
    assert not verify_signature(body, signature_header(body, SECRET, now - 301), SECRET)
    assert verify_signature(body, signature_header(body, SECRET, now - 301), SECRET, tolerance=0)
    rotated = f"{header},v1={'0' * 64}"
    assert verify_signature(body, rotated, SECRET)
    for garbage in ("", "v1=abc", f"t={now}", "t=soon,v1=abc"):
        assert not verify_signature(body, garbage, SECRET)


def test_event_webhook_urls_are_parsed_and_checked() -> None:
    assert parse_urls(" https://a.example/h , ,https://b.example/h,https://a.example/h") == [
        "https://a.example/h",
        "https://b.example/h",
    ]
    with pytest.raises(ValueError, match=re.escape("'ftp://files.example/x' is not an http")):
        parse_urls("https://a.example/h,ftp://files.example/x")


async def test_urls_without_a_secret_are_refused_at_start_up(http: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError, match="PUNCHCARD_EVENT_WEBHOOK_SECRET is not"):
        WebhookPublisher(http, urls=["https://a.example/h"], secret=None, timezone=SPA_ZONE)


@pytest.mark.parametrize("timezone", ["America/New_York", "Pacific/Auckland", "Pacific/Honolulu"])
async def test_event_carries_the_good_through_day_the_client_is_told(
    pool: asyncpg.Pool, http: httpx.AsyncClient, spa_crm: EventReceiver, timezone: str
) -> None:
    ends = schedule.ends_after(date(2027, 4, 30), timezone)  # the local midnight after Apr 30
    event = redeemed("pkg-1/event/9")
    event = event.model_copy(
        update={"package": event.package.model_copy(update={"expires_at": ends})}
    )
    publisher = WebhookPublisher(
        http, urls=[spa_crm.url], secret=SecretStr(SECRET), timezone=timezone
    )

    await ActivityEnvironment().run(EventActivities(pool=pool, publisher=publisher).publish, event)

    (received,) = spa_crm.events
    told = datetime.strptime(texts.local_date(ends, timezone), "%b %d, %Y").date()
    assert received["data"]["expires_on"] == told.isoformat() == "2027-04-30"
    # `expires_at` stays the exact (exclusive) end instant.
    assert datetime.fromisoformat(received["data"]["expires_at"]) == ends
