"""Texts whose Twilio answer was lost: looked up before a retry sends them again (issue 9.13)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.messaging import TWILIO_UNAVAILABLE, MessagingActivities
from tests.activities.messaging.helpers import (
    FROM_NUMBER,
    PHONE,
    add_client,
    make_sms,
    notice,
    outbox_row,
)
from tests.fakes.twilio import TwilioFake

SERVICE = "MG" + "1" * 32
BODY = notice().body


async def fails_retryably(messaging: MessagingActivities, key: str) -> None:
    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(messaging.send_client_sms, notice(key))
    assert failed.value.type == TWILIO_UNAVAILABLE and not failed.value.non_retryable


@pytest.fixture
async def impatient_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=0.5) as client:
        yield client


@pytest.mark.parametrize("mode", ["drop", "hang"])
async def test_text_created_but_answer_lost_is_recorded_not_sent_twice(
    pool: asyncpg.Pool, twilio: TwilioFake, impatient_http: httpx.AsyncClient, mode: str
) -> None:
    await add_client(pool)
    messaging = MessagingActivities(pool=pool, sms=make_sms(impatient_http, twilio))
    twilio.lose_next(1, mode="hang" if mode == "hang" else "drop")
    await fails_retryably(messaging, "k-1")

    retry = await ActivityEnvironment().run(messaging.send_client_sms, notice("k-1"))

    assert twilio.sent_to(PHONE) == [BODY]
    assert twilio.attempts == 1
    (created,) = twilio.stored
    assert (retry.status, retry.provider_message_id) == ("sent", created.sid)
    row = await outbox_row(pool, "k-1", "sms")
    assert (row["status"], row["provider_message_id"], row["attempts"]) == ("sent", created.sid, 2)


async def test_text_never_created_is_sent_again(
    pool: asyncpg.Pool, twilio: TwilioFake, messaging: MessagingActivities
) -> None:
    await add_client(pool)
    twilio.fail_next(1, status=500)
    await fails_retryably(messaging, "k-1")

    retry = await ActivityEnvironment().run(messaging.send_client_sms, notice("k-1"))

    assert retry.status == "sent"
    assert twilio.sent_to(PHONE) == [BODY]
    assert twilio.lists >= 1 and twilio.attempts == 2


async def test_the_same_text_sent_earlier_is_not_taken_for_this_one(
    pool: asyncpg.Pool, twilio: TwilioFake, messaging: MessagingActivities
) -> None:
    """A client may get the same words twice on purpose: yesterday's text is not today's."""
    await add_client(pool)
    now = datetime.now(UTC)
    for earlier in (now - timedelta(days=1), now - timedelta(hours=1)):
        twilio.seed_message(PHONE, BODY, from_=FROM_NUMBER, created=earlier, sent=earlier)
    twilio.fail_next(1, status=503)
    await fails_retryably(messaging, "k-1")

    retry = await ActivityEnvironment().run(messaging.send_client_sms, notice("k-1"))

    assert twilio.sent_to(PHONE) == [BODY]  # created now, by the retry
    assert retry.provider_message_id == twilio.stored[-1].sid


async def test_a_text_another_notice_recorded_is_not_claimed_twice(
    pool: asyncpg.Pool, twilio: TwilioFake, messaging: MessagingActivities
) -> None:
    await add_client(pool)
    twilio.fail_next(1, status=503)
    await fails_retryably(messaging, "k-b")
    env = ActivityEnvironment()
    other = await env.run(messaging.send_client_sms, notice("k-a"))  # same words, own notice

    retry = await env.run(messaging.send_client_sms, notice("k-b"))

    assert retry.status == "sent" and retry.provider_message_id != other.provider_message_id
    assert twilio.sent_to(PHONE) == [BODY, BODY]


async def test_lost_answer_through_a_messaging_service(
    pool: asyncpg.Pool, http: httpx.AsyncClient, twilio: TwilioFake
) -> None:
    """The service picks the sender, so the lookup matches the service SID, not From."""
    await add_client(pool)
    sms = make_sms(http, twilio, from_number=None, messaging_service_sid=SERVICE)
    messaging = MessagingActivities(pool=pool, sms=sms)
    twilio.lose_next(1)
    await fails_retryably(messaging, "k-1")

    retry = await ActivityEnvironment().run(messaging.send_client_sms, notice("k-1"))

    assert retry.status == "sent" and twilio.sent_to(PHONE) == [BODY]
    assert twilio.stored[0].from_ == twilio.service_number


async def test_lost_answer_of_a_text_still_queued(
    pool: asyncpg.Pool, twilio: TwilioFake, messaging: MessagingActivities
) -> None:
    """Queued means no date_sent yet, which no DateSent filter matches."""
    await add_client(pool)
    twilio.hold_in_queue = True
    twilio.lose_next(1)
    await fails_retryably(messaging, "k-1")

    retry = await ActivityEnvironment().run(messaging.send_client_sms, notice("k-1"))

    assert retry.status == "sent" and twilio.sent_to(PHONE) == [BODY]


async def test_lookup_that_cannot_read_the_list_sends_nothing(
    pool: asyncpg.Pool, twilio: TwilioFake, messaging: MessagingActivities
) -> None:
    await add_client(pool)
    twilio.lose_next(1)
    await fails_retryably(messaging, "k-1")
    twilio.fail_next_list(1)

    await fails_retryably(messaging, "k-1")

    assert twilio.sent_to(PHONE) == [BODY] and twilio.attempts == 1


async def test_lookup_spans_midnight_and_pages(http: httpx.AsyncClient, twilio: TwilioFake) -> None:
    """Created at 23:59:58 UTC, sent after midnight: DateSent is the next day."""
    sms = make_sms(http, twilio)
    midnight = datetime(2026, 3, 2, tzinfo=UTC)
    attempted = midnight - timedelta(seconds=3)
    created = midnight - timedelta(seconds=2)
    ours = twilio.seed_message(
        PHONE, BODY, from_=FROM_NUMBER, created=created, sent=midnight + timedelta(seconds=3)
    )
    yesterday = midnight - timedelta(days=1)
    twilio.seed_message(PHONE, BODY, from_=FROM_NUMBER, created=yesterday, sent=yesterday)
    twilio.seed_message(PHONE, BODY, from_="+15555550111", created=created, sent=created)
    for n in range(120):  # newer texts to the same client push ours to the third page
        later = midnight + timedelta(minutes=n + 1)
        twilio.seed_message(PHONE, f"Reminder {n}", from_=FROM_NUMBER, created=later, sent=later)

    assert await sms.find_sent(PHONE, BODY, since=attempted) == [ours]
    assert await sms.find_sent(PHONE, "Not sent", since=attempted) == []
