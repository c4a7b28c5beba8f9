"""Stripe webhooks: check `Stripe-Signature` with stripe-python, read the envelope.

The scheme (provider-formats.md §1.3, stripe-python's `WebhookSignature`): the header is
`t=<unix>,v1=<hex>[,v1=<hex>…]`; each v1 is hex HMAC-SHA256 of `"{t}.{raw body}"` keyed by
the `whsec_…` secret's UTF-8 bytes; any v1 may match (several appear while a secret
rotates); a timestamp older than the tolerance is refused, a future one is not.

The signature itself is checked by the official SDK (`stripe.WebhookSignature.
verify_header`). The header is read here first, so every refusal names its problem (the
SDK's messages are generic) and the age is checked against an injectable clock (the SDK
reads `time.time()`); the SDK then gets the header rebuilt from what was read (t and the
v1 entries, spaces trimmed) and checks the HMAC with its constant-time compare.

Payment events are not visits: `parse` only says which event this is and whether we act on
it; the payments intake reads `payload["data"]["object"]`.

Errors, all `WebhookRejected`:

    401  no secret configured, header missing, no timestamp or no v1, too old, no match
    400  the body is not a JSON object
    422  id, type or data.object missing or of the wrong type; a field out of its range
         (amounts, `created`, ids, currency, email, metadata: the field is named)
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any

import stripe as stripe_sdk

from starter.ingress import base, limits
from starter.ingress.base import ParsedDelivery, WebhookRejected
from workflows.payment_models import StripePaymentEvent, StripeRefundLine

PROVIDER = "stripe"
SIGNATURE_HEADER = "Stripe-Signature"
EXPECTED_SCHEME = "v1"
DEFAULT_TOLERANCE = 300  # seconds, as stripe-python's Webhook.DEFAULT_TOLERANCE

# Stripe's own limits, so a real event always passes: the largest charge is $999,999.99
# (in the smallest currency unit), metadata is 50 keys of 40 characters, values of 500.
MAX_AMOUNT = 99_999_999
EARLIEST_CREATED = 1_262_304_000  # 2010-01-01: Stripe's API has no older events
LATEST_CREATED = 4_102_444_800  # 2100-01-01
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500
MAX_EMAIL = 254

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
                    401,
                    f"stripe: {SIGNATURE_HEADER} timestamp {limits.shown(value)} is not a number",
                ) from None
        elif key == EXPECTED_SCHEME and value:
            signatures.append(value)
    if timestamp is None:
        raise WebhookRejected(401, f"stripe: {SIGNATURE_HEADER} has no timestamp (t=)")
    if not signatures:
        raise WebhookRejected(401, f"stripe: {SIGNATURE_HEADER} has no {EXPECTED_SCHEME} signature")
    # Only ASCII can be a hex digest (the SDK's compare refuses anything else).
    candidates = [s for s in signatures if s.isascii()]
    rebuilt = ",".join([f"t={timestamp}", *(f"{EXPECTED_SCHEME}={s}" for s in candidates)])
    try:
        if not candidates:
            raise ValueError("no ASCII signature")
        # tolerance=None: the age is checked below, against `now`.
        stripe_sdk.WebhookSignature.verify_header(body, rebuilt, secret, tolerance=None)
    except (stripe_sdk.SignatureVerificationError, ValueError):
        raise WebhookRejected(
            401, f"stripe: no {EXPECTED_SCHEME} signature in {SIGNATURE_HEADER} matches the body"
        ) from None
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
    if len(value) > limits.MAX_ID:
        raise WebhookRejected(
            422, f"stripe: {name} is longer than {limits.MAX_ID} characters ({len(value)})"
        )
    return value


def payment_event(parsed: ParsedDelivery) -> StripePaymentEvent | None:
    """The payment facts of an acted-on event, from `data.object` (a Checkout Session, a
    PaymentIntent, a Refund or a Charge); None for a charge.refunded that does not list its
    refunds (API versions since 2022-11-15 leave them out: refund.created carries them).

    Raises:
        WebhookRejected: 422 naming the field when the object lacks its payment intent, or
            a field is out of its range (see `_Fields`).
    """
    kind = parsed.event_type
    created = _created(parsed.payload)
    obj = _Fields(parsed.payload["data"]["object"], kind, "data.object")
    with base.unprocessable(f"stripe {kind}"):
        return _payment_event(parsed, kind, created, obj)


def _payment_event(
    parsed: ParsedDelivery, kind: str, created: datetime, obj: _Fields
) -> StripePaymentEvent | None:
    if kind.startswith("checkout.session."):
        details = obj.child("customer_details")
        return StripePaymentEvent(
            event_id=parsed.event_key,
            event_type=kind,
            created=created,
            payment_intent_id=obj.required_id("payment_intent"),
            checkout_session_id=obj.optional_id("id"),
            payment_status=obj.optional_id("payment_status"),
            amount_cents=obj.amount("amount_total"),
            currency=obj.currency(),
            metadata=obj.metadata("metadata"),
            customer_email=obj.email("customer_email") or details.email("email"),
        )
    if kind == "payment_intent.succeeded":
        received = obj.amount("amount_received")
        return StripePaymentEvent(
            event_id=parsed.event_key,
            event_type=kind,
            created=created,
            payment_intent_id=obj.required_id("id"),
            amount_cents=received or obj.amount("amount"),
            currency=obj.currency(),
            metadata=obj.metadata("metadata"),
            customer_email=obj.email("receipt_email"),
        )
    if kind == "refund.created":
        return StripePaymentEvent(
            event_id=parsed.event_key,
            event_type=kind,
            created=created,
            payment_intent_id=obj.required_id("payment_intent"),
            amount_cents=obj.amount("amount"),
            currency=obj.currency(),
            refunds=[
                StripeRefundLine(
                    refund_id=obj.required_id("id"),
                    amount_cents=obj.amount("amount"),
                    punchcard_refund_key=obj.metadata("metadata").get("punchcard_refund_key"),
                )
            ],
        )
    # charge.refunded: the Charge, with its refunds list when the API version includes it
    refunds = [
        StripeRefundLine(
            refund_id=line.required_id("id"),
            amount_cents=line.amount("amount"),
            punchcard_refund_key=line.metadata("metadata").get("punchcard_refund_key"),
        )
        for line in obj.child("refunds").children("data")
    ]
    if not refunds:
        return None
    return StripePaymentEvent(
        event_id=parsed.event_key,
        event_type=kind,
        created=created,
        payment_intent_id=obj.required_id("payment_intent"),
        amount_cents=obj.amount("amount"),
        currency=obj.currency(),
        charge_amount_cents=obj.amount("amount"),
        amount_refunded_cents=obj.amount("amount_refunded"),
        fully_refunded=obj.get("refunded") is True,
        refunds=refunds,
    )


def _created(payload: dict[str, Any]) -> datetime:
    value = payload.get("created")
    if isinstance(value, bool) or not isinstance(value, int):
        raise WebhookRejected(422, "stripe: created must be a Unix timestamp")
    if not EARLIEST_CREATED <= value <= LATEST_CREATED:
        raise WebhookRejected(
            422, f"stripe: created {value} is not a Unix timestamp between 2010 and 2100"
        )
    return datetime.fromtimestamp(value, UTC)


class _Fields:
    """Typed reads of one Stripe object; a value out of range is a 422 naming its path.

    Stripe leaves out or nulls what does not apply, so an absent value is None (or 0 for an
    amount); a present value of the wrong type or beyond Stripe's own limits is refused.
    """

    def __init__(self, value: object, kind: str, path: str) -> None:
        self._obj: dict[str, Any] = value if isinstance(value, dict) else {}
        self._kind = kind
        self._path = path

    def get(self, name: str) -> object:
        return self._obj.get(name)

    def _refuse(self, name: str, problem: str) -> WebhookRejected:
        return WebhookRejected(422, f"stripe {self._kind}: {self._path}.{name} {problem}")

    def child(self, name: str) -> _Fields:
        return _Fields(self._obj.get(name), self._kind, f"{self._path}.{name}")

    def children(self, name: str) -> list[_Fields]:
        items = self._obj.get(name)
        if not isinstance(items, list):
            return []
        return [
            _Fields(item, self._kind, f"{self._path}.{name}[{i}]")
            for i, item in enumerate(items)
            if isinstance(item, dict)
        ]

    def optional_id(self, name: str) -> str | None:
        value = self._obj.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self._refuse(name, "must be a string")
        if len(value) > limits.MAX_ID:
            raise self._refuse(name, f"is longer than {limits.MAX_ID} characters ({len(value)})")
        return value

    def required_id(self, name: str) -> str:
        value = self.optional_id(name)
        if value is None:
            raise self._refuse(name, "is missing")
        return value

    def amount(self, name: str) -> int:
        value = self._obj.get(name)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._refuse(name, "must be an integer amount in the smallest currency unit")
        if not 0 <= value <= MAX_AMOUNT:
            raise self._refuse(name, f"{value} is outside 0…{MAX_AMOUNT}")
        return value

    def currency(self) -> str | None:
        value = self.optional_id("currency")
        if value is not None and not (len(value) == 3 and value.isascii() and value.isalpha()):
            raise self._refuse("currency", f"{limits.shown(value)} is not a 3-letter ISO code")
        return value.lower() if value else None

    def email(self, name: str) -> str | None:
        value = self._obj.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self._refuse(name, "must be a string")
        if len(value) > MAX_EMAIL:
            raise self._refuse(name, f"is longer than {MAX_EMAIL} characters")
        return value

    def metadata(self, name: str) -> dict[str, str]:
        value = self._obj.get(name)
        if not isinstance(value, dict):
            return {}
        if len(value) > MAX_METADATA_KEYS:
            raise self._refuse(name, f"has more than {MAX_METADATA_KEYS} keys")
        out: dict[str, str] = {}
        for key, item in value.items():
            if item is None:
                continue
            text = item if isinstance(item, str) else str(item)
            if len(key) > MAX_METADATA_KEY or len(text) > MAX_METADATA_VALUE:
                raise self._refuse(
                    f"{name}.{repr(key[: limits.SHOWN])[1:-1]}",
                    f"exceeds Stripe's metadata limits ({MAX_METADATA_KEY}-character keys, "
                    f"{MAX_METADATA_VALUE}-character values)",
                )
            out[key] = text
        return out
