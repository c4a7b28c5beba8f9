"""The Stripe adapter and payment activities against the Stripe stand-in and real Postgres:
what a renewal Checkout Session carries, one session per offer, one refund per refund key,
and which failures retry."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.payments import (
    NOT_CONFIGURED,
    STRIPE_REJECTED,
    STRIPE_UNAVAILABLE,
    PaymentActivities,
    StripeApi,
    refund_issued_by_us,
    without_none,
)
from starter.ingress import stripe as stripe_ingress
from tests.activities.messaging.helpers import add_client, closed_port
from tests.fakes.stripe import CHECKOUT_PATH, REFUNDS_PATH, StripeFake
from workflows.contracts import RefundInput, RenewalCheckoutInput
from workflows.policies import BAD_CONFIGURATION

SUCCESS_URL = "https://spa.example/renewed?session={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://spa.example/renew/{package_id}?cancelled=1"
RENEWAL_URL = "https://spa.example/renew/{package_id}"
EMAIL = "ada@example.com"


@pytest.fixture
async def stripe() -> AsyncIterator[StripeFake]:
    fake = StripeFake()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


def make_api(http: httpx.AsyncClient, stripe: StripeFake, **overrides: Any) -> StripeApi:
    options: dict[str, Any] = {
        "base_url": stripe.base_url,
        "secret_key": SecretStr(stripe.secret_key),
    }
    options.update(overrides)
    return StripeApi(http, **options)


@pytest.fixture
def payments(pool: asyncpg.Pool, http: httpx.AsyncClient, stripe: StripeFake) -> PaymentActivities:
    return PaymentActivities(
        pool=pool,
        stripe=make_api(http, stripe),
        renewal_url=RENEWAL_URL,
        success_url=SUCCESS_URL,
    )


def offer(offer_key: str = "pkg-1/offer/30d", **overrides: Any) -> RenewalCheckoutInput:
    fields: dict[str, Any] = {
        "offer_key": offer_key,
        "package_id": "pkg-1",
        "client_id": "c-1",
        "type_code": "laser6",
        "name": "Laser hair removal, 6 sessions",
        "price_cents": 180_000,
    }
    fields.update(overrides)
    return RenewalCheckoutInput(**fields)


def refund(payment_intent_id: str, amount_cents: int = 60_000, **overrides: Any) -> RefundInput:
    fields: dict[str, Any] = {
        "refund_key": "pkg-1/cancel/refund",
        "package_id": "pkg-1",
        "client_id": "c-1",
        "payment_intent_id": payment_intent_id,
        "amount_cents": amount_cents,
        "reason": "client moved away",
    }
    fields.update(overrides)
    return RefundInput(**fields)


async def refund_row(pool: asyncpg.Pool, key: str = "pkg-1/cancel/refund") -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT refund_id, status, attempts, amount_cents, payment_intent_id, last_error"
        " FROM stripe_refunds WHERE refund_key = $1",
        key,
    )
    assert row is not None, f"no stripe_refunds row for {key}"
    return row


# --- checkout ---------------------------------------------------------------------------


async def test_checkout_session_carries_the_offer_in_both_metadata_places(
    pool: asyncpg.Pool, stripe: StripeFake, payments: PaymentActivities
) -> None:
    await add_client(pool, email=EMAIL)

    result = await ActivityEnvironment().run(payments.create_renewal_checkout, offer())

    assert result.status == "created"
    (request,) = stripe.requests_to(CHECKOUT_PATH)
    metadata = {
        "punchcard_client_id": "c-1",
        "punchcard_type_code": "laser6",
        "punchcard_renews_package_id": "pkg-1",
        "punchcard_offer_key": "pkg-1/offer/30d",
    }
    assert request.params == {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": "180000",
                    "product_data": {"name": "Laser hair removal, 6 sessions"},
                },
                "quantity": "1",
            }
        ],
        "success_url": SUCCESS_URL,
        "client_reference_id": "renewal:pkg-1",
        "customer_email": EMAIL,
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
    }
    assert request.form["line_items[0][price_data][product_data][name]"] == (
        "Laser hair removal, 6 sessions"
    )
    digest = hashlib.sha256(b"pkg-1/offer/30d").hexdigest()
    assert request.idempotency_key == f"punchcard-checkout-{digest}"
    # stripe-python sends the secret key as a Bearer token (§1.1: accepted like Basic).
    assert request.headers["Authorization"] == f"Bearer {stripe.secret_key}"

    session = stripe.sessions[result.session_id or ""]
    assert result.url == session["url"]
    assert result.url.startswith("https://checkout.stripe.com/c/pay/cs_test_")
    assert (session["status"], session["payment_status"]) == ("open", "unpaid")
    row = await pool.fetchrow(
        "SELECT * FROM stripe_checkouts WHERE offer_key = $1", "pkg-1/offer/30d"
    )
    assert row is not None
    assert (row["session_id"], row["url"], row["package_id"], row["type_code"]) == (
        result.session_id,
        result.url,
        "pkg-1",
        "laser6",
    )
    assert row["amount_cents"] == 180_000 and row["expires_at"] is not None


async def test_same_offer_twice_creates_one_session(
    pool: asyncpg.Pool, stripe: StripeFake, payments: PaymentActivities
) -> None:
    await add_client(pool)
    env = ActivityEnvironment()

    first = await env.run(payments.create_renewal_checkout, offer())
    again = await env.run(payments.create_renewal_checkout, offer())
    other = await env.run(payments.create_renewal_checkout, offer("pkg-1/offer/balance-1"))

    assert again == first
    assert other.session_id != first.session_id
    assert len(stripe.sessions) == 2
    keys = [r.idempotency_key for r in stripe.requests_to(CHECKOUT_PATH)]
    assert keys[0] == keys[1] != keys[2]
    count = await pool.fetchval("SELECT count(*) FROM stripe_checkouts")
    assert count == 2


async def test_cancel_url_is_sent_and_missing_email_left_out(
    pool: asyncpg.Pool, http: httpx.AsyncClient, stripe: StripeFake
) -> None:
    await add_client(pool, email=None)
    payments = PaymentActivities(
        pool=pool,
        stripe=make_api(http, stripe),
        renewal_url=RENEWAL_URL,
        currency="EUR",
        success_url=SUCCESS_URL,
        cancel_url=CANCEL_URL,
    )

    await ActivityEnvironment().run(payments.create_renewal_checkout, offer())

    (request,) = stripe.requests_to(CHECKOUT_PATH)
    assert request.params["cancel_url"] == "https://spa.example/renew/pkg-1?cancelled=1"
    assert request.params["line_items"][0]["price_data"]["currency"] == "eur"
    assert "customer_email" not in request.form


async def test_checkout_without_stripe_offers_the_renewal_page(
    pool: asyncpg.Pool, stripe: StripeFake
) -> None:
    payments = PaymentActivities(
        pool=pool, stripe=None, renewal_url=RENEWAL_URL, success_url=SUCCESS_URL
    )

    result = await ActivityEnvironment().run(payments.create_renewal_checkout, offer())

    assert result.status == "not_configured"
    assert result.url == "https://spa.example/renew/pkg-1" and result.session_id is None
    assert stripe.requests == []


async def test_offer_key_reused_for_another_price_is_rejected(
    pool: asyncpg.Pool, stripe: StripeFake, payments: PaymentActivities
) -> None:
    await add_client(pool)
    env = ActivityEnvironment()
    await env.run(payments.create_renewal_checkout, offer())

    with pytest.raises(ApplicationError) as failed:
        await env.run(payments.create_renewal_checkout, offer(price_cents=150_000))

    assert failed.value.type == STRIPE_REJECTED and failed.value.non_retryable
    assert "idempotency_error" in failed.value.message
    assert "same parameters" in failed.value.message
    assert len(stripe.sessions) == 1


async def test_rate_limit_is_retryable_and_honours_retry_after(
    pool: asyncpg.Pool, stripe: StripeFake, payments: PaymentActivities
) -> None:
    await add_client(pool)
    stripe.fail_next(CHECKOUT_PATH, status=429, message="Too many requests", retry_after=7)

    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(payments.create_renewal_checkout, offer())

    assert failed.value.type == STRIPE_UNAVAILABLE and not failed.value.non_retryable
    assert failed.value.next_retry_delay == timedelta(seconds=7)
    assert "429" in failed.value.message and "Too many requests" in failed.value.message
    assert stripe.sessions == {}


async def test_wrong_secret_key_is_bad_configuration(
    pool: asyncpg.Pool, http: httpx.AsyncClient, stripe: StripeFake
) -> None:
    await add_client(pool)
    wrong = "sk_test_not_the_key_at_all_1234"
    payments = PaymentActivities(
        pool=pool,
        stripe=make_api(http, stripe, secret_key=SecretStr(wrong)),
        renewal_url=RENEWAL_URL,
        success_url=SUCCESS_URL,
    )

    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(payments.create_renewal_checkout, offer())

    assert failed.value.type == BAD_CONFIGURATION and failed.value.non_retryable
    assert "401" in failed.value.message and "Invalid API Key" in failed.value.message
    assert wrong not in failed.value.message


async def test_unreachable_stripe_is_retryable(
    pool: asyncpg.Pool, http: httpx.AsyncClient, stripe: StripeFake
) -> None:
    api = make_api(http, stripe, base_url=f"http://127.0.0.1:{closed_port()}")

    with pytest.raises(ApplicationError) as failed:
        await api.create_refund({"payment_intent": "pi_1", "amount": 100}, idempotency_key="k")

    assert failed.value.type == STRIPE_UNAVAILABLE and not failed.value.non_retryable
    assert "unreachable" in failed.value.message


# --- refunds ----------------------------------------------------------------------------


async def test_refund_that_failed_with_500_is_retried_into_exactly_one_refund(
    pool: asyncpg.Pool, stripe: StripeFake, payments: PaymentActivities
) -> None:
    intent = stripe.add_payment_intent(180_000)
    stripe.fail_next_refunds(1, status=500)
    env = ActivityEnvironment()

    with pytest.raises(ApplicationError) as failed:
        await env.run(payments.issue_refund, refund(intent))
    assert failed.value.type == STRIPE_UNAVAILABLE and not failed.value.non_retryable
    assert "500" in failed.value.message
    assert (await refund_row(pool))["status"] == "requested"

    result = await env.run(payments.issue_refund, refund(intent))

    (issued,) = stripe.refunds_for(intent)
    assert (result.refund_id, result.status, result.amount_cents) == (
        issued["id"],
        "succeeded",
        60_000,
    )
    first, second = stripe.requests_to(REFUNDS_PATH)
    digest = hashlib.sha256(b"pkg-1/cancel/refund").hexdigest()
    assert first.idempotency_key == second.idempotency_key == f"punchcard-refund-{digest}"
    assert second.params == {
        "payment_intent": intent,
        "amount": "60000",
        "reason": "requested_by_customer",
        "metadata": {
            "punchcard_package_id": "pkg-1",
            "punchcard_refund_key": "pkg-1/cancel/refund",
        },
    }
    row = await refund_row(pool)
    assert (row["refund_id"], row["status"], row["attempts"]) == (issued["id"], "succeeded", 2)
    assert await refund_issued_by_us(pool, issued["id"])


async def test_refund_whose_answer_was_lost_is_replayed_not_repeated(
    pool: asyncpg.Pool, stripe: StripeFake, payments: PaymentActivities
) -> None:
    intent = stripe.add_payment_intent(180_000)
    stripe.fail_next_refunds(1, when="response_lost")
    env = ActivityEnvironment()

    with pytest.raises(ApplicationError) as failed:
        await env.run(payments.issue_refund, refund(intent))
    assert not failed.value.non_retryable
    assert len(stripe.refunds_for(intent)) == 1  # Stripe did refund; we never heard

    result = await env.run(payments.issue_refund, refund(intent))

    (issued,) = stripe.refunds_for(intent)
    assert result.refund_id == issued["id"]
    assert stripe.payment_intents[intent].amount_refunded == 60_000


async def test_a_500_stripe_stored_keeps_answering_the_same_key(
    pool: asyncpg.Pool, stripe: StripeFake, payments: PaymentActivities
) -> None:
    """Stripe's documented behaviour: once executing, even a 500 is the key's answer, so
    retries stay retryable failures (until the REFUND policy's window ends) and never pay."""
    intent = stripe.add_payment_intent(180_000)
    stripe.fail_next_refunds(1, when="stored", message="Something went wrong on our end")
    env = ActivityEnvironment()

    for _ in range(2):
        with pytest.raises(ApplicationError) as failed:
            await env.run(payments.issue_refund, refund(intent))
        assert failed.value.type == STRIPE_UNAVAILABLE and not failed.value.non_retryable
        assert "Something went wrong on our end" in failed.value.message

    assert stripe.refunds_for(intent) == []
    row = await refund_row(pool)
    assert (row["status"], row["attempts"], row["refund_id"]) == ("requested", 2, None)


async def test_answered_refund_is_not_requested_again(
    pool: asyncpg.Pool, stripe: StripeFake, payments: PaymentActivities
) -> None:
    intent = stripe.add_payment_intent(180_000)
    env = ActivityEnvironment()

    first = await env.run(payments.issue_refund, refund(intent))
    again = await env.run(payments.issue_refund, refund(intent))

    assert again == first
    assert len(stripe.requests_to(REFUNDS_PATH)) == 1


async def test_refund_above_what_remains_is_rejected_with_stripes_message(
    pool: asyncpg.Pool, stripe: StripeFake, payments: PaymentActivities
) -> None:
    intent = stripe.add_payment_intent(50_000)

    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(payments.issue_refund, refund(intent, 60_000))

    assert failed.value.type == STRIPE_REJECTED and failed.value.non_retryable
    assert "amount_too_large" in failed.value.message
    assert "greater than unrefunded amount on charge ($500.00)" in failed.value.message
    row = await refund_row(pool)
    assert row["status"] == "rejected" and row["refund_id"] is None
    assert "greater than unrefunded amount" in row["last_error"]
    assert stripe.refunds == {}


async def test_refund_of_an_already_refunded_charge_is_rejected(
    pool: asyncpg.Pool, stripe: StripeFake, payments: PaymentActivities
) -> None:
    intent = stripe.add_payment_intent(60_000)
    env = ActivityEnvironment()
    await env.run(payments.issue_refund, refund(intent, 60_000))

    with pytest.raises(ApplicationError) as failed:
        await env.run(payments.issue_refund, refund(intent, 100, refund_key="pkg-1/second"))

    assert failed.value.type == STRIPE_REJECTED and failed.value.non_retryable
    assert "charge_already_refunded" in failed.value.message
    assert "has already been refunded" in failed.value.message


async def test_refund_of_an_unknown_payment_is_rejected(
    pool: asyncpg.Pool, stripe: StripeFake, payments: PaymentActivities
) -> None:
    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(payments.issue_refund, refund("pi_3NoSuchIntent"))

    assert failed.value.type == STRIPE_REJECTED and failed.value.non_retryable
    assert "No such payment_intent: 'pi_3NoSuchIntent'" in failed.value.message
    assert failed.value.details[0]["code"] == "resource_missing"


async def test_refund_without_stripe_is_a_configuration_error(pool: asyncpg.Pool) -> None:
    payments = PaymentActivities(
        pool=pool, stripe=None, renewal_url=RENEWAL_URL, success_url=SUCCESS_URL
    )

    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(payments.issue_refund, refund("pi_3Any"))

    assert failed.value.type == BAD_CONFIGURATION and failed.value.non_retryable
    assert failed.value.message == NOT_CONFIGURED
    assert "PUNCHCARD_STRIPE_SECRET_KEY" in failed.value.message


async def test_refund_is_recognised_by_its_key_before_its_id_is_recorded(
    pool: asyncpg.Pool, stripe: StripeFake, payments: PaymentActivities
) -> None:
    intent = stripe.add_payment_intent(180_000)
    stripe.fail_next_refunds(1, status=503)
    with pytest.raises(ApplicationError):
        await ActivityEnvironment().run(payments.issue_refund, refund(intent))

    # A charge.refunded webhook racing the activity: the id is new, the metadata is ours.
    assert await refund_issued_by_us(pool, "re_3Racing", refund_key="pkg-1/cancel/refund")
    assert not await refund_issued_by_us(pool, "re_3Racing")
    assert not await refund_issued_by_us(pool, "re_3Other", refund_key="someone-else")


# --- the wire format and the webhook helpers --------------------------------------------


def test_unset_params_are_left_out_for_the_sdk() -> None:
    params = without_none(
        {
            "mode": "payment",
            "line_items": [{"price_data": {"unit_amount": 500, "x": None}, "quantity": 1}],
            "metadata": {"a": "x"},
            "cancel_url": None,
            "flag": True,
        }
    )

    assert params == {
        "mode": "payment",
        "line_items": [{"price_data": {"unit_amount": 500}, "quantity": 1}],
        "metadata": {"a": "x"},
        "flag": True,
    }


async def test_fake_webhooks_follow_a_paid_renewal_and_its_refund(
    pool: asyncpg.Pool, stripe: StripeFake, payments: PaymentActivities
) -> None:
    """The helpers the end-to-end tests use: signed like Stripe, accepted by our ingress."""
    await add_client(pool)
    env = ActivityEnvironment()
    checkout = await env.run(payments.create_renewal_checkout, offer())
    session = stripe.complete_session(checkout.session_id or "")
    intent = session["payment_intent"]
    issued = await env.run(payments.issue_refund, refund(intent))

    deliveries = [
        stripe.signed(stripe.checkout_completed_event(session["id"])),
        stripe.signed(stripe.payment_intent_succeeded_event(intent)),
        stripe.signed(stripe.charge_refunded_event(intent)),
    ]

    for delivery in deliveries:
        header = delivery.headers[stripe_ingress.SIGNATURE_HEADER]
        stripe_ingress.verify(delivery.body, header, stripe.webhook_secret)
        assert stripe_ingress.parse(delivery.body).event_type in stripe_ingress.ACTED_ON
    completed, succeeded, refunded = (d.event["data"]["object"] for d in deliveries)
    assert completed["payment_status"] == "paid"
    assert completed["metadata"]["punchcard_offer_key"] == "pkg-1/offer/30d"
    assert succeeded["metadata"]["punchcard_renews_package_id"] == "pkg-1"
    assert (refunded["amount_refunded"], refunded["refunded"]) == (60_000, False)
    (listed,) = refunded["refunds"]["data"]
    assert listed["id"] == issued.refund_id
    assert await refund_issued_by_us(
        pool, listed["id"], refund_key=listed["metadata"]["punchcard_refund_key"]
    )
    assert deliveries[2].event["request"]["idempotency_key"].startswith("punchcard-refund-")
    # An endpoint on API version 2022-11-15 or later: no refunds list on the charge, but
    # refund.created carries the Refund with our key.
    bare = stripe.charge_refunded_event(intent, include_refunds=False)["data"]["object"]
    assert "refunds" not in bare and bare["amount_refunded"] == 60_000
    created = stripe.refund_created_event(listed["id"])["data"]["object"]
    assert created["metadata"]["punchcard_refund_key"] == "pkg-1/cancel/refund"
