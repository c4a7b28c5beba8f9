"""What every write-back adapter shares: the CRM interface, the fields written, HTTP answers.

A CRM adapter writes one contact's package fields and answers with a `SyncTargetResult`;
only failures worth a retry, or an operator's attention, are raised::

    ApplicationError
    ├── type "<Provider>Unavailable", retryable   429 (carrying next_retry_delay), 408, 5xx,
    │                                              network errors, unreadable answers
    ├── type BAD_CONFIGURATION, non-retryable     401/403: token wrong, expired or missing a scope
    └── (answered, not raised)                    404 → not_linked, any other 4xx → rejected

A 429 sets `next_retry_delay` from `Retry-After` (or the provider's rate-limit window), so
Temporal waits before the next attempt: nothing here ever sleeps.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
from temporalio.exceptions import ApplicationError

from workflows import schedule, texts
from workflows.contracts import PackageSync, SyncStatus, SyncTargetResult
from workflows.policies import BAD_CONFIGURATION

_RETRYABLE_STATUSES = frozenset({408, 425, 429})
_CONFIG_STATUSES = frozenset({401, 403})
_EMAIL = re.compile(r"[^\s<>@\"'/]+@[^\s<>@\"'/]+")
_MAX_DETAIL = 400


@dataclass(frozen=True, kw_only=True)
class CrmContact:
    """Who to write: the CRM's own contact id when linked, else the email to address by."""

    client_id: str
    crm_id: str | None = None
    email: str | None = None


@dataclass(frozen=True, kw_only=True)
class CrmFields:
    """The contact fields Punchcard owns, as the strings CRMs take ("" clears a field)."""

    sessions_remaining: str
    package_name: str
    package_expires: str
    last_session: str
    renewal_link: str
    package_status: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


FIELD_NAMES: tuple[str, ...] = tuple(CrmFields.__dataclass_fields__)


class CrmAdapter(Protocol):
    """One CRM: `name` is the target recorded in `integration_syncs` and in results."""

    @property
    def name(self) -> str: ...

    async def push(self, contact: CrmContact, fields: CrmFields) -> SyncTargetResult:
        """Write `fields` on the contact; answer updated, not_linked or rejected.

        Raises:
            ApplicationError: retryable for transient trouble, BAD_CONFIGURATION for bad auth.
        """
        ...


def crm_fields(sync: PackageSync, zone: ZoneInfo) -> CrmFields:
    """The fields for a package state; dates are days in the spa's zone, money in dollars.

    `package_expires` is the good-through day (what the client's texts say), never the
    date of the exclusive end instant, which is the day after.
    """
    return CrmFields(
        sessions_remaining=remaining_value(sync),
        package_name=sync.name,
        package_expires=good_through_day(sync.expires_at, zone),
        last_session=local_day(sync.last_session_at, zone),
        renewal_link=sync.renewal_url or "",
        package_status=sync.status,
    )


def remaining_value(sync: PackageSync) -> str:
    """Sessions as a whole number; a dollar package's remaining cents as dollars ("350.00")."""
    if sync.kind == "dollars":
        return texts.plain_dollars(sync.remaining)
    return str(sync.remaining)


def good_through_day(expires_at: datetime | None, zone: ZoneInfo) -> str:
    """YYYY-MM-DD of the last day a package ending at `expires_at` is good, or "" for none."""
    if expires_at is None:
        return ""
    return schedule.good_through(_aware(expires_at), zone).isoformat()


def local_day(moment: datetime | None, zone: ZoneInfo) -> str:
    """YYYY-MM-DD in the spa's zone (what staff and clients call the date), or ""."""
    if moment is None:
        return ""
    return _aware(moment).astimezone(zone).date().isoformat()


def _aware(moment: datetime) -> datetime:
    """Timestamps read back without a zone are UTC (how Punchcard stores them)."""
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def answered(target: str, status: SyncStatus, detail: str | None = None) -> SyncTargetResult:
    return SyncTargetResult(target=target, status=status, detail=detail)


# --- HTTP answers --------------------------------------------------------------------


def unavailable_type(provider: str) -> str:
    """The retryable error type of a provider, e.g. "HubSpotUnavailable"."""
    return f"{provider}Unavailable"


async def send(
    http: httpx.AsyncClient, provider: str, method: str, url: str, **options: Any
) -> httpx.Response:
    """One request; a network failure becomes a retryable error naming the provider only."""
    try:
        return await http.request(method, url, **options)
    except httpx.RequestError as err:
        raise ApplicationError(
            f"{provider} unreachable: {type(err).__name__}",
            type=unavailable_type(provider),
            non_retryable=False,
        ) from err


def raise_for_trouble(
    response: httpx.Response,
    provider: str,
    *,
    interval_headers: tuple[str, ...] = (),
    config_hint: str = "",
) -> None:
    """Raise for an answer worth a retry (429, 408, 5xx) or a configuration error (401/403).

    Anything else (2xx, 404, other 4xx) returns, for the adapter to answer.
    """
    status = response.status_code
    if status in _RETRYABLE_STATUSES or status >= 500:
        raise ApplicationError(
            f"{provider} answered {status}: {error_message(response)}",
            {"http_status": status},
            type=unavailable_type(provider),
            non_retryable=False,
            next_retry_delay=retry_delay(response, interval_headers) if status == 429 else None,
        )
    if status in _CONFIG_STATUSES:
        raise ApplicationError(
            f"{provider} refused the credentials ({status}): {error_message(response)}"
            + (f" ({config_hint})" if config_hint else ""),
            {"http_status": status},
            type=BAD_CONFIGURATION,
            non_retryable=True,
        )


def retry_delay(
    response: httpx.Response, interval_headers: tuple[str, ...] = ()
) -> timedelta | None:
    """How long a 429 asks us to wait: `Retry-After` (seconds or a date), else the
    provider's rate-limit window in milliseconds (waiting a whole window is always enough)."""
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
    for name in interval_headers:
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
