"""Fixtures for the messaging tests: one HTTP client, and the activities wired to the fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from activities.messaging import MessagingActivities
from tests.activities.messaging.helpers import STAFF, make_mailer, make_sms
from tests.fakes.smtp import SmtpFake
from tests.fakes.twilio import TwilioFake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture
def messaging(
    pool: asyncpg.Pool, http: httpx.AsyncClient, twilio: TwilioFake, smtp: SmtpFake
) -> MessagingActivities:
    return MessagingActivities(
        pool=pool, sms=make_sms(http, twilio), mailer=make_mailer(smtp), staff_email=STAFF
    )
