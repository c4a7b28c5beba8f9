"""Builders for the messaging tests: adapters pointed at the fakes, clients, inputs, outbox rows."""

from __future__ import annotations

import socket
from typing import Any

import asyncpg
import httpx
from pydantic import SecretStr

from activities.messaging import SmtpMailer, TwilioSms
from tests.fakes.smtp import SmtpFake
from tests.fakes.twilio import TwilioFake
from workflows.contracts import ClientMessageInput, StaffAlertInput

FROM_NUMBER = "+15555550100"
PHONE = "+15555550123"
EMAIL = "ada@example.com"
STAFF = "manager@example.com"
SENDER = "Punchcard Test Spa <spa@example.com>"


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


def alert() -> StaffAlertInput:
    return StaffAlertInput(
        alert_key="pkg-1/alert/80pct",
        package_id="pkg-1",
        client_id="c-1",
        kind="consumed_80_percent",
        message="Package pkg-1 is 80% consumed.",
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


def closed_port() -> int:
    """A port nothing listens on: bound, read, and released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
