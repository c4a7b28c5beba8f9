"""A renewal paid through Stripe on the real stack is also sold in Mindbody, once, as the
pricing option mapped to its package type; the package sold at the desk is not.

Stripe and Mindbody stand-ins speak the providers' wire formats; the API, webhooks,
workflows, effects pipeline, Temporal and Postgres are the real ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from tests.conftest import eventually
from tests.fakes.mindbody import MindbodyFake
from tests.fakes.stripe import StripeFake
from tests.fakes.twilio import TwilioFake
from tests.starter.api.conftest import ANA_MINDBODY, STRIPE_SECRET, Api
from tests.starter.api.test_stripe_money import (
    RENEW_PREFIX,
    balance,
    click,
    post_event,
    redeem,
    renewal_link_in,
)
from tests.workflows.conftest import ANA, TWO, Spa
from workers.settings import Settings
from workflows.ids import stripe_package_id

OPTION = 20202


@pytest.fixture
async def mindbody_api() -> AsyncIterator[MindbodyFake]:
    fake = MindbodyFake(staff_token="staff-token-1")
    fake.add_client(ANA_MINDBODY)
    fake.pricing_options[OPTION] = {"Id": OPTION, "Name": "Facial duo", "Price": 300.0}
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def stripe() -> AsyncIterator[StripeFake]:
    fake = StripeFake(webhook_secret=STRIPE_SECRET)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def settings(settings: Settings, stripe: StripeFake, mindbody_api: MindbodyFake) -> Settings:
    return settings.model_copy(
        update={
            "stripe_base_url": stripe.base_url,
            "stripe_secret_key": SecretStr(stripe.secret_key),
            "mindbody_staff_token": SecretStr(mindbody_api.staff_token or ""),
            "mindbody_site_id": mindbody_api.site_id,
            "mindbody_renewal_pricing_options": f"{TWO.type_code}={OPTION}",
        }
    )


async def _sales(fake: MindbodyFake) -> list[dict[str, object]]:
    return list(fake.sales)


async def test_a_stripe_renewal_lands_as_one_pricing_option_sale_in_mindbody(
    api: Api, spa: Spa, stripe: StripeFake, mindbody_api: MindbodyFake, twilio: TwilioFake
) -> None:
    (old,) = await spa.sell(TWO.type_code)
    await redeem(api, old, "appt-1", "2026-11-02")
    # The 1-left alert's stable renewal link makes the Checkout Session when clicked.
    bodies = await eventually(
        lambda: _texts(twilio), lambda sent: any(RENEW_PREFIX in b for b in sent)
    )
    session_id = await click(api, stripe, renewal_link_in(bodies))
    stripe.complete_session(session_id)
    pi = stripe.sessions[session_id]["payment_intent"]

    event = stripe.checkout_completed_event(session_id)
    for _ in range(2):  # Stripe delivers it twice
        assert (await post_event(api, stripe, event)).status_code == 200
    renewal = stripe_package_id(pi)
    await eventually(lambda: balance(spa.pool, renewal), lambda r: r is not None)
    await eventually(lambda: spa.service.state(renewal), lambda v: v.pending_effects == 0)
    await eventually(lambda: spa.service.state(old), lambda v: v.pending_effects == 0)

    [sale] = await eventually(lambda: _sales(mindbody_api), lambda s: len(s) >= 1)
    assert sale["ClientId"] == ANA_MINDBODY
    assert sale["Items"] == [
        {"Item": {"Type": "Service", "Metadata": {"Id": OPTION}}, "Quantity": 1}
    ]
    assert sale["Payments"] == [{"Type": "Comp", "Metadata": {"Amount": 300.0}}]
    assert sale["CartId"] == f"punchcard-{renewal}"
    rows = await spa.pool.fetch(
        "SELECT package_id, status FROM integration_syncs WHERE target = 'mindbody_sale'"
    )
    assert [(r["package_id"], r["status"]) for r in rows] == [(renewal, "updated")]


async def _texts(twilio: TwilioFake) -> list[str]:
    return list(twilio.sent_to(ANA.phone or ""))
