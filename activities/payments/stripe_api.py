"""Call Stripe's REST API (Checkout Sessions, Refunds), turning its answers into typed failures.

Stripe's conventions (provider-formats.md §1.1): HTTP Basic with the secret key as user
name, form-encoded bodies whose nested fields use bracket keys (`metadata[k]=v`), JSON
answers, and an `Idempotency-Key` header on every POST that the caller derives from a
business key, so a retried activity replays Stripe's first answer instead of paying twice.

Temporal retries whatever is not marked non-retryable::

    StripeError (ApplicationError)
    ├── type "StripeUnavailable", retryable    network errors, timeouts, 408, 409 (a
    │                                          concurrent request holds the idempotency
    │                                          key), 429 (Retry-After honoured), 5xx
    ├── type BAD_CONFIGURATION, non-retryable  401/403: wrong or restricted secret key
    └── type PROVIDER_REJECTED, non-retryable  any other 4xx: invalid_request_error
                                               (charge_already_refunded, amount_too_large,
                                               resource_missing…), idempotency_error

Error texts carry Stripe's own `error.message` (with email addresses scrubbed) and never
the secret key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError

from workflows.policies import BAD_CONFIGURATION, PROVIDER_REJECTED

STRIPE_UNAVAILABLE = "StripeUnavailable"
DEFAULT_BASE_URL = "https://api.stripe.com"
# The version the request and response shapes here were written against (§1.9).
API_VERSION = "2024-06-20"
MAX_IDEMPOTENCY_KEY = 255

_RETRYABLE_STATUSES = frozenset({408, 409, 429})
_CONFIG_STATUSES = frozenset({401, 403})
_ADDRESS = re.compile(r"[^\s<>@\"']+@[^\s<>@\"']+")

FormValue = str | int | bool | None | Mapping[str, Any] | Sequence[Any]


class StripeError(ApplicationError):
    """A failed Stripe call, typed for Temporal's retry policy; carries Stripe's error fields."""

    def __init__(
        self,
        message: str,
        *,
        type: str,
        non_retryable: bool,
        http_status: int | None = None,
        stripe_code: str | None = None,
        request_id: str | None = None,
        next_retry_delay: timedelta | None = None,
    ) -> None:
        super().__init__(
            message,
            {"http_status": http_status, "stripe_code": stripe_code, "request_id": request_id},
            type=type,
            non_retryable=non_retryable,
            next_retry_delay=next_retry_delay,
        )
        self.http_status = http_status
        self.stripe_code = stripe_code
        self.request_id = request_id


def encode_form(params: Mapping[str, FormValue], prefix: str = "") -> dict[str, str]:
    """Flatten nested params into Stripe's bracket keys; None values are left out.

    >>> encode_form({"metadata": {"a": "1"}, "line_items": [{"quantity": 1}]})
    {'metadata[a]': '1', 'line_items[0][quantity]': '1'}
    """
    form: dict[str, str] = {}
    for name, value in params.items():
        key = f"{prefix}[{name}]" if prefix else name
        if value is None:
            continue
        if isinstance(value, Mapping):
            form.update(encode_form(value, key))
        elif isinstance(value, bool):
            form[key] = "true" if value else "false"
        elif isinstance(value, str | int):
            form[key] = str(value)
        else:
            form.update(encode_form({str(i): item for i, item in enumerate(value)}, key))
    return form


class StripeApi:
    """The two Stripe calls Punchcard makes, over a shared `httpx.AsyncClient`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        secret_key: SecretStr,
        base_url: str = DEFAULT_BASE_URL,
        api_version: str | None = API_VERSION,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._auth = httpx.BasicAuth(secret_key.get_secret_value(), "")
        self._api_version = api_version

    async def create_checkout_session(
        self, params: Mapping[str, FormValue], *, idempotency_key: str
    ) -> dict[str, Any]:
        """POST /v1/checkout/sessions; returns the Session object (`id`, `url`, …).

        Raises:
            StripeError: retryable for transient trouble, non-retryable otherwise.
        """
        return await self._post("/v1/checkout/sessions", params, idempotency_key)

    async def create_refund(
        self, params: Mapping[str, FormValue], *, idempotency_key: str
    ) -> dict[str, Any]:
        """POST /v1/refunds; returns the Refund object (`id`, `status`, `amount`, …).

        Raises:
            StripeError: retryable for transient trouble, non-retryable otherwise.
        """
        return await self._post("/v1/refunds", params, idempotency_key)

    async def _post(
        self, path: str, params: Mapping[str, FormValue], idempotency_key: str
    ) -> dict[str, Any]:
        if not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            raise ValueError(f"a Stripe Idempotency-Key has 1 to {MAX_IDEMPOTENCY_KEY} chars")
        headers = {"Idempotency-Key": idempotency_key, "Accept": "application/json"}
        if self._api_version:
            headers["Stripe-Version"] = self._api_version
        try:
            response = await self._http.post(
                self._base_url + path, data=encode_form(params), headers=headers, auth=self._auth
            )
        except httpx.RequestError as err:
            raise StripeError(
                f"Stripe {path} unreachable: {type(err).__name__}",
                type=STRIPE_UNAVAILABLE,
                non_retryable=False,
            ) from err
        if not response.is_success:
            raise _error_for(response, path)
        data = _json_object(response)
        if data is None or not isinstance(data.get("id"), str):
            raise StripeError(
                f"Stripe {path} answered {response.status_code} without an object id",
                type=STRIPE_UNAVAILABLE,
                non_retryable=False,
                http_status=response.status_code,
                request_id=response.headers.get("Request-Id"),
            )
        return data


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data: Any = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _error_for(response: httpx.Response, path: str) -> StripeError:
    """Map an error answer (`{"error": {"type", "code", "message", "param"}}`) to a failure."""
    status = response.status_code
    body = _json_object(response)
    error = body.get("error") if body else None
    if not isinstance(error, dict):
        error = {}
    kind = error.get("type") if isinstance(error.get("type"), str) else None
    code = error.get("code") if isinstance(error.get("code"), str) else None
    message = error.get("message")
    if not isinstance(message, str) or not message:
        message = response.reason_phrase or "no error body"
    label = " ".join(part for part in (kind, code) if part)
    text = f"Stripe {path} answered {status}{' ' + label if label else ''}: {_scrub(message)}"
    request_id = response.headers.get("Request-Id")
    if status in _RETRYABLE_STATUSES or status >= 500:
        return StripeError(
            text,
            type=STRIPE_UNAVAILABLE,
            non_retryable=False,
            http_status=status,
            stripe_code=code,
            request_id=request_id,
            next_retry_delay=_retry_after(response),
        )
    category = BAD_CONFIGURATION if status in _CONFIG_STATUSES else PROVIDER_REJECTED
    return StripeError(
        text,
        type=category,
        non_retryable=True,
        http_status=status,
        stripe_code=code,
        request_id=request_id,
    )


def _scrub(text: str) -> str:
    """Stripe echoes invalid email addresses in its messages; keep them out of history."""
    return _ADDRESS.sub("[address]", text)


def _retry_after(response: httpx.Response) -> timedelta | None:
    """Honour Retry-After (seconds) on a 429 or 503 so retries do not hammer the rate limit."""
    value = response.headers.get("Retry-After", "").strip()
    return timedelta(seconds=int(value)) if value.isdigit() else None
