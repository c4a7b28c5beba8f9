"""Square: the signature vector (computed with openssl), and which events are acted on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from starter.ingress import square
from starter.ingress.base import WebhookRejected

# printf '%s' "$URL$BODY" | openssl dgst -sha256 -hmac "$KEY" -binary | base64
KEY = "sq0wsk_test_signature_key"
URL = "https://punchcard.example/webhooks/square"
BODY = (
    b'{"merchant_id":"ML82H4QPKMGXY","type":"payment.updated",'
    b'"event_id":"6a8f5f28-54a1-4eb0-a98a-3111513fd4fc"}'
)
SIGNATURE = "URSPNIrFTp1gknkTbMaL89NoVfNRmLyz5Pkzmzjlgho="


def payment_updated(status: str = "COMPLETED", **payment: Any) -> bytes:
    fields = {
        "id": "KkAkhdMsgzn59SM8A89WgKwekxLZY",
        "status": status,
        "amount_money": {"amount": 90000, "currency": "USD"},
        "total_money": {"amount": 90000, "currency": "USD"},
        "order_id": "CAISENgvhpdP05f1DWG9H8yMn4kZY",
        **payment,
    }
    return json.dumps(
        {
            "merchant_id": "ML82H4QPKMGXY",
            "type": "payment.updated",
            "event_id": "6a8f5f28-54a1-4eb0-a98a-3111513fd4fc",
            "created_at": "2026-05-20T14:25:28.000Z",
            "data": {"type": "payment", "id": fields["id"], "object": {"payment": fields}},
        }
    ).encode()


def test_signature_vector() -> None:
    assert square.compute_signature(URL, BODY, KEY) == SIGNATURE
    square.verify(BODY, SIGNATURE, KEY, URL)


@pytest.mark.parametrize(
    ("body", "header", "key", "url", "words"),
    [
        (BODY, SIGNATURE, KEY, URL + "/", "does not match"),  # the URL is signed too
        (BODY + b" ", SIGNATURE, KEY, URL, "does not match"),
        (BODY, SIGNATURE, "other-key", URL, "does not match"),
        (BODY, None, KEY, URL, "missing"),
        (BODY, SIGNATURE, None, URL, "no webhook signature key"),
        (BODY, SIGNATURE, KEY, None, "notification URL"),
    ],
)
def test_signature_refusals(
    body: bytes, header: str | None, key: str | None, url: str | None, words: str
) -> None:
    with pytest.raises(WebhookRejected) as refused:
        square.verify(body, header, key, url)
    assert refused.value.status == 401 and words in refused.value.reason


def test_completed_payment_is_a_paid_event_tied_by_its_order() -> None:
    parsed = square.parse(payment_updated())
    assert parsed.ignored_reason is None
    event = square.payment_event(parsed)
    assert event.processor == "square" and event.is_paid
    assert event.payment_intent_id == "KkAkhdMsgzn59SM8A89WgKwekxLZY"
    assert event.checkout_session_id == "CAISENgvhpdP05f1DWG9H8yMn4kZY"
    assert (event.amount_cents, event.currency) == (90000, "usd")


def test_payment_not_completed_and_other_events_are_ignored() -> None:
    approved = square.parse(payment_updated("APPROVED"))
    assert approved.ignored_reason and "COMPLETED" in approved.ignored_reason
    other = json.loads(payment_updated())
    other["type"] = "order.updated"
    assert square.parse(json.dumps(other).encode()).ignored_reason


def test_amount_out_of_range_is_unprocessable() -> None:
    body = payment_updated(total_money={"amount": -1, "currency": "USD"})
    with pytest.raises(WebhookRejected) as refused:
        square.payment_event(square.parse(body))
    assert refused.value.status == 422 and "total_money" in refused.value.reason
