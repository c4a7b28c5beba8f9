"""Messaging activities: client SMS/email and staff email, each recorded in `outbound_messages`.

The row keyed by (message_key, channel) is what makes a send safe to retry: a row already
`sent` answers `already_sent` without sending again, and every outcome (opted out, no
address, not configured, rejected, the last transient error) is written down, so a message
is never silently lost. One side effect per activity: one message on one channel.

Twilio's Messages API takes no idempotency key. So the row is marked `provider_attempted_at`
just before the first call to Twilio, and a later attempt on a row so marked (the answer
timed out, the connection dropped, the worker died mid-call) first looks the text up in
Twilio and records it as sent when it is there, instead of sending it again. What is left
is Twilio's own lag: a message not yet in its list when the retry looks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.messaging.email import SmtpMailer
from activities.messaging.twilio import OPTED_OUT_CODE, TwilioSms
from activities.provider_errors import ProviderError
from workflows.contracts import (
    ClientMessageInput,
    DeliveryResult,
    DeliveryStatus,
    StaffAlertInput,
    UndeliveredInput,
)
from workflows.policies import UNKNOWN_CLIENT

Channel = Literal["sms", "email"]

_SENT = """
SELECT provider_message_id FROM outbound_messages
WHERE message_key = $1 AND channel = $2 AND status = 'sent'
"""

_CLIENT = """
SELECT phone, email, sms_opt_out, email_opt_out FROM clients WHERE client_id = $1
"""

# Both upserts leave a `sent` row alone (no row returned): a concurrent attempt won.
_BEGIN = """
INSERT INTO outbound_messages AS m
    (message_key, channel, client_id, package_id, kind, recipient, subject, body,
     status, attempts)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'sending', 1)
ON CONFLICT (message_key, channel) DO UPDATE SET
    client_id = EXCLUDED.client_id, package_id = EXCLUDED.package_id, kind = EXCLUDED.kind,
    recipient = EXCLUDED.recipient, subject = EXCLUDED.subject, body = EXCLUDED.body,
    status = 'sending', attempts = m.attempts + 1, updated_at = now()
WHERE m.status <> 'sent'
RETURNING m.attempts, m.provider_attempted_at
"""

# Written before the provider is called: from here on the outcome may be unknown.
_MARK_ATTEMPTED = """
UPDATE outbound_messages SET provider_attempted_at = coalesce(provider_attempted_at, now())
WHERE message_key = $1 AND channel = $2 AND status = 'sending'
"""

# A provider id another message already claimed is that message's, never this one's.
_CLAIMED = """
SELECT provider_message_id FROM outbound_messages
WHERE channel = $1 AND provider_message_id = ANY($2::text[]) AND message_key <> $3
"""

_SETTLE = """
INSERT INTO outbound_messages AS m
    (message_key, channel, client_id, package_id, kind, recipient, subject, body,
     status, error)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (message_key, channel) DO UPDATE SET
    client_id = EXCLUDED.client_id, package_id = EXCLUDED.package_id, kind = EXCLUDED.kind,
    recipient = EXCLUDED.recipient, subject = EXCLUDED.subject, body = EXCLUDED.body,
    status = EXCLUDED.status, error = EXCLUDED.error, updated_at = now()
WHERE m.status <> 'sent'
RETURNING m.status
"""

_FINISH = """
UPDATE outbound_messages
SET status = $3, provider_message_id = $4, error = $5, updated_at = now()
WHERE message_key = $1 AND channel = $2 AND status <> 'sent'
"""

_NOTE_ERROR = """
UPDATE outbound_messages SET error = $3, updated_at = now()
WHERE message_key = $1 AND channel = $2 AND status = 'sending'
"""

_SMS_OPT_OUT = """
UPDATE clients SET sms_opt_out = true, updated_at = now() WHERE client_id = $1
"""


@dataclass(frozen=True, kw_only=True)
class _Outgoing:
    """One message on one channel: exactly the columns of its outbound_messages row."""

    message_key: str
    channel: Channel
    client_id: str
    package_id: str
    kind: str
    recipient: str | None
    subject: str | None
    body: str

    @classmethod
    def to_client(cls, input: ClientMessageInput, channel: Channel) -> _Outgoing:
        return cls(
            message_key=input.message_key,
            channel=channel,
            client_id=input.client_id,
            package_id=input.package_id,
            kind=input.kind,
            recipient=None,
            subject=input.subject if channel == "email" else None,
            body=input.body,
        )

    def row(self) -> tuple[str, str, str, str, str, str | None, str | None, str]:
        return (
            self.message_key,
            self.channel,
            self.client_id,
            self.package_id,
            self.kind,
            self.recipient,
            self.subject,
            self.body,
        )


def staff_subject(kind: str) -> str:
    """The subject line of a staff alert, readable in an inbox list."""
    return f"Punchcard staff alert: {kind.replace('_', ' ')}"


def _describe(err: BaseException) -> str:
    if isinstance(err, ApplicationError):
        return f"{err.type or type(err).__name__}: {err.message}"
    return f"{type(err).__name__}: {err}"


class MessagingActivities:
    """SMS and email activities over an outbox table; adapters left as None are not configured."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        sms: TwilioSms | None = None,
        mailer: SmtpMailer | None = None,
        staff_email: str | None = None,
    ) -> None:
        self._pool = pool
        self._sms = sms
        self._mailer = mailer
        self._staff_email = staff_email

    async def send_client_sms(self, input: ClientMessageInput) -> DeliveryResult:
        """Text the client, unless they opted out, have no phone, or SMS is not configured."""
        message = _Outgoing.to_client(input, "sms")
        if done := await self._already_sent(message):
            return done
        client = await self._client(message)
        message = replace(message, recipient=client["phone"])
        if client["sms_opt_out"]:
            return await self._settle(message, "opted_out", "client opted out of SMS")
        phone = message.recipient
        if not phone:
            return await self._settle(message, "no_address", "client has no phone number")
        sms = self._sms
        if sms is None:
            return await self._settle(message, "not_configured", "SMS is not configured")
        try:
            return await self._send(
                message,
                lambda: sms.send(phone, input.body),
                find=lambda since: self._find_sms(sms, message, phone, since),
            )
        except ProviderError as err:
            if err.code == OPTED_OUT_CODE:
                # The client replied STOP to this sender: stop trying, everywhere.
                await self._pool.execute(_SMS_OPT_OUT, input.client_id)
            raise

    async def send_client_email(self, input: ClientMessageInput) -> DeliveryResult:
        """Email the client, unless they opted out, have no address, or email is not configured."""
        message = _Outgoing.to_client(input, "email")
        if done := await self._already_sent(message):
            return done
        client = await self._client(message)
        message = replace(message, recipient=client["email"])
        if client["email_opt_out"]:
            return await self._settle(message, "opted_out", "client opted out of email")
        address = message.recipient
        if not address:
            return await self._settle(message, "no_address", "client has no email address")
        mailer = self._mailer
        if mailer is None:
            return await self._settle(message, "not_configured", "email is not configured")
        return await self._send(
            message, lambda: mailer.send(address, input.subject, input.body, input.message_key)
        )

    async def send_staff_email(self, input: StaffAlertInput) -> DeliveryResult:
        """Email the staff address about an alert, or record it as not configured."""
        message = _Outgoing(
            message_key=input.alert_key,
            channel="email",
            client_id=input.client_id,
            package_id=input.package_id,
            kind=input.kind,
            recipient=self._staff_email,
            subject=staff_subject(input.kind),
            body=input.message,
        )
        if done := await self._already_sent(message):
            return done
        mailer, address = self._mailer, self._staff_email
        if mailer is None or not address:
            return await self._settle(message, "not_configured", "staff email is not configured")
        # Namespaced so a staff alert never shares a Message-ID with a client notice.
        message_id = f"staff/{input.alert_key}"
        return await self._send(
            message,
            lambda: mailer.send(address, staff_subject(input.kind), input.message, message_id),
        )

    async def record_undelivered(self, input: UndeliveredInput) -> None:
        """Close the row of a message whose retries ran out, so it never reads `sending`."""
        await self._pool.execute(
            _FINISH, input.message_key, input.channel, "failed", None, input.reason
        )

    # --- the outbox -------------------------------------------------------------------

    async def _already_sent(self, message: _Outgoing) -> DeliveryResult | None:
        row = await self._pool.fetchrow(_SENT, message.message_key, message.channel)
        if row is None:
            return None
        return self._result(message, "already_sent", provider_message_id=row[0])

    async def _client(self, message: _Outgoing) -> asyncpg.Record:
        """The client's contact row; an unknown client is recorded and fails for good."""
        client = await self._pool.fetchrow(_CLIENT, message.client_id)
        if client is not None:
            return client
        error = ApplicationError(
            f"unknown client {message.client_id}", type=UNKNOWN_CLIENT, non_retryable=True
        )
        await self._settle(message, "rejected", _describe(error))
        raise error

    async def _settle(
        self, message: _Outgoing, status: DeliveryStatus, detail: str
    ) -> DeliveryResult:
        """Record an outcome that needs no send (opted out, no address, not configured)."""
        error = detail if status == "rejected" else None
        recorded = await self._pool.fetchval(_SETTLE, *message.row(), status, error)
        if recorded is None:
            return self._result(message, "already_sent")
        return self._result(message, status, detail=detail)

    async def _find_sms(
        self, sms: TwilioSms, message: _Outgoing, phone: str, since: datetime
    ) -> str | None:
        """The SID of this text in Twilio, sent since `since` and claimed by no other notice."""
        provider_ids = await sms.find_sent(phone, message.body, since=since)
        if not provider_ids:
            return None
        rows = await self._pool.fetch(_CLAIMED, message.channel, provider_ids, message.message_key)
        claimed = {row[0] for row in rows}
        return next((pid for pid in provider_ids if pid not in claimed), None)

    async def _send(
        self,
        message: _Outgoing,
        deliver: Callable[[], Awaitable[str]],
        *,
        find: Callable[[datetime], Awaitable[str | None]] | None = None,
    ) -> DeliveryResult:
        """Mark the row `sending`, call the provider once, and record what happened.

        With `find`, a row an earlier attempt already took to the provider is first looked
        up there (from that attempt's time on), and recorded as sent when it is found.
        """
        key, channel = message.message_key, message.channel
        begun = await self._pool.fetchrow(_BEGIN, *message.row())
        if begun is None:
            return await self._already_sent(message) or self._result(message, "already_sent")
        attempts, attempted_at = begun["attempts"], begun["provider_attempted_at"]
        try:
            if find is not None and attempted_at is not None:
                if found := await find(attempted_at):
                    await self._pool.execute(_FINISH, key, channel, "sent", found, None)
                    activity.logger.info(
                        "%s %s found already sent as %s (attempt %s)", channel, key, found, attempts
                    )
                    return self._result(message, "sent", provider_message_id=found)
            await self._pool.execute(_MARK_ATTEMPTED, key, channel)
            provider_id = await deliver()
        except ApplicationError as err:
            if err.non_retryable:
                await self._pool.execute(_FINISH, key, channel, "rejected", None, _describe(err))
                activity.logger.warning("%s %s rejected: %s", channel, key, err.type)
            else:
                await self._pool.execute(_NOTE_ERROR, key, channel, _describe(err))
                activity.logger.info(
                    "%s %s attempt %s failed: %s", channel, key, attempts, err.type
                )
            raise
        except Exception as err:
            await self._pool.execute(_NOTE_ERROR, key, channel, _describe(err))
            raise
        await self._pool.execute(_FINISH, key, channel, "sent", provider_id, None)
        activity.logger.info("%s %s sent as %s", channel, key, provider_id)
        return self._result(message, "sent", provider_message_id=provider_id)

    @staticmethod
    def _result(
        message: _Outgoing,
        status: DeliveryStatus,
        *,
        provider_message_id: str | None = None,
        detail: str | None = None,
    ) -> DeliveryResult:
        return DeliveryResult(
            status=status,
            channel=message.channel,
            provider_message_id=provider_message_id,
            detail=detail,
        )
