"""The messaging activities over real PostgreSQL: opt-outs, idempotency, the outbox, staff email."""

from __future__ import annotations

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.messaging import TWILIO_UNAVAILABLE, MessagingActivities, staff_subject
from tests.activities.messaging.helpers import (
    EMAIL,
    PHONE,
    STAFF,
    add_client,
    alert,
    make_mailer,
    notice,
    outbox_row,
)
from tests.fakes.smtp import SmtpFake
from tests.fakes.twilio import TwilioFake
from workflows.contracts import UndeliveredInput
from workflows.policies import UNKNOWN_CLIENT


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


async def test_unsubscribed_recipient_sets_sms_opt_out(
    pool: asyncpg.Pool, twilio: TwilioFake, messaging: MessagingActivities
) -> None:
    await add_client(pool)
    twilio.fail_next(1, status=400, code=21610, message="Attempt to send to unsubscribed recipient")
    env = ActivityEnvironment()

    with pytest.raises(ApplicationError) as failed:
        await env.run(messaging.send_client_sms, notice())

    assert failed.value.type == "TwilioRejected" and failed.value.non_retryable
    assert await pool.fetchval("SELECT sms_opt_out FROM clients WHERE client_id = 'c-1'")
    assert (await outbox_row(pool, notice().message_key, "sms"))["status"] == "rejected"
    later = await env.run(messaging.send_client_sms, notice("pkg-1/reminder/30d"))
    assert later.status == "opted_out" and twilio.attempts == 1


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


async def test_a_message_whose_retries_ran_out_is_closed_as_failed_but_a_sent_one_stays(
    pool: asyncpg.Pool, twilio: TwilioFake, messaging: MessagingActivities
) -> None:
    await add_client(pool)
    env = ActivityEnvironment()
    twilio.fail_next(1, status=503, code=20503, message="Service Unavailable")
    with pytest.raises(ApplicationError):
        await env.run(messaging.send_client_sms, notice("k-stuck"))
    assert (await outbox_row(pool, "k-stuck", "sms"))["status"] == "sending"
    gave_up = UndeliveredInput(message_key="k-stuck", channel="sms", reason="gave up: timeout")
    await env.run(messaging.record_undelivered, gave_up)
    row = await outbox_row(pool, "k-stuck", "sms")
    assert (row["status"], row["error"]) == ("failed", "gave up: timeout")

    await env.run(messaging.send_client_sms, notice("k-ok"))
    sent = UndeliveredInput(message_key="k-ok", channel="sms", reason="gave up: timeout")
    await env.run(messaging.record_undelivered, sent)
    assert (await outbox_row(pool, "k-ok", "sms"))["status"] == "sent"
