"""Square webhooks: check `x-square-hmacsha256-signature`, read payments and refunds.

The scheme (developer.squareup.com/docs/webhooks/step3validate): the header is the
base64 HMAC-SHA256, keyed by the subscription's signature key, of the notification URL
exactly as configured in Square followed by the raw body (no separator). So the URL is
part of what is signed: behind a proxy it is the public one, `PUNCHCARD_SQUARE_
NOTIFICATION_URL` (default: the API's public URL + /webhooks/square).

The envelope: `{merchant_id, type, event_id, created_at, data: {type, id, object}}`.
Acted on: `payment.updated` whose `data.object.payment.status` is COMPLETED (the payment
of a payment link: `order_id` ties it to our offer) and `refund.updated` whose
`data.object.refund.status` is COMPLETED. Anything else is answered and recorded as
ignored. Errors, all `WebhookRejected`: 401 for the signature, 400 for a body that is
not a JSON object, 422 for a field missing or out of range.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

from starter.ingress import base, limits
from starter.ingress.base import ParsedDelivery, WebhookRejected
from workflows.payment_models import StripePaymentEvent, StripeRefundLine

PROVIDER = "square"
SIGNATURE_HEADER = "x-square-hmacsha256-signature"
ACTED_ON = frozenset({"payment.updated", "refund.updated"})
MAX_AMOUNT = 99_999_999


def compute_signature(notification_url: str, body: bytes, key: str) -> str:
    """base64(HMAC-SHA256(key, notification URL + raw body))."""
    digest = hmac.new(key.encode(), notification_url.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(body: bytes, header: str | None, key: str | None, notification_url: str | None) -> None:
    """Accept the delivery or raise `WebhookRejected(401, reason)`."""
    if not key:
        raise WebhookRejected(401, "square: no webhook signature key is configured")
    if not notification_url:
        raise WebhookRejected(
            401, "square: no notification URL is configured (PUNCHCARD_SQUARE_NOTIFICATION_URL)"
        )
    if header is None or not header.strip():
        raise WebhookRejected(401, f"square: {SIGNATURE_HEADER} header is missing")
    expected = compute_signature(notification_url, body, key).encode()
    if not hmac.compare_digest(expected, header.strip().encode()):
        raise WebhookRejected(
            401, f"square: {SIGNATURE_HEADER} does not match the notification URL and body"
        )


def parse(body: bytes) -> ParsedDelivery:
    """Read the envelope; what is not a completed payment or refund is ignored."""
    payload = base.json_object(body, PROVIDER)
    event_id = _text(payload, "event_id")
    event_type = _text(payload, "type")
    if event_type not in ACTED_ON:
        return base.not_acted_on(PROVIDER, event_id, event_type, payload)
    obj = _object(payload, event_type)
    status = obj.get("status")
    if status != "COMPLETED":
        return ParsedDelivery(
            provider=PROVIDER,
            event_key=event_id,
            event_type=event_type,
            ignored_reason=f"{event_type} with status {limits.shown(str(status))}: "
            "acted on once COMPLETED",
            payload=payload,
        )
    return ParsedDelivery(
        provider=PROVIDER, event_key=event_id, event_type=event_type, payload=payload
    )


def payment_event(parsed: ParsedDelivery) -> StripePaymentEvent:
    """The payment facts of an acted-on delivery, for the payment workflow."""
    kind = parsed.event_type
    obj = _object(parsed.payload, kind)
    created = _created(parsed.payload)
    where = f"square {kind}"
    with base.unprocessable(where):
        if kind == "payment.updated":
            amount, currency = _money(obj, "total_money", where)
            if amount == 0:
                amount, currency = _money(obj, "amount_money", where)
            return StripePaymentEvent(
                processor="square",
                event_id=parsed.event_key,
                event_type=kind,
                created=created,
                payment_intent_id=_id(obj, "id", where),
                checkout_session_id=_optional(obj, "order_id"),
                payment_status="COMPLETED",
                amount_cents=amount,
                currency=currency,
                customer_email=_optional(obj, "buyer_email_address"),
            )
        amount, currency = _money(obj, "amount_money", where)
        return StripePaymentEvent(
            processor="square",
            event_id=parsed.event_key,
            event_type=kind,
            created=created,
            payment_intent_id=_id(obj, "payment_id", where),
            amount_cents=amount,
            currency=currency,
            refunds=[StripeRefundLine(refund_id=_id(obj, "id", where), amount_cents=amount)],
        )


def _object(payload: dict[str, Any], kind: str) -> dict[str, Any]:
    """`data.object.payment` or `data.object.refund`."""
    data = payload.get("data")
    inner = data.get("object") if isinstance(data, dict) else None
    name = kind.split(".")[0]
    found = inner.get(name) if isinstance(inner, dict) else None
    if not isinstance(found, dict):
        raise WebhookRejected(422, f"square {kind}: data.object.{name} is missing")
    return found


def _text(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise WebhookRejected(422, f"square: {name} is missing or not a string")
    if len(value) > limits.MAX_ID:
        raise WebhookRejected(422, f"square: {name} is longer than {limits.MAX_ID} characters")
    return value


def _optional(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    return value if isinstance(value, str) and value else None


def _id(obj: dict[str, Any], name: str, where: str) -> str:
    value = _optional(obj, name)
    if value is None:
        raise WebhookRejected(422, f"{where}: {name} is missing")
    return value


def _money(obj: dict[str, Any], name: str, where: str) -> tuple[int, str | None]:
    money = obj.get(name)
    if not isinstance(money, dict):
        return 0, None
    amount, currency = money.get("amount"), money.get("currency")
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= MAX_AMOUNT:
        raise WebhookRejected(422, f"{where}: {name}.amount is not an amount in 0…{MAX_AMOUNT}")
    return amount, currency.lower() if isinstance(currency, str) else None


def _created(payload: dict[str, Any]) -> datetime:
    value = payload.get("created_at")
    try:
        created = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise WebhookRejected(422, "square: created_at is not an RFC 3339 timestamp") from None
    if created.tzinfo is None:
        raise WebhookRejected(422, "square: created_at has no UTC offset")
    return created
