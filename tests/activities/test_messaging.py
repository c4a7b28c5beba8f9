"""Messaging activities against real PostgreSQL, the Twilio stand-in and a local SMTP server."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.messaging import (
    SMTP_UNAVAILABLE,
    TWILIO_UNAVAILABLE,
    MessagingActivities,
    SmtpMailer,
    TwilioSms,
    staff_subject,
)
from tests.fakes.smtp import SmtpFake
from tests.fakes.twilio import TwilioFake
from workflows.contracts import ClientMessageInput, StaffAlertInput
from workflows.policies import BAD_CONFIGURATION, PROVIDER_REJECTED, UNKNOWN_CLIENT

FROM_NUMBER = "+15555550100"
PHONE = "+15555550123"
EMAIL = "ada@example.com"
STAFF = "manager@example.com"
SENDER = "Punchcard Test Spa <spa@example.com>"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


def make_sms(http: httpx.AsyncClient, twilio: TwilioFake, **overrides: Any) -> TwilioSms:
    options: dict[str, Any] = {
        "http": http,
        "base_url": twilio.base_url,
        "account_sid": twilio.account_sid,
        "auth_token": SecretStr(twilio.auth_token),
        "from_number": FROM_NUMBER,
    }
    options.update(overrides)
    return TwilioSms(**options)


def make_mailer(smtp: SmtpFake, *, port: int | None = None) -> SmtpMailer:
    return SmtpMailer(
        host=smtp.host,
        port=port or smtp.port,
        username=None,
        password=None,
        starttls=False,
        sender=SENDER,
        timeout=5.0,
    )


@pytest.fixture
def messaging(
    pool: asyncpg.Pool, http: httpx.AsyncClient, twilio: TwilioFake, smtp: SmtpFake
) -> MessagingActivities:
    return MessagingActivities(
        pool=pool, sms=make_sms(http, twilio), mailer=make_mailer(smtp), staff_email=STAFF
    )


async def add_client(
    pool: asyncpg.Pool,
    client_id: str = "c-1",
    *,
    phone: str | None = PHONE,
    email: str | None = EMAIL,
    sms_opt_out: bool = False,
) -> None:
    await pool.execute(
        "INSERT INTO clients (client_id, name, phone, email, sms_opt_out)"
        " VALUES ($1, 'Ada Client', $2, $3, $4)",
        client_id,
        phone,
        email,
        sms_opt_out,
    )


def notice(key: str = "pkg-1/redemption/appt-1", client_id: str = "c-1") -> ClientMessageInput:
    return ClientMessageInput(
        message_key=key,
        client_id=client_id,
        package_id="pkg-1",
        kind="redemption",
        subject="Session 4 of 6 complete",
        body="Session 4 of 6 complete — 2 remaining.",
    )


async def outbox_row(pool: asyncpg.Pool, key: str, channel: str) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT status, attempts, error, provider_message_id, recipient, body"
        " FROM outbound_messages WHERE message_key = $1 AND channel = $2",
        key,
        channel,
    )
    assert row is not None, f"no {channel} row for {key}"
    return row


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


async def test_email_is_received_with_subject_and_body(
    pool: asyncpg.Pool, smtp: SmtpFake, messaging: MessagingActivities
) -> None:
    await add_client(pool)

    result = await ActivityEnvironment().run(messaging.send_client_email, notice())

    assert result.status == "sent" and result.channel == "email"
    (mail,) = smtp.sent_to(EMAIL)
    assert mail["Subject"] == "Session 4 of 6 complete"
    assert mail["From"] == SENDER
    assert mail.get_payload(decode=True).decode().strip() == notice().body  # type: ignore[union-attr]
    assert mail["Message-ID"] == result.provider_message_id


async def test_resent_email_keeps_its_message_id(smtp: SmtpFake) -> None:
    mailer = make_mailer(smtp)

    first = await mailer.send(EMAIL, "s", "b", "pkg-1/reminder/30d")
    second = await mailer.send(EMAIL, "s", "b", "pkg-1/reminder/30d")
    other = await mailer.send(EMAIL, "s", "b", "pkg-1/reminder/14d")

    assert first == second != other
    assert [m["Message-ID"] for m in smtp.messages] == [first, first, other]
    assert "pkg-1" not in first and first.endswith("@example.com>")


async def test_opted_out_client_gets_email_but_no_sms(
    pool: asyncpg.Pool, twilio: TwilioFake, smtp: SmtpFake, messaging: MessagingActivities
) -> None:
    await add_client(pool, sms_opt_out=True)
    env = ActivityEnvironment()

    sms = await env.run(messaging.send_client_sms, notice())
    email = await env.run(messaging.send_client_email, notice())

    assert sms.status == "opted_out" and email.status == "sent"
    assert twilio.attempts == 0
    assert len(smtp.sent_to(EMAIL)) == 1
    assert (await outbox_row(pool, notice().message_key, "sms"))["status"] == "opted_out"


async def test_client_without_phone_is_no_address(
    pool: asyncpg.Pool, twilio: TwilioFake, messaging: MessagingActivities
) -> None:
    await add_client(pool, phone=None)

    result = await ActivityEnvironment().run(messaging.send_client_sms, notice())

    assert result.status == "no_address"
    assert twilio.attempts == 0
    assert (await outbox_row(pool, notice().message_key, "sms"))["status"] == "no_address"


async def test_same_key_twice_sends_once(
    pool: asyncpg.Pool, twilio: TwilioFake, smtp: SmtpFake, messaging: MessagingActivities
) -> None:
    await add_client(pool)
    env = ActivityEnvironment()

    first = await env.run(messaging.send_client_sms, notice())
    second = await env.run(messaging.send_client_sms, notice())
    await env.run(messaging.send_client_email, notice())
    again = await env.run(messaging.send_client_email, notice())

    assert (first.status, second.status, again.status) == ("sent", "already_sent", "already_sent")
    assert second.provider_message_id == first.provider_message_id
    assert len(twilio.messages) == 1 and twilio.attempts == 1
    assert len(smtp.messages) == 1


async def test_transient_twilio_failures_retry_then_send_once(
    pool: asyncpg.Pool, twilio: TwilioFake, messaging: MessagingActivities
) -> None:
    await add_client(pool)
    twilio.fail_next(2, status=500)
    env = ActivityEnvironment()

    for _ in range(2):
        with pytest.raises(ApplicationError) as failed:
            await env.run(messaging.send_client_sms, notice())
        assert failed.value.type == TWILIO_UNAVAILABLE and not failed.value.non_retryable
    row = await outbox_row(pool, notice().message_key, "sms")
    assert (row["status"], row["attempts"]) == ("sending", 2)
    assert "500" in row["error"]

    result = await env.run(messaging.send_client_sms, notice())

    assert result.status == "sent"
    assert len(twilio.messages) == 1 and twilio.attempts == 3
    row = await outbox_row(pool, notice().message_key, "sms")
    assert (row["status"], row["attempts"], row["error"]) == ("sent", 3, None)


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

    assert failed.value.type == PROVIDER_REJECTED and failed.value.non_retryable
    assert "21211" in failed.value.message
    assert failed.value.details[0]["twilio_code"] == 21211
    assert "5555550123" not in failed.value.message  # no phone numbers in failures
    row = await outbox_row(pool, notice().message_key, "sms")
    assert row["status"] == "rejected" and "21211" in row["error"]
    assert "5555550123" not in row["error"]
    assert twilio.messages == []


async def test_unsubscribed_recipient_sets_sms_opt_out(
    pool: asyncpg.Pool, twilio: TwilioFake, messaging: MessagingActivities
) -> None:
    await add_client(pool)
    twilio.fail_next(1, status=400, code=21610, message="Attempt to send to unsubscribed recipient")
    env = ActivityEnvironment()

    with pytest.raises(ApplicationError) as failed:
        await env.run(messaging.send_client_sms, notice())

    assert failed.value.type == PROVIDER_REJECTED and failed.value.non_retryable
    assert await pool.fetchval("SELECT sms_opt_out FROM clients WHERE client_id = 'c-1'")
    assert (await outbox_row(pool, notice().message_key, "sms"))["status"] == "rejected"
    later = await env.run(messaging.send_client_sms, notice("pkg-1/reminder/30d"))
    assert later.status == "opted_out" and twilio.attempts == 1


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


async def test_unknown_client_fails_for_good(
    pool: asyncpg.Pool, twilio: TwilioFake, messaging: MessagingActivities
) -> None:
    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(messaging.send_client_sms, notice(client_id="c-404"))

    assert failed.value.type == UNKNOWN_CLIENT and failed.value.non_retryable
    assert "c-404" in failed.value.message
    assert (await outbox_row(pool, notice().message_key, "sms"))["status"] == "rejected"
    assert twilio.attempts == 0


async def test_missing_adapters_record_not_configured(pool: asyncpg.Pool) -> None:
    await add_client(pool)
    messaging = MessagingActivities(pool=pool, sms=None, mailer=None, staff_email=STAFF)
    env = ActivityEnvironment()

    sms = await env.run(messaging.send_client_sms, notice())
    email = await env.run(messaging.send_client_email, notice())
    staff = await env.run(messaging.send_staff_email, alert())

    assert (sms.status, email.status, staff.status) == ("not_configured",) * 3
    row = await outbox_row(pool, notice().message_key, "sms")
    # What would have been sent stays readable, for the embedded demo.
    assert (row["status"], row["recipient"], row["body"]) == (
        "not_configured",
        PHONE,
        notice().body,
    )


async def test_refused_recipient_is_rejected_and_temporary_refusal_retries(
    pool: asyncpg.Pool, smtp: SmtpFake, messaging: MessagingActivities
) -> None:
    await add_client(pool)
    await add_client(pool, "c-2", email="gone@example.com")
    smtp.refuse(EMAIL, reply="451 4.3.0 Try again later")
    smtp.refuse("gone@example.com", reply="550 5.1.1 <gone@example.com>: no such user")
    env = ActivityEnvironment()

    with pytest.raises(ApplicationError) as temporary:
        await env.run(messaging.send_client_email, notice())
    with pytest.raises(ApplicationError) as permanent:
        await env.run(messaging.send_client_email, notice("k-2", client_id="c-2"))

    assert temporary.value.type == SMTP_UNAVAILABLE and not temporary.value.non_retryable
    assert permanent.value.type == PROVIDER_REJECTED and permanent.value.non_retryable
    assert "gone@example.com" not in permanent.value.message
    assert (await outbox_row(pool, "k-2", "email"))["status"] == "rejected"
    assert (await env.run(messaging.send_client_email, notice())).status == "sent"
    assert len(smtp.messages) == 1


async def test_unreachable_smtp_is_retryable(smtp: SmtpFake) -> None:
    with pytest.raises(ApplicationError) as failed:
        await make_mailer(smtp, port=closed_port()).send(EMAIL, "s", "b", "k")

    assert failed.value.type == SMTP_UNAVAILABLE and not failed.value.non_retryable


def alert() -> StaffAlertInput:
    return StaffAlertInput(
        alert_key="pkg-1/alert/80pct",
        package_id="pkg-1",
        client_id="c-1",
        kind="consumed_80_percent",
        message="Package pkg-1 is 80% consumed.",
    )


async def test_staff_email(
    pool: asyncpg.Pool, smtp: SmtpFake, messaging: MessagingActivities
) -> None:
    env = ActivityEnvironment()

    result = await env.run(messaging.send_staff_email, alert())
    again = await env.run(messaging.send_staff_email, alert())

    assert (result.status, again.status) == ("sent", "already_sent")
    (mail,) = smtp.sent_to(STAFF)
    assert mail["Subject"] == staff_subject("consumed_80_percent")
    assert "80 percent" in mail["Subject"]
    assert mail.get_payload(decode=True).decode().strip() == alert().message  # type: ignore[union-attr]
    row = await outbox_row(pool, alert().alert_key, "email")
    assert (row["status"], row["recipient"]) == ("sent", STAFF)


async def test_staff_email_without_address_is_not_configured(
    pool: asyncpg.Pool, smtp: SmtpFake
) -> None:
    messaging = MessagingActivities(pool=pool, mailer=make_mailer(smtp), staff_email=None)

    result = await ActivityEnvironment().run(messaging.send_staff_email, alert())

    assert result.status == "not_configured"
    assert smtp.messages == []


def closed_port() -> int:
    """A port nothing listens on: bound, read, and released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
