"""Send plain-text email over SMTP (aiosmtplib), turning SMTP replies into typed failures.

SMTP says itself which failures are worth another try: 4xx replies are temporary, 5xx
are permanent. The failure is `activities.provider_errors.ProviderError` like every other
provider's (its `code` the SMTP reply code); SMTP is no HTTP, so the kind comes from the
reply code here, not from `from_response`::

    type "SmtpUnavailable", retryable       connection refused/lost, timeouts, 4xx
    type BAD_CONFIGURATION, non-retryable   authentication refused, STARTTLS missing
    type "SmtpRejected", non-retryable      5xx: recipient, sender or data refused

Each message gets a Message-ID derived from the caller's message key, so a resend after
an ambiguous failure carries the same id and mail systems (and people) can spot it.
Error texts are scrubbed of email addresses; the password never leaves the connection.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import aiosmtplib
from pydantic import SecretStr

from activities.provider_errors import Kind, ProviderError, unavailable_type

PROVIDER = "Smtp"
SMTP_UNAVAILABLE = unavailable_type(PROVIDER)
IMPLICIT_TLS_PORT = 465

_ADDRESS = re.compile(r"[^\s<>@\"']+@[^\s<>@\"']+")
_MISSING_EXTENSION = re.compile(r"STARTTLS|AUTH|authentication method", re.IGNORECASE)


def redact_addresses(text: str) -> str:
    """Hide email addresses (SMTP servers echo them in refusals) before storing or logging."""
    return _ADDRESS.sub("[address]", text)


def message_id_for(message_key: str, sender: str) -> str:
    """A stable Message-ID for a business message key, in the sender's domain."""
    digest = hashlib.sha256(message_key.encode()).hexdigest()[:32]
    _, address = parseaddr(sender)
    domain = address.rpartition("@")[2] or "punchcard.invalid"
    return f"<{digest}.punchcard@{domain}>"


@dataclass(frozen=True)
class Attachment:
    """A file after the body; with a `content_id`, a part of the HTML body instead (an
    image the HTML shows as `<img src="cid:{content_id}">`, in multipart/related)."""

    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"
    content_id: str | None = None


class SmtpMailer:
    """The email adapter: one SMTP session per message, so no connection outlives a send."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str | None = None,
        password: SecretStr | None = None,
        starttls: bool = True,
        sender: str,
        timeout: float = 20.0,
    ) -> None:
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._starttls = starttls
        self._sender = sender
        self._timeout = timeout

    async def send(
        self,
        to: str,
        subject: str,
        body: str,
        message_id: str,
        *,
        html: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> str:
        """Send an email; returns the Message-ID header it carried.

        Args:
            to: the recipient address.
            subject: the subject line.
            body: the plain-text body.
            message_id: the business key of this message; the Message-ID derives from it.
            html: an HTML alternative of the body, for mail clients that show it.
            attachments: files attached after the body (e.g. a report's CSV); those with a
                `content_id` go with the HTML body (multipart/related), shown inline.

        Raises:
            ProviderError: retryable for transient trouble, non-retryable otherwise.
        """
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = message_id_for(message_id, self._sender)
        message.set_content(body)
        if html is not None:
            message.add_alternative(html, subtype="html")
            html_part = message.get_body(("html",))
            assert html_part is not None  # just added
            for image in (a for a in attachments if a.content_id):
                maintype, _, subtype = image.mime_type.partition("/")
                html_part.add_related(
                    image.content,
                    maintype=maintype,
                    subtype=subtype or "octet-stream",
                    cid=f"<{image.content_id}>",
                    filename=image.filename,
                    disposition="inline",
                )
        for attachment in (a for a in attachments if not a.content_id or html is None):
            maintype, _, subtype = attachment.mime_type.partition("/")
            message.add_attachment(
                attachment.content,
                maintype=maintype,
                subtype=subtype or "octet-stream",
                filename=attachment.filename,
            )
        implicit_tls = self._port == IMPLICIT_TLS_PORT
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password.get_secret_value() if self._password else None,
                use_tls=implicit_tls,
                start_tls=self._starttls and not implicit_tls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPException as err:
            raise _error_for(err) from err
        except OSError as err:
            raise ProviderError(
                PROVIDER, f"SMTP server unreachable: {type(err).__name__}", kind="unavailable"
            ) from err
        return str(message["Message-ID"])


def _error_for(err: aiosmtplib.SMTPException) -> ProviderError:
    """Classify an aiosmtplib failure by its reply code (4xx temporary, 5xx permanent)."""
    if isinstance(err, aiosmtplib.SMTPRecipientsRefused) and err.recipients:
        # One recipient per message: its refusal is the answer.
        err = err.recipients[0]
    if isinstance(err, aiosmtplib.SMTPResponseException):
        text = f"SMTP {err.code}: {redact_addresses(err.message)}"
        kind: Kind = "unavailable"
        if 500 <= err.code < 600:
            auth = isinstance(err, aiosmtplib.SMTPAuthenticationError)
            kind = "configuration" if auth else "rejected"
        return ProviderError(PROVIDER, text, kind=kind, code=err.code)
    text = f"SMTP {type(err).__name__}: {redact_addresses(str(err))}"
    if isinstance(err, aiosmtplib.SMTPNotSupported):
        # e.g. an internationalised address on a server without SMTPUTF8: this message only.
        return ProviderError(PROVIDER, text, kind="rejected")
    if _MISSING_EXTENSION.search(str(err)):
        # STARTTLS or AUTH required by our settings but not offered: retrying cannot help.
        return ProviderError(PROVIDER, text, kind="configuration")
    return ProviderError(PROVIDER, text, kind="unavailable")
