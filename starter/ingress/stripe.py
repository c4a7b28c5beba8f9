"""Stripe webhooks: check `Stripe-Signature` exactly as stripe-python does, read the envelope.

The scheme (provider-formats.md §1.3, from stripe-python's `WebhookSignature`): the header
is `t=<unix>,v1=<hex>[,v1=<hex>…]`; each v1 is hex HMAC-SHA256 of `"{t}.{raw body}"` keyed by
the `whsec_…` secret's UTF-8 bytes; any v1 may match (several appear while a secret
rotates); a timestamp older than the tolerance is refused, a future one is not.

Payment events are not visits: `parse` only says which event this is and whether we act on
it; the payments intake reads `payload["data"]["object"]`.

Errors, all `WebhookRejected`:

    401  no secret configured, header missing, no timestamp or no v1, too old, no match
    400  the body is not a JSON object
    422  id, type or data.object missing or of the wrong type
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from starter.ingress import base
from starter.ingress.base import ParsedDelivery, WebhookRejected

PROVIDER = "stripe"
SIGNATURE_HEADER = "Stripe-Signature"
EXPECTED_SCHEME = "v1"
DEFAULT_TOLERANCE = 300  # seconds, as stripe-python's Webhook.DEFAULT_TOLERANCE

ACTED_ON = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "payment_intent.succeeded",
        "charge.refunded",
    }
)


def compute_signature(timestamp: int, body: bytes, secret: str) -> str:
    """The v1 signature of `body` sent at `timestamp`: hex HMAC-SHA256 of `b"{t}." + body`."""
    signed = f"{timestamp}.".encode("ascii") + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def verify(
    body: bytes,
    header: str | None,
    secret: str | None,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Accept the delivery or raise `WebhookRejected(401, reason)`.

    Args:
        body: the raw request bytes, never re-serialised JSON.
        header: the `Stripe-Signature` header value, None when absent.
        secret: the endpoint's `whsec_…` secret, prefix included.
        tolerance: seconds a timestamp may be old; 0 turns the check off (as stripe-python).
        now: the current Unix time, for tests; defaults to `time.time()`.

    Raises:
        WebhookRejected: 401 naming the problem.
    """
    if not secret:
        raise WebhookRejected(401, "stripe: no webhook secret is configured")
    if header is None or not header.strip():
        raise WebhookRejected(401, f"stripe: {SIGNATURE_HEADER} header is missing")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and timestamp is None:
            try:
                timestamp = int(value)
            except ValueError:
                raise WebhookRejected(
                    401, f"stripe: {SIGNATURE_HEADER} timestamp {value!r} is not a number"
                ) from None
        elif key == EXPECTED_SCHEME and value:
            signatures.append(value)
    if timestamp is None:
        raise WebhookRejected(401, f"stripe: {SIGNATURE_HEADER} has no timestamp (t=)")
    if not signatures:
        raise WebhookRejected(401, f"stripe: {SIGNATURE_HEADER} has no {EXPECTED_SCHEME} signature")
    expected = compute_signature(timestamp, body, secret).encode("ascii")
    # Every candidate is compared, so the time taken does not say which one was close.
    matched = False
    for signature in signatures:
        matched |= hmac.compare_digest(expected, signature.encode("utf-8"))
    if not matched:
        raise WebhookRejected(
            401, f"stripe: no {EXPECTED_SCHEME} signature in {SIGNATURE_HEADER} matches the body"
        )
    current = time.time() if now is None else now
    if tolerance and timestamp < current - tolerance:
        late = int(current - tolerance - timestamp)
        raise WebhookRejected(
            401,
            f"stripe: timestamp {timestamp} is outside the {tolerance}s tolerance "
            f"by {late} seconds",
        )


def parse(body: bytes) -> ParsedDelivery:
    """Read the event envelope; events outside `ACTED_ON` are answered and recorded as ignored.

    Raises:
        WebhookRejected: 400 if the body is not a JSON object, 422 if id, type or
            data.object is missing or of the wrong type.
    """
    payload = base.json_object(body, PROVIDER)
    event_id = _text(payload, "id")
    event_type = _text(payload, "type")
    data = payload.get("data")
    if not isinstance(data, dict) or "object" not in data:
        raise WebhookRejected(422, f"stripe {event_type}: data.object is missing")
    if not isinstance(data["object"], dict):
        raise WebhookRejected(422, f"stripe {event_type}: data.object must be an object")
    if event_type not in ACTED_ON:
        return base.not_acted_on(PROVIDER, event_id, event_type, payload)
    return ParsedDelivery(
        provider=PROVIDER, event_key=event_id, event_type=event_type, payload=payload
    )


def _text(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if value is None:
        raise WebhookRejected(422, f"stripe: {name} is missing")
    if not isinstance(value, str) or not value:
        raise WebhookRejected(422, f"stripe: {name} must be a non-empty string")
    return value
