"""Send SMS through Twilio's Messages REST API, turning its answers into typed failures.

Temporal retries whatever is not marked non-retryable, so the adapter's whole job beyond
the POST is to say which failures are worth another try, as `activities.provider_errors`
does for every provider (`ProviderError`, its `code` Twilio's error code)::

    type "TwilioUnavailable", retryable      408, 425, 429 (after its Retry-After), 5xx,
                                             network errors, timeouts, unreadable answers
    type BAD_CONFIGURATION, non-retryable    401/403 (20003), 404 (wrong account SID)
    type "TwilioRejected", non-retryable     any other 4xx: 21211, 21610, 21608, …

Twilio's Messages API takes no idempotency key, so when an attempt's answer is lost (a
timeout, a dropped connection, a worker killed mid-call) the message may exist or not.
`find_sent` asks the Messages list before a retry re-sends: see its docstring for how
narrowly it matches.
Error texts are scrubbed of phone numbers (Twilio echoes the `To` number) and never
carry the auth token.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import SecretStr

from activities.provider_errors import ProviderError, from_response, send, unavailable_type

PROVIDER = "Twilio"
TWILIO_UNAVAILABLE = unavailable_type(PROVIDER)
OPTED_OUT_CODE = 21610  # the recipient replied STOP to this sender
AUTH_FAILED_CODE = 20003

_PHONE = re.compile(r"\+?\d[\d\s().-]{5,}\d")
# Twilio's clock against ours: how much earlier than our first attempt a match may be dated.
CLOCK_SLACK = timedelta(minutes=5)
LOOKUP_PAGE_SIZE = 50
LOOKUP_MAX_PAGES = 4
# Created but never sent out: re-sending cannot double what the client received.
_NOT_SENT_STATUSES = frozenset({"failed", "canceled"})


def redact_phones(text: str) -> str:
    """Hide anything that looks like a phone number, so errors can be logged and stored."""
    return _PHONE.sub("[phone]", text)


class TwilioSms:
    """The SMS adapter: one POST per message, from a number or a Messaging Service."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str,
        account_sid: str,
        auth_token: SecretStr,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
    ) -> None:
        if not from_number and not messaging_service_sid:
            # Every send would fail with 21603; refuse at start-up instead of per message.
            raise ValueError("Twilio needs a from number or a messaging service SID")
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._url = f"{self._base_url}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = httpx.BasicAuth(account_sid, auth_token.get_secret_value())
        self._from_number = from_number
        self._messaging_service_sid = messaging_service_sid

    async def send(self, to: str, body: str, *, status_callback: str | None = None) -> str:
        """Ask Twilio to send `body` to `to` (E.164); returns the message SID (`SM…`).

        Raises:
            ProviderError: retryable for transient trouble, non-retryable otherwise.
        """
        form = {"To": to, "Body": body}
        # A Messaging Service is preferred: it is what enables Advanced Opt-Out.
        if self._messaging_service_sid:
            form["MessagingServiceSid"] = self._messaging_service_sid
        elif self._from_number:
            form["From"] = self._from_number
        if status_callback:
            form["StatusCallback"] = status_callback
        response = await send(self._http, PROVIDER, "POST", self._url, data=form, auth=self._auth)
        if response.is_success:
            return _message_sid(response)
        raise _error_for(response)

    async def find_sent(self, to: str, body: str, *, since: datetime) -> list[str]:
        """SIDs of messages this sender created for `to` with exactly `body` since `since`.

        For a retry whose previous attempt's answer was lost: the Messages list filtered by
        `To`, by `From` (not with a Messaging Service, which picks its sender itself: its
        SID is matched instead) and by `DateSent>` (on or after that UTC day, as
        twilio-python sends it, so a message created just before midnight and sent after
        it is still listed). A message still queued has no `date_sent` and matches no
        date filter, so when the dated list finds nothing the undated one is read too.
        Matching is narrow on purpose (a client may get the same text twice on purpose):
        same `to`, same sender, same body, outbound, created no earlier than `since` less
        `CLOCK_SLACK`, not failed or canceled. Oldest first.

        Raises:
            ProviderError: retryable when the list cannot be read now, so nothing is re-sent
                blind; non-retryable for bad credentials.
        """
        earliest = since.astimezone(UTC) - CLOCK_SLACK
        base: dict[str, str] = {"To": to, "PageSize": str(LOOKUP_PAGE_SIZE)}
        if not self._messaging_service_sid and self._from_number:
            base["From"] = self._from_number
        dated = {**base, "DateSent>": earliest.date().isoformat()}
        for params in (dated, base):
            found: dict[str, datetime] = {}
            async for message in self._list(params):
                created = self._match(message, to, body, earliest)
                if created is not None:
                    found[str(message["sid"])] = created
            if found:
                return sorted(found, key=lambda sid: found[sid])
        return []

    async def _list(self, params: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        """The messages of up to LOOKUP_MAX_PAGES pages, following `next_page_uri`."""
        url: str | None = self._url
        query: dict[str, str] | None = params
        for _ in range(LOOKUP_MAX_PAGES):
            if url is None:
                return
            response = await send(self._http, PROVIDER, "GET", url, params=query, auth=self._auth)
            if not response.is_success:
                raise _error_for(response)
            try:
                data: Any = response.json()
            except ValueError:
                data = None
            if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
                raise ProviderError(
                    PROVIDER,
                    "Twilio's message list answered without a messages array",
                    kind="unavailable",
                    http_status=response.status_code,
                )
            for message in data["messages"]:
                if isinstance(message, dict):
                    yield message
            next_page = data.get("next_page_uri")
            url = f"{self._base_url}{next_page}" if isinstance(next_page, str) else None
            query = None  # the next page's URI carries the filters

    def _match(
        self, message: dict[str, Any], to: str, body: str, earliest: datetime
    ) -> datetime | None:
        """When the listed message is ours, its creation time; otherwise None."""
        if message.get("to") != to or message.get("body") != body:
            return None
        if not str(message.get("direction", "")).startswith("outbound"):
            return None
        if message.get("status") in _NOT_SENT_STATUSES or not message.get("sid"):
            return None
        if self._messaging_service_sid:
            if message.get("messaging_service_sid") != self._messaging_service_sid:
                return None
        elif message.get("from") != self._from_number:
            return None
        created = _parse_date(message.get("date_created"))
        if created is None or created < earliest:
            return None
        return created


def _parse_date(value: Any) -> datetime | None:
    """Twilio's RFC 2822 timestamps ("Thu, 01 Jan 2026 15:00:00 +0000")."""
    if not isinstance(value, str):
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _message_sid(response: httpx.Response) -> str:
    try:
        data: Any = response.json()
    except ValueError:
        data = None
    sid = data.get("sid") if isinstance(data, dict) else None
    if not isinstance(sid, str) or not sid:
        raise ProviderError(
            PROVIDER,
            f"Twilio answered {response.status_code} without a message sid",
            kind="unavailable",
            http_status=response.status_code,
        )
    return sid


def _error_for(response: httpx.Response) -> ProviderError:
    """Map an error answer (`{"code", "message", "more_info", "status"}`) to a typed failure:
    `from_response`'s, except that a 404 (a wrong account SID in the URL) and 20003 are
    configuration errors."""
    status = response.status_code
    code, message = _parse_error_body(response)
    words = f"error {code}: {redact_phones(message)}"
    if status == 404 or code == AUTH_FAILED_CODE:
        return ProviderError(
            PROVIDER,
            f"Twilio refused the credentials ({status}): {words}",
            kind="configuration",
            http_status=status,
            code=code,
        )
    return from_response(response, PROVIDER, message=words, code=code)


def _parse_error_body(response: httpx.Response) -> tuple[int | None, str]:
    try:
        data: Any = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return None, response.reason_phrase or "no error body"
    code = data.get("code")
    message = data.get("message")
    return (
        code if isinstance(code, int) else None,
        message if isinstance(message, str) else response.reason_phrase,
    )
