"""Outbound lifecycle webhooks: the payload, its signature, and one HTTP POST per subscriber.

Signed the way Stripe signs its webhooks, so subscribers can reuse code they know::

    Punchcard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{raw body}")>
    Punchcard-Event-Id: <event id, stable across retries>
    Punchcard-Event-Type: package.redeemed

The key is the shared secret's UTF-8 bytes; the body is compact JSON
`{"id", "type", "created", "data"}`, byte-for-byte the same on every retry (only `t`
changes). `verify_signature` is the receiving side, for subscribers and tests.

A subscriber's answer decides what happens next (`Attempt.outcome`):

    delivered   2xx
    failed      network error, timeout, 408, 429, 5xx — retried (Retry-After honoured)
    rejected    any other answer (3xx, 4xx) — recorded, never retried for this event
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from activities.provider_errors import ProviderError, is_retryable_status, retry_after, send
from workflows import schedule
from workflows.models import LifecycleEvent

SIGNATURE_HEADER = "Punchcard-Signature"
EVENT_ID_HEADER = "Punchcard-Event-Id"
EVENT_TYPE_HEADER = "Punchcard-Event-Type"
SCHEME = "v1"
DEFAULT_TOLERANCE = 300  # seconds
USER_AGENT = "Punchcard-Webhooks/1.0"
MAX_RETRY_AFTER = timedelta(hours=1)
PROVIDER = "Subscriber"

Outcome = Literal["delivered", "failed", "rejected"]


def compute_signature(timestamp: int, body: bytes, secret: str) -> str:
    """The v1 signature: hex HMAC-SHA256 of `b"{t}." + body`, keyed by the secret's UTF-8."""
    signed = f"{timestamp}.".encode("ascii") + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secret: str, timestamp: int) -> str:
    return f"t={timestamp},{SCHEME}={compute_signature(timestamp, body, secret)}"


def verify_signature(
    body: bytes,
    header: str | None,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> bool:
    """Whether `header` (a `Punchcard-Signature` value) signs `body` under `secret`.

    Args:
        body: the raw request bytes, not re-serialised JSON.
        header: the header value; several `v1=` entries may appear while a secret rotates.
        secret: the shared secret (PUNCHCARD_EVENT_WEBHOOK_SECRET).
        tolerance: seconds `t` may differ from now, either way; 0 turns the check off.
        now: the current Unix time, for tests.
    """
    if not header or not secret:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and timestamp is None:
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == SCHEME and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if tolerance and abs(current - timestamp) > tolerance:
        return False
    expected = compute_signature(timestamp, body, secret).encode("ascii")
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8"))
    return matched


# The public format: fields are listed, not dumped, so an internal snapshot field never
# reaches subscribers by accident; new fields are only ever added.
PACKAGE_FIELDS = (
    "package_id",
    "client_id",
    "type_code",
    "name",
    "kind",
    "status",
    "remaining",
    "purchased_units",
    "paid_cents",
    "unused_value_cents",
    "refund_due_cents",
    "purchased_at",
    "expires_at",
    "parent_purchase_id",
    "pace_at_risk",
)
ENTRY_FIELDS = (
    "occurred_at",
    "entry_seq",
    "appointment_id",
    "units_delta",
    "value_cents",
    "renews_package_id",
)


def event_payload(event: LifecycleEvent, *, timezone: str | tzinfo) -> dict[str, Any]:
    """The JSON subscribers receive: the package balance and the entry that changed it.

    `expires_at` is the instant the package ends (exclusive, the local midnight after its
    last day); `expires_on` is that last day, `YYYY-MM-DD` in the spa's `timezone`, the
    good-through day the client is told. No names, phones or emails: the package is named
    by ids, the client by `client_id`.
    """
    dumped = event.model_dump(mode="json")
    data = {name: dumped["package"][name] for name in PACKAGE_FIELDS}
    expires_at = event.package.expires_at
    data["expires_on"] = (
        None if expires_at is None else schedule.good_through(expires_at, timezone).isoformat()
    )
    data.update((name, dumped[name]) for name in ENTRY_FIELDS)
    return {
        "id": event.event_id,
        "type": event.type,
        "created": int(event.occurred_at.timestamp()),
        "data": data,
    }


def event_body(event: LifecycleEvent, *, timezone: str | tzinfo) -> bytes:
    """The exact bytes posted (and signed): compact JSON, identical on every retry."""
    payload = event_payload(event, timezone=timezone)
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def parse_urls(value: str) -> list[str]:
    """PUNCHCARD_EVENT_WEBHOOK_URLS: comma-separated http(s) URLs, duplicates dropped.

    Raises:
        ValueError: naming an entry that is not an absolute http(s) URL.
    """
    urls: list[str] = []
    for item in value.split(","):
        url = item.strip()
        if not url:
            continue
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"event webhook URL {display_url(url)!r} is not an http(s) URL")
        if url not in urls:
            urls.append(url)
    return urls


def display_url(url: str) -> str:
    """The URL without credentials or query string (which often carry a token), for errors."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """What one subscriber answered to one POST."""

    url: str
    outcome: Outcome
    http_status: int | None = None
    error: str | None = None
    retry_after: timedelta | None = None


class WebhookPublisher:
    """Posts signed events to the configured subscribers over a shared `httpx.AsyncClient`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        urls: Sequence[str],
        secret: SecretStr | None,
        timezone: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if urls and (secret is None or not secret.get_secret_value()):
            # Unsigned events could be forged by anyone who finds the URL: refuse at start-up.
            raise ValueError(
                "PUNCHCARD_EVENT_WEBHOOK_URLS is set but PUNCHCARD_EVENT_WEBHOOK_SECRET is not"
            )
        self._http = http
        self._urls = list(urls)
        self._secret = secret
        self._clock = clock
        self._zone = schedule.zone(timezone)

    @property
    def urls(self) -> list[str]:
        return list(self._urls)

    def body(self, event: LifecycleEvent) -> bytes:
        """`event_body` with dates in the spa's zone (PUNCHCARD_SPA_TIMEZONE)."""
        return event_body(event, timezone=self._zone)

    async def deliver(self, url: str, event: LifecycleEvent, body: bytes) -> Attempt:
        """POST `body` (from `event_body(event)`) to `url`, signed now; never raises for HTTP."""
        assert self._secret is not None
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: event.event_id,
            EVENT_TYPE_HEADER: event.type,
            SIGNATURE_HEADER: signature_header(
                body, self._secret.get_secret_value(), int(self._clock())
            ),
        }
        try:
            response = await send(self._http, PROVIDER, "POST", url, content=body, headers=headers)
        except ProviderError as err:  # network trouble: retried, like a 5xx
            return Attempt(url=url, outcome="failed", error=err.message)
        status = response.status_code
        answer = f"HTTP {status} {response.reason_phrase}".strip()
        if response.is_success:
            return Attempt(url=url, outcome="delivered", http_status=status)
        if is_retryable_status(status):
            return Attempt(
                url=url,
                outcome="failed",
                http_status=status,
                error=answer,
                retry_after=_capped(retry_after(response)),
            )
        return Attempt(url=url, outcome="rejected", http_status=status, error=answer)


def _capped(delay: timedelta | None) -> timedelta | None:
    """A subscriber's Retry-After, capped so one endpoint cannot stall for days."""
    return None if delay is None else min(delay, MAX_RETRY_AFTER)
