"""Hand lifecycle metrics to Klaviyo through its Events API, for spas whose flows message clients.

    POST {base}/api/events   Authorization: Klaviyo-API-Key <private key>
                             revision: <YYYY-MM-DD>      (required; configurable)
                             Content-Type: application/vnd.api+json

The JSON:API body names the metric ("Punchcard Session Completed", …), the profile (email,
phone number, our client id as `external_id`, and the properties a flow needs) and a
`unique_id`: our notice key. Klaviyo records only the first event of a profile and metric
with a given `unique_id`, so re-sending after a lost answer cannot double a flow. A
success is 202 with no body. Failures follow `activities.provider_errors`: 429 (with
`Retry-After`) and 5xx are retried, 401/403 are a configuration error, any other 4xx
(`{"errors": [{"code", "title", "detail", "source"}]}`) is refused for good.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx
from pydantic import SecretStr

from activities.messaging.twilio import redact_phones
from activities.provider_errors import from_response, scrub, send

PROVIDER = "Klaviyo"
DEFAULT_REVISION = "2026-07-15"
JSON_API = "application/vnd.api+json"

# Notice kinds Klaviyo gets a metric for; other notices (refunds, corrections, top-ups,
# purchases, pace nudges) stay with Punchcard's own SMS/email.
METRICS: dict[str, str] = {
    "confirmation": "Punchcard Session Completed",
    "two_left": "Punchcard Balance Low",
    "one_left": "Punchcard Balance Low",
    "low_balance": "Punchcard Balance Low",
    "reminder": "Punchcard Package Expiring",
    "expired": "Punchcard Package Expired",
    "renewal": "Punchcard Package Renewed",
}


@dataclass(frozen=True, kw_only=True)
class KlaviyoProfile:
    """Who the event is about; Klaviyo needs at least one identifier (external_id always is)."""

    external_id: str
    email: str | None = None
    phone_number: str | None = None  # E.164
    properties: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class KlaviyoEvent:
    metric: str
    unique_id: str
    profile: KlaviyoProfile
    properties: dict[str, Any]
    time: datetime | None = None  # None: when Klaviyo receives it


def event_body(event: KlaviyoEvent) -> dict[str, Any]:
    """The Create Event request body (JSON:API)."""
    profile: dict[str, Any] = {"external_id": event.profile.external_id}
    if event.profile.email:
        profile["email"] = event.profile.email
    if event.profile.phone_number:
        profile["phone_number"] = event.profile.phone_number
    profile["properties"] = _plain(event.profile.properties)
    attributes: dict[str, Any] = {
        "properties": _plain(event.properties),
        "unique_id": event.unique_id,
        "metric": {"data": {"type": "metric", "attributes": {"name": event.metric}}},
        "profile": {"data": {"type": "profile", "attributes": profile}},
    }
    if event.time is not None:
        attributes["time"] = event.time.isoformat()
    return {"data": {"type": "event", "attributes": attributes}}


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Dates as ISO strings (Klaviyo reads ISO 8601 dates as dates in flows and segments)."""
    return {
        key: value.isoformat() if isinstance(value, (date, datetime)) else value
        for key, value in values.items()
    }


class KlaviyoEvents:
    """The Events API adapter: one POST per event."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str,
        private_key: SecretStr,
        revision: str = DEFAULT_REVISION,
    ) -> None:
        self._http = http
        self._url = f"{base_url.rstrip('/')}/api/events"
        self._key = private_key
        self._revision = revision

    async def create(self, event: KlaviyoEvent) -> None:
        """Submit one event; returns once Klaviyo accepted it (202).

        Raises:
            ProviderError: "KlaviyoUnavailable" (retryable; a 429 carries Retry-After as
                next_retry_delay), BAD_CONFIGURATION for a refused key, "KlaviyoRejected"
                for any other refusal.
        """
        response = await send(
            self._http,
            PROVIDER,
            "POST",
            self._url,
            json=event_body(event),
            headers={
                "Authorization": f"Klaviyo-API-Key {self._key.get_secret_value()}",
                "revision": self._revision,
                "Content-Type": JSON_API,
                "Accept": JSON_API,
            },
        )
        if response.is_success:
            return
        raise from_response(
            response,
            PROVIDER,
            message=_error_detail(response),
            code=_error_code(response),
            config_hint="PUNCHCARD_KLAVIYO_PRIVATE_KEY needs the events:write scope",
        )


def _errors(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        body: Any = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _error_detail(response: httpx.Response) -> str | None:
    """Klaviyo's JSON:API errors: `title: detail (source.pointer)`, joined."""
    parts = []
    for error in _errors(response):
        text = str(error.get("detail") or error.get("title") or "")
        source = error.get("source")
        pointer = source.get("pointer") if isinstance(source, dict) else None
        if pointer:
            text += f" ({pointer})"
        if text:
            parts.append(text)
    return redact_phones(scrub("; ".join(parts))) if parts else None


def _error_code(response: httpx.Response) -> str | None:
    codes = [str(e["code"]) for e in _errors(response) if e.get("code")]
    return codes[0] if codes else None
