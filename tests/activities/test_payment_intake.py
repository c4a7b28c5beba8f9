"""Which price a Stripe payment must match (real Postgres): our renewal Checkout's amount,
else the package type's list price; anything else is a review, never a sale."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.payment_intake import AMOUNT_MISMATCH, PaymentIntakeActivities
from activities.repository import (
    ClientRepository,
    LocationRecord,
    LocationRepository,
    PackageTypeRepository,
)
from tests.workflows.conftest import ANA, BEN, TWO
from workers.settings import Settings
from workers.worker import build_sale_policy
from workflows.payment_models import PrepareSaleResult, StripePaymentEvent

RAISED = TWO.model_copy(update={"price_cents": 35_000})  # the list price went up since
SESSION = "cs_test_renewal_0001"


@pytest.fixture
async def intake(pool: asyncpg.Pool, client: Client, settings: Settings) -> PaymentIntakeActivities:
    for record in (ANA, BEN):
        await ClientRepository(pool).upsert(record)
    await PackageTypeRepository(pool).upsert(RAISED)
    # The renewal offer of an older duo2 package, priced at that package's terms.
    await pool.execute(
        "INSERT INTO stripe_checkouts (offer_key, package_id, client_id, type_code,"
        " amount_cents, currency, session_id, url) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        "pkg-old/offer/1left",
        "pkg-old",
        ANA.client_id,
        TWO.type_code,
        TWO.price_cents,
        "usd",
        SESSION,
        "https://checkout.stripe.com/c/pay/" + SESSION,
    )
    return PaymentIntakeActivities(
        pool=pool,
        client=client,
        sales=build_sale_policy(settings),
        currency=settings.stripe_currency,
    )


def paid(**fields: Any) -> StripePaymentEvent:
    event: dict[str, Any] = {
        "event_id": "evt_1",
        "event_type": "checkout.session.completed",
        "created": datetime.now(UTC),
        "payment_intent_id": "pi_3Renewal0001",
        "checkout_session_id": SESSION,
        "payment_status": "paid",
        "amount_cents": TWO.price_cents,
        "currency": "usd",
        "metadata": {
            "punchcard_client_id": ANA.client_id,
            "punchcard_type_code": TWO.type_code,
            "punchcard_renews_package_id": "pkg-old",
            "punchcard_offer_key": "pkg-old/offer/1left",
        },
    }
    event.update(fields)
    return StripePaymentEvent(**event)


async def prepare(intake: PaymentIntakeActivities, event: StripePaymentEvent) -> PrepareSaleResult:
    return await ActivityEnvironment().run(intake.prepare_sale, event)


async def test_our_renewal_sells_at_the_price_its_checkout_asked(
    intake: PaymentIntakeActivities,
) -> None:
    by_session = await prepare(intake, paid())
    # payment_intent.succeeded has no session id: the offer key in its metadata finds it.
    by_offer = await prepare(
        intake, paid(event_type="payment_intent.succeeded", checkout_session_id=None)
    )

    for result in (by_session, by_offer):
        assert result.review_reason is None and result.package_input is not None
        assert result.package_input.terms.price_cents == TWO.price_cents
        assert result.package_input.payment is not None
        assert result.package_input.payment.amount_cents == TWO.price_cents


@pytest.mark.parametrize(
    "event",
    [
        # a Payment Link or dashboard session, not ours: today's list price applies
        {
            "checkout_session_id": "cs_test_other",
            "metadata": {
                "punchcard_client_id": ANA.client_id,
                "punchcard_type_code": TWO.type_code,
            },
        },
        # our session, but the metadata names another client: not our offer
        {
            "metadata": {
                "punchcard_client_id": BEN.client_id,
                "punchcard_type_code": TWO.type_code,
                "punchcard_offer_key": "pkg-old/offer/1left",
            }
        },
    ],
    ids=["not-our-session", "other-client"],
)
async def test_old_price_outside_our_renewal_goes_to_review(
    intake: PaymentIntakeActivities, event: dict[str, Any]
) -> None:
    result = await prepare(intake, paid(**event))

    assert result.package_input is None
    assert result.review_reason == AMOUNT_MISMATCH
    assert result.unmatched_reason is not None
    assert "paid $300.00, expected $350.00" in result.unmatched_reason


async def test_discounted_total_goes_to_review(intake: PaymentIntakeActivities) -> None:
    """Stripe's amount_total is after coupons: less than the price is a person's call."""
    result = await prepare(intake, paid(amount_cents=TWO.price_cents - 5_000))

    assert result.package_input is None and result.review_reason == AMOUNT_MISMATCH
    assert result.unmatched_reason is not None and "discount or coupon" in result.unmatched_reason


async def test_a_renewal_stays_at_the_renewed_packages_location(
    intake: PaymentIntakeActivities, pool: asyncpg.Pool
) -> None:
    locations = LocationRepository(pool)
    await locations.insert(
        LocationRecord(location_id="soho", name="SoHo", timezone="America/New_York")
    )
    await locations.insert(
        LocationRecord(location_id="venice", name="Venice", timezone="America/Los_Angeles")
    )
    await pool.execute(
        "INSERT INTO packages (package_id, client_id, type_code, name, kind, status, remaining,"
        " purchased_units, paid_cents, unused_value_cents, purchased_at, last_seq, location_id)"
        " VALUES ('pkg-old', $1, $2, 'Duo', 'sessions', 'active', 1, 2, 30000, 15000, now(), 2,"
        " 'venice')",
        ANA.client_id,
        TWO.type_code,
    )
    renewal = (await prepare(intake, paid())).package_input
    assert renewal is not None
    assert (renewal.location_id, renewal.notices.timezone) == ("venice", "America/Los_Angeles")

    walk_in = await prepare(
        intake,
        paid(
            checkout_session_id="cs_test_other",
            amount_cents=RAISED.price_cents,
            metadata={"punchcard_client_id": ANA.client_id, "punchcard_type_code": TWO.type_code},
        ),
    )
    assert walk_in.package_input is not None  # not a renewal: the default location
    assert (walk_in.package_input.location_id, walk_in.package_input.notices.timezone) == (
        "soho",
        "America/New_York",
    )
