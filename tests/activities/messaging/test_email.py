"""The SMTP adapter against a local SMTP server: delivery, stable Message-IDs, refusals."""

from __future__ import annotations

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.messaging import SMTP_UNAVAILABLE, MessagingActivities
from tests.activities.messaging.helpers import (
    EMAIL,
    SENDER,
    add_client,
    closed_port,
    make_mailer,
    notice,
    outbox_row,
)
from tests.fakes.smtp import SmtpFake


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
    assert permanent.value.type == "SmtpRejected" and permanent.value.non_retryable
    assert "gone@example.com" not in permanent.value.message
    assert (await outbox_row(pool, "k-2", "email"))["status"] == "rejected"
    assert (await env.run(messaging.send_client_email, notice())).status == "sent"
    assert len(smtp.messages) == 1


async def test_unreachable_smtp_is_retryable(smtp: SmtpFake) -> None:
    with pytest.raises(ApplicationError) as failed:
        await make_mailer(smtp, port=closed_port()).send(EMAIL, "s", "b", "k")

    assert failed.value.type == SMTP_UNAVAILABLE and not failed.value.non_retryable
