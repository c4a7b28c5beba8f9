"""Stripe: the signature vector, stripe-python's header rules, and the envelope."""

from __future__ import annotations

from typing import Any

import pytest

from starter.ingress import stripe
from starter.ingress.base import WebhookRejected
from tests.starter.ingress.helpers import body_of, rejection

# provider-formats.md §1.3 local check.
SECRET = "whsec_test_secret"
T = 1700000000
BODY = b'{"id":"evt_test","object":"event"}'
V1 = "8042376f6ca064adbe037642a718227dfd59047137eb49497a54c49eb0cfb724"
HEADER = f"t={T},v1={V1}"

# The sample from §1.9 (invented values), trimmed.
EXAMPLE: dict[str, Any] = {
    "id": "evt_1PcFakeEvt0001",
    "object": "event",
    "api_version": "2024-06-20",
    "created": 1767225600,
    "livemode": False,
    "type": "checkout.session.completed",
    "data": {
        "object": {
            "id": "cs_test_a1FakeSession",
            "object": "checkout.session",
            "payment_status": "paid",
            "client_reference_id": "pur_8841",
            "metadata": {"package_template": "laser6"},
        }
    },
}


def refusal(header: str | None, *, body: bytes = BODY, now: float = T, **options: Any) -> str:
    with pytest.raises(WebhookRejected) as caught:
        stripe.verify(body, header, options.pop("secret", SECRET), now=now, **options)
    assert caught.value.status == 401
    return caught.value.reason


def test_the_documented_vector() -> None:
    assert stripe.compute_signature(T, BODY, SECRET) == V1
    stripe.verify(BODY, HEADER, SECRET, now=T)


def test_any_v1_may_match_and_other_schemes_are_ignored() -> None:
    rotated = f"t={T},v1={'0' * 64},v0=whatever,v1={V1}"
    stripe.verify(BODY, rotated, SECRET, now=T)
    stripe.verify(BODY, f" t={T} , v1={V1} ", SECRET, now=T)


def test_only_the_first_timestamp_counts() -> None:
    stripe.verify(BODY, f"t={T},t=1,v1={V1}", SECRET, now=T)


def test_a_future_timestamp_is_not_refused_as_in_stripe_python() -> None:
    stripe.verify(BODY, HEADER, SECRET, now=T - 10_000)


def test_within_tolerance_passes_and_zero_tolerance_turns_the_check_off() -> None:
    stripe.verify(BODY, HEADER, SECRET, now=T + 300)
    stripe.verify(BODY, HEADER, SECRET, now=T + 10**6, tolerance=0)


def test_too_old_says_by_how_many_seconds() -> None:
    assert refusal(HEADER, now=T + 412) == (
        "stripe: timestamp 1700000000 is outside the 300s tolerance by 112 seconds"
    )
    assert "by 1 seconds" in refusal(HEADER, now=T + 61, tolerance=60)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "Stripe-Signature header is missing"),
        ("", "Stripe-Signature header is missing"),
        (f"v1={V1}", "Stripe-Signature has no timestamp (t=)"),
        ("t=soon,v1=" + V1, "Stripe-Signature timestamp 'soon' is not a number"),
        (f"t={T}", "Stripe-Signature has no v1 signature"),
        (f"t={T},v0={V1}", "Stripe-Signature has no v1 signature"),
        (f"t={T},v1=", "Stripe-Signature has no v1 signature"),
        (f"t={T + 1},v1={V1}", "no v1 signature in Stripe-Signature matches the body"),
        (f"t={T},v1={V1.upper()}", "no v1 signature in Stripe-Signature matches the body"),
        (f"t={T},v1={'é' * 64}", "no v1 signature in Stripe-Signature matches the body"),
    ],
)
def test_bad_headers_are_refused_with_a_reason(header: str | None, reason: str) -> None:
    assert refusal(header) == f"stripe: {reason}"


def test_a_changed_body_or_another_secret_does_not_match() -> None:
    assert "matches the body" in refusal(HEADER, body=BODY.replace(b"evt_test", b"evt_evil"))
    assert "matches the body" in refusal(HEADER, secret="whsec_other")
    # The prefix is part of the key.
    assert "matches the body" in refusal(HEADER, secret="test_secret")


def test_a_bad_signature_is_reported_before_its_age() -> None:
    assert "matches the body" in refusal(f"t={T},v1={'0' * 64}", now=T + 10_000)


@pytest.mark.parametrize("secret", [None, ""])
def test_no_secret_refuses_everything(secret: str | None) -> None:
    assert refusal(HEADER, secret=secret) == "stripe: no webhook secret is configured"


@pytest.mark.parametrize("event_type", sorted(stripe.ACTED_ON))
def test_acted_on_events_have_no_ignored_reason(event_type: str) -> None:
    parsed = stripe.parse(body_of(EXAMPLE | {"type": event_type}))
    assert (parsed.provider, parsed.event_key, parsed.event_type) == (
        "stripe",
        "evt_1PcFakeEvt0001",
        event_type,
    )
    assert parsed.ignored_reason is None
    assert parsed.visit is None
    assert parsed.payload["data"]["object"]["client_reference_id"] == "pur_8841"


@pytest.mark.parametrize(
    "event_type", ["payment_intent.created", "customer.updated", "checkout.session.expired"]
)
def test_other_events_are_ignored_with_a_reason(event_type: str) -> None:
    parsed = stripe.parse(body_of(EXAMPLE | {"type": event_type}))
    assert parsed.ignored_reason == f"event type {event_type} is not acted on"
    assert parsed.visit is None


def parse_error(body: bytes) -> WebhookRejected:
    return rejection(stripe.parse, body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"id=evt_1", "stripe: body is not JSON"),
        (b"\xff", "stripe: body is not JSON"),
        (b"[]", "stripe: body is JSON but not an object"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400(body: bytes, reason: str) -> None:
    error = parse_error(body)
    assert error.status == 400
    assert error.reason.startswith(reason)


def without(name: str) -> dict[str, Any]:
    return {k: v for k, v in EXAMPLE.items() if k != name}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (without("id"), "stripe: id is missing"),
        (without("type"), "stripe: type is missing"),
        (EXAMPLE | {"id": ""}, "stripe: id must be a non-empty string"),
        (EXAMPLE | {"type": 3}, "stripe: type must be a non-empty string"),
        (without("data"), "stripe checkout.session.completed: data.object is missing"),
        (EXAMPLE | {"data": {}}, "stripe checkout.session.completed: data.object is missing"),
        (EXAMPLE | {"data": []}, "stripe checkout.session.completed: data.object is missing"),
        (
            EXAMPLE | {"data": {"object": "cs_1"}},
            "stripe checkout.session.completed: data.object must be an object",
        ),
    ],
)
def test_missing_fields_are_a_422_naming_them(payload: dict[str, Any], reason: str) -> None:
    error = parse_error(body_of(payload))
    assert (error.status, error.reason) == (422, reason)
