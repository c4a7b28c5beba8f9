"""Provider failures, one way for every adapter: what a provider's answer means for retries.

Every adapter (SMS, email, CRM, booking platforms, payments, lifecycle webhooks, reporting)
sends through `send` and turns a failed answer into a `ProviderError` with
`from_response`; only failures worth a retry, or an operator's attention, are raised::

    ProviderError (an ApplicationError: Temporal's retry policy reads its type)
    ├── type "<Provider>Unavailable", retryable   408, 425, 429, 5xx, network errors,
    │                                              unreadable answers; a 429 (or 503) carries
    │                                              next_retry_delay from `retry_after`
    ├── type BAD_CONFIGURATION, non-retryable     401/403: credentials wrong, expired or
    │                                              missing a scope
    └── type "<Provider>Rejected", non-retryable  any other 4xx: this request will never
                                                   succeed as it stands (the adapter may
                                                   answer it instead, e.g. 404 → not linked)

A delay comes from `Retry-After` (seconds or an HTTP date), else the provider's own
rate-limit window header, so Temporal waits before the next attempt: nothing here sleeps.
Messages carry the provider's own words, scrubbed of email addresses and cut short, so
they can be stored and logged.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
from temporalio.exceptions import ApplicationError

from workflows.policies import BAD_CONFIGURATION

RETRYABLE_STATUSES = frozenset({408, 425, 429})
CONFIG_STATUSES = frozenset({401, 403})
_EMAIL = re.compile(r"[^\s<>@\"'/]+@[^\s<>@\"'/]+")
_MAX_DETAIL = 400

Kind = Literal["unavailable", "configuration", "rejected"]


class ProviderError(ApplicationError):
    """A provider's failure, typed for Temporal's retry policy (see the module tree)."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        kind: Kind,
        http_status: int | None = None,
        code: str | int | None = None,
        next_retry_delay: timedelta | None = None,
        type: str | None = None,
    ) -> None:
        super().__init__(
            message,
            {"provider": provider, "http_status": http_status, "code": code},
            # `type`: an older name callers match on (PROVIDER_REJECTED), same retry meaning.
            type=type or error_type(provider, kind),
            non_retryable=kind != "unavailable",
            next_retry_delay=next_retry_delay,
        )
        self.provider = provider
        self.kind = kind
        self.http_status = http_status
        self.code = code


def error_type(provider: str, kind: Kind) -> str:
    """ "HubSpotUnavailable", "SquareRejected", or BAD_CONFIGURATION."""
    if kind == "configuration":
        return BAD_CONFIGURATION
    return f"{provider}{'Unavailable' if kind == 'unavailable' else 'Rejected'}"


def unavailable_type(provider: str) -> str:
    """The retryable error type of a provider, e.g. "HubSpotUnavailable"."""
    return error_type(provider, "unavailable")


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


async def send(
    http: httpx.AsyncClient, provider: str, method: str, url: str, **options: Any
) -> httpx.Response:
    """One request; a network failure becomes a retryable error naming the provider only."""
    try:
        return await http.request(method, url, **options)
    except httpx.RequestError as err:
        raise ProviderError(
            provider, f"{provider} unreachable: {type(err).__name__}", kind="unavailable"
        ) from err


def from_response(
    response: httpx.Response,
    provider: str,
    *,
    message: str | None = None,
    code: str | int | None = None,
    window_headers: tuple[str, ...] = (),
    config_hint: str = "",
) -> ProviderError:
    """The error a failed (non-2xx) answer stands for; `message`/`code` when the adapter
    read them from the body itself (default: `error_message`)."""
    status = response.status_code
    words = message or error_message(response)
    if is_retryable_status(status):
        delay = retry_after(response, window_headers) if status in (429, 503) else None
        return ProviderError(
            provider,
            f"{provider} answered {status}: {words}",
            kind="unavailable",
            http_status=status,
            code=code,
            next_retry_delay=delay,
        )
    if status in CONFIG_STATUSES:
        hint = f" ({config_hint})" if config_hint else ""
        return ProviderError(
            provider,
            f"{provider} refused the credentials ({status}): {words}{hint}",
            kind="configuration",
            http_status=status,
            code=code,
        )
    return ProviderError(
        provider,
        f"{provider} refused the request ({status}): {words}",
        kind="rejected",
        http_status=status,
        code=code,
    )


def raise_for_trouble(
    response: httpx.Response,
    provider: str,
    *,
    window_headers: tuple[str, ...] = (),
    config_hint: str = "",
) -> None:
    """Raise for an answer worth a retry or a configuration error; anything else (2xx,
    404, other 4xx) returns, for the adapter to answer."""
    status = response.status_code
    if is_retryable_status(status) or status in CONFIG_STATUSES:
        raise from_response(
            response, provider, window_headers=window_headers, config_hint=config_hint
        )


def retry_after(response: httpx.Response, window_headers: tuple[str, ...] = ()) -> timedelta | None:
    """How long the provider asks us to wait: `Retry-After` (seconds or a date), else its
    rate-limit window in milliseconds (waiting a whole window is always enough)."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    if value:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(timedelta(0), when - datetime.now(UTC))
    for name in window_headers:
        millis = response.headers.get(name, "").strip()
        if millis.isdigit():
            return timedelta(milliseconds=int(millis))
    return None


def error_message(response: httpx.Response) -> str:
    """The provider's own words (`message`, `error.message`, `Error.Message`, GraphQL
    `errors[].message`), scrubbed of email addresses and cut short for storing."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    text = _message_in(body) or response.text.strip() or response.reason_phrase or "no body"
    return scrub(text)


def scrub(text: str) -> str:
    """Hide email addresses (providers echo them) and cap the length, so a detail can be
    stored and logged."""
    text = _EMAIL.sub("[email]", text)
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _message_in(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    message = body.get("message")
    if isinstance(message, list):
        message = "; ".join(str(part) for part in message)
    if isinstance(message, str) and message:
        return message
    for key in ("error", "Error"):
        nested = body.get(key)
        if isinstance(nested, dict):
            found = nested.get("message") or nested.get("Message")
            if isinstance(found, str) and found:
                return found
        elif isinstance(nested, str) and nested:
            return nested
    errors = body.get("errors")
    if isinstance(errors, list):
        texts = [e.get("message") for e in errors if isinstance(e, dict)]
        joined = "; ".join(t for t in texts if isinstance(t, str))
        return joined or None
    return None
