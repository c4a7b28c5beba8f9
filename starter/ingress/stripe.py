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
from datetime import UTC, datetime
from typing import Any

from starter.ingress import base
from starter.ingress.base import ParsedDelivery, WebhookRejected
from workflows.payment_models import StripePaymentEvent, StripeRefundLine

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
        "refund.created",
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


def payment_event(parsed: ParsedDelivery) -> StripePaymentEvent | None:
    """The payment facts of an acted-on event, from `data.object` (a Checkout Session, a
    PaymentIntent, a Refund or a Charge); None for a charge.refunded that does not list its
    refunds (API versions since 2022-11-15 leave them out: refund.created carries them).

    Raises:
        WebhookRejected: 422 naming the field when the object lacks its payment intent.
    """
    obj: dict[str, Any] = parsed.payload["data"]["object"]
    kind = parsed.event_type
    created = _created(parsed.payload)
    if kind.startswith("checkout.session."):
        intent = obj.get("payment_intent")
        details = (
            obj.get("customer_details") if isinstance(obj.get("customer_details"), dict) else {}
        )
        return StripePaymentEvent(
            event_id=parsed.event_key,
            event_type=kind,
            created=created,
            payment_intent_id=_required(intent, kind, "data.object.payment_intent"),
            checkout_session_id=_optional(obj.get("id")),
            payment_status=_optional(obj.get("payment_status")),
            amount_cents=_int(obj.get("amount_total")),
            currency=_optional(obj.get("currency")),
            metadata=_metadata(obj.get("metadata")),
            customer_email=_optional(obj.get("customer_email"))
            or _optional(details.get("email") if details else None),
        )
    if kind == "payment_intent.succeeded":
        return StripePaymentEvent(
            event_id=parsed.event_key,
            event_type=kind,
            created=created,
            payment_intent_id=_required(obj.get("id"), kind, "data.object.id"),
            amount_cents=_int(obj.get("amount_received") or obj.get("amount")),
            currency=_optional(obj.get("currency")),
            metadata=_metadata(obj.get("metadata")),
            customer_email=_optional(obj.get("receipt_email")),
        )
    if kind == "refund.created":
        return StripePaymentEvent(
            event_id=parsed.event_key,
            event_type=kind,
            created=created,
            payment_intent_id=_required(
                obj.get("payment_intent"), kind, "data.object.payment_intent"
            ),
            amount_cents=_int(obj.get("amount")),
            currency=_optional(obj.get("currency")),
            refunds=[
                StripeRefundLine(
                    refund_id=_required(obj.get("id"), kind, "data.object.id"),
                    amount_cents=_int(obj.get("amount")),
                    punchcard_refund_key=_metadata(obj.get("metadata")).get("punchcard_refund_key"),
                )
            ],
        )
    # charge.refunded: the Charge, with its refunds list when the API version includes it
    refunds_obj = obj.get("refunds")
    lines = refunds_obj.get("data") if isinstance(refunds_obj, dict) else None
    refunds = [
        StripeRefundLine(
            refund_id=_required(line.get("id"), kind, "data.object.refunds.data[].id"),
            amount_cents=_int(line.get("amount")),
            punchcard_refund_key=_metadata(line.get("metadata")).get("punchcard_refund_key"),
        )
        for line in (lines if isinstance(lines, list) else [])
        if isinstance(line, dict)
    ]
    if not refunds:
        return None
    return StripePaymentEvent(
        event_id=parsed.event_key,
        event_type=kind,
        created=created,
        payment_intent_id=_required(obj.get("payment_intent"), kind, "data.object.payment_intent"),
        amount_cents=_int(obj.get("amount")),
        currency=_optional(obj.get("currency")),
        charge_amount_cents=_int(obj.get("amount")),
        amount_refunded_cents=_int(obj.get("amount_refunded")),
        fully_refunded=bool(obj.get("refunded")),
        refunds=refunds,
    )


def _created(payload: dict[str, Any]) -> datetime:
    value = payload.get("created")
    if isinstance(value, bool) or not isinstance(value, int):
        raise WebhookRejected(422, "stripe: created must be a Unix timestamp")
    return datetime.fromtimestamp(value, UTC)


def _required(value: object, kind: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise WebhookRejected(422, f"stripe {kind}: {name} is missing")
    return value


def _optional(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _metadata(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}
