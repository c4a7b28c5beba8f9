"""The Twilio SMS adapter against the Twilio stand-in: wire format, retries, typed failures."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.messaging import TWILIO_UNAVAILABLE, MessagingActivities
from tests.activities.messaging.helpers import (
    FROM_NUMBER,
    PHONE,
    add_client,
    closed_port,
    make_sms,
    notice,
    outbox_row,
)
from tests.fakes.twilio import TwilioFake
from workflows.policies import BAD_CONFIGURATION


async def test_sms_is_sent_in_twilios_format(
    pool: asyncpg.Pool, twilio: TwilioFake, messaging: MessagingActivities
) -> None:
    await add_client(pool)

    result = await ActivityEnvironment().run(messaging.send_client_sms, notice())

    assert result.status == "sent" and result.channel == "sms"
    assert twilio.messages == [
        {"To": PHONE, "From": FROM_NUMBER, "Body": "Session 4 of 6 complete — 2 remaining."}
    ]
    row = await outbox_row(pool, notice().message_key, "sms")
    assert (row["status"], row["attempts"], row["recipient"]) == ("sent", 1, PHONE)
    assert row["provider_message_id"] == result.provider_message_id
    assert result.provider_message_id and result.provider_message_id.startswith("SM")


async def test_messaging_service_sid_replaces_from(
    http: httpx.AsyncClient, twilio: TwilioFake
) -> None:
    sms = make_sms(http, twilio, from_number=None, messaging_service_sid="MG" + "1" * 32)

    await sms.send(PHONE, "hello", status_callback="https://spa.example.com/twilio/status")

    (sent,) = twilio.messages
    assert "From" not in sent
    assert sent["MessagingServiceSid"] == "MG" + "1" * 32
    assert sent["StatusCallback"] == "https://spa.example.com/twilio/status"


async def test_rate_limit_is_retryable_and_honours_retry_after(
    http: httpx.AsyncClient, twilio: TwilioFake
) -> None:
    twilio.fail_next(1, status=429, code=20429, message="Too Many Requests", retry_after=7)

    with pytest.raises(ApplicationError) as failed:
        await make_sms(http, twilio).send(PHONE, "hello")

    assert not failed.value.non_retryable
    assert failed.value.next_retry_delay == timedelta(seconds=7)


async def test_unreachable_twilio_is_retryable(http: httpx.AsyncClient, twilio: TwilioFake) -> None:
    sms = make_sms(http, twilio, base_url=f"http://127.0.0.1:{closed_port()}")

    with pytest.raises(ApplicationError) as failed:
        await sms.send(PHONE, "hello")

    assert failed.value.type == TWILIO_UNAVAILABLE and not failed.value.non_retryable


async def test_invalid_number_is_rejected_and_recorded(
    pool: asyncpg.Pool, twilio: TwilioFake, messaging: MessagingActivities
) -> None:
    await add_client(pool, phone="5555550123")  # not E.164: Twilio answers 21211

    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(messaging.send_client_sms, notice())

    assert failed.value.type == "TwilioRejected" and failed.value.non_retryable
    assert "21211" in failed.value.message
    assert failed.value.details[0]["code"] == 21211
    assert "5555550123" not in failed.value.message  # no phone numbers in failures
    row = await outbox_row(pool, notice().message_key, "sms")
    assert row["status"] == "rejected" and "21211" in row["error"]
    assert "5555550123" not in row["error"]
    assert twilio.messages == []


async def test_wrong_auth_token_is_bad_configuration(
    pool: asyncpg.Pool, http: httpx.AsyncClient, twilio: TwilioFake
) -> None:
    await add_client(pool)
    wrong = make_sms(http, twilio, auth_token=SecretStr("not-the-token"))
    messaging = MessagingActivities(pool=pool, sms=wrong)

    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(messaging.send_client_sms, notice())

    assert failed.value.type == BAD_CONFIGURATION and failed.value.non_retryable
    assert "not-the-token" not in failed.value.message
    assert (await outbox_row(pool, notice().message_key, "sms"))["status"] == "rejected"
