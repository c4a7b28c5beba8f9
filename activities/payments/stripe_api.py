"""Call Stripe's REST API (Checkout Sessions, Refunds) through the official SDK, turning
its failures into `ProviderError`s.

stripe-python's `StripeClient` with its async HTTPX client (`stripe.HTTPXClient`, the
`*_async` methods) does the wire format (provider-formats.md §1.1: the secret key as
Bearer token, form bodies with bracket keys, `Stripe-Version`, `Idempotency-Key`); the
base URL is configurable (`base_addresses`), so the same code talks to the local
stand-in in tests. The SDK's own network retries are off (`max_network_retries=0`):
Temporal retries the activity, under the same idempotency key the caller derived from a
business key, so a retry replays Stripe's first answer instead of paying twice.

Failures (`activities.provider_errors`, provider "Stripe")::

    ProviderError
    ├── type "StripeUnavailable", retryable    network errors, timeouts, 408, 409 (a
    │                                          concurrent request holds the idempotency
    │                                          key), 429 (Retry-After honoured), 5xx
    ├── type BAD_CONFIGURATION, non-retryable  401/403: wrong or restricted secret key
    └── type "StripeRejected", non-retryable   any other 4xx: invalid_request_error
                                               (charge_already_refunded, amount_too_large,
                                               resource_missing…), idempotency_error

Error texts carry Stripe's own `error.message` (with email addresses scrubbed) and never
the secret key; `details[0]["code"]` is Stripe's error code.

The SDK's transport is `SharedHttpx`, a `stripe.HTTPClient` over the worker's own
`httpx.AsyncClient` (its timeouts, its pool, closed with it). Why not the SDK's
`stripe.HTTPXClient`: it opens a pool of its own that something must close, and it hands
the form body to httpx as `data=<str>`, which httpx deprecates (a DeprecationWarning on
every call, an error once httpx drops it); `SharedHttpx` sends it as `content=`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import stripe
from pydantic import SecretStr

from activities.provider_errors import (
    CONFIG_STATUSES,
    ProviderError,
    error_type,
    is_retryable_status,
    retry_after,
    scrub,
    unavailable_type,
)

PROVIDER = "Stripe"
STRIPE_UNAVAILABLE = unavailable_type(PROVIDER)
STRIPE_REJECTED = error_type(PROVIDER, "rejected")
DEFAULT_BASE_URL = "https://api.stripe.com"
# The version the request and response shapes here were written against (§1.9).
API_VERSION = "2024-06-20"
MAX_IDEMPOTENCY_KEY = 255

FormValue = str | int | bool | None | Mapping[str, Any] | Sequence[Any]


def without_none(params: Mapping[str, FormValue]) -> dict[str, Any]:
    """Params as the SDK takes them, with the None values (not sent) left out."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            out[name] = without_none(value)
        elif isinstance(value, str | int | bool):
            out[name] = value
        else:
            out[name] = [without_none(v) if isinstance(v, Mapping) else v for v in value]
    return out


class SharedHttpx(stripe.HTTPClient):
    """stripe-python's transport over a shared `httpx.AsyncClient` (async only)."""

    name = "httpx"

    def __init__(self, http: httpx.AsyncClient) -> None:
        super().__init__()
        self._http = http

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            response = await self._http.request(
                method, url, headers=dict(headers), content=post_data or None
            )
        except httpx.RequestError as err:
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                f"Stripe unreachable: {type(err).__name__}", should_retry=True
            ) from err
        return response.content, response.status_code, response.headers

    async def close_async(self) -> None:
        """Nothing: the shared client is closed by its owner."""

    async def sleep_async(self, secs: float) -> None:
        await asyncio.sleep(secs)


class StripeApi:
    """The two Stripe calls Punchcard makes, through stripe-python's `StripeClient`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        secret_key: SecretStr,
        base_url: str = DEFAULT_BASE_URL,
        api_version: str | None = API_VERSION,
    ) -> None:
        self._client = stripe.StripeClient(
            secret_key.get_secret_value(),
            base_addresses={"api": base_url.rstrip("/")},
            stripe_version=api_version,
            max_network_retries=0,
            http_client=SharedHttpx(http),
        )

    async def create_checkout_session(
        self, params: Mapping[str, FormValue], *, idempotency_key: str
    ) -> dict[str, Any]:
        """POST /v1/checkout/sessions; returns the Session object (`id`, `url`, …).

        Raises:
            ProviderError: retryable for transient trouble, non-retryable otherwise.
        """
        path = "/v1/checkout/sessions"
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                params=without_none(params),  # type: ignore[arg-type]
                options={"idempotency_key": _checked(idempotency_key)},
            )
        except stripe.StripeError as err:
            raise _error_for(err, path) from None
        return _object(session, path)

    async def create_refund(
        self, params: Mapping[str, FormValue], *, idempotency_key: str
    ) -> dict[str, Any]:
        """POST /v1/refunds; returns the Refund object (`id`, `status`, `amount`, …).

        Raises:
            ProviderError: retryable for transient trouble, non-retryable otherwise.
        """
        path = "/v1/refunds"
        try:
            refund = await self._client.v1.refunds.create_async(
                params=without_none(params),  # type: ignore[arg-type]
                options={"idempotency_key": _checked(idempotency_key)},
            )
        except stripe.StripeError as err:
            raise _error_for(err, path) from None
        return _object(refund, path)


def _checked(idempotency_key: str) -> str:
    if not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise ValueError(f"a Stripe Idempotency-Key has 1 to {MAX_IDEMPOTENCY_KEY} chars")
    return idempotency_key


def _object(found: stripe.StripeObject, path: str) -> dict[str, Any]:
    data: dict[str, Any] = found.to_dict()
    if not isinstance(data.get("id"), str):
        raise ProviderError(
            PROVIDER, f"Stripe {path} answered without an object id", kind="unavailable"
        )
    return data


def _error_for(err: stripe.StripeError, path: str) -> ProviderError:
    """Map the SDK's error (Stripe's `{"error": {"type", "code", "message"}}`) to the tree."""
    status = err.http_status
    if status is None:  # APIConnectionError: nothing came back
        return ProviderError(
            PROVIDER,
            f"Stripe {path} unreachable: {type(err).__name__}",
            kind="unavailable",
        )
    kind = getattr(err.error, "type", None) if err.error is not None else None
    code = err.code
    message = err.user_message or "no error body"
    label = " ".join(part for part in (kind, code) if part)
    text = f"Stripe {path} answered {status}{' ' + label if label else ''}: {scrub(message)}"
    if is_retryable_status(status) or status == 409:
        headers = {k: str(v) for k, v in (err.headers or {}).items()}
        return ProviderError(
            PROVIDER,
            text,
            kind="unavailable",
            http_status=status,
            code=code,
            next_retry_delay=retry_after(httpx.Response(status, headers=headers)),
        )
    return ProviderError(
        PROVIDER,
        text,
        kind="configuration" if status in CONFIG_STATUSES else "rejected",
        http_status=status,
        code=code,
    )
