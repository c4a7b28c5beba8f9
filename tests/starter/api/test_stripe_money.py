"""Money through Stripe on the real stack: renewal offers with Checkout links, signed
payments starting exactly one package, the refund saga, dashboard refunds, and what
subscribers and the CRM hear about it.

The Stripe, HubSpot and subscriber stand-ins speak the providers' wire formats; the
adapters, webhooks, workflows, Temporal and Postgres are the real ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from starter.packages import SaleRequest
from tests.conftest import eventually
from tests.fakes.event_receiver import EventReceiver
from tests.fakes.hubspot import HubSpotFake
from tests.fakes.stripe import StripeFake
from tests.fakes.twilio import TwilioFake
from tests.starter.api.conftest import STRIPE_SECRET, Api
from tests.workflows.conftest import ANA, LASER, TWO, Spa
from workers.settings import Settings
from workflows.ids import payment_workflow_id, stripe_package_id
from workflows.models import PackageStatus
from workflows.payment_models import PaymentOutcome


@pytest.fixture
async def stripe() -> AsyncIterator[StripeFake]:
    fake = StripeFake(webhook_secret=STRIPE_SECRET)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def hubspot() -> AsyncIterator[HubSpotFake]:
    fake = HubSpotFake()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[EventReceiver]:
    fake = EventReceiver()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def settings(
    settings: Settings, stripe: StripeFake, hubspot: HubSpotFake, receiver: EventReceiver
) -> Settings:
    return settings.model_copy(
        update={
            "stripe_base_url": stripe.base_url,
            "stripe_secret_key": SecretStr(stripe.secret_key),
            "crm_provider": "hubspot",
            "hubspot_base_url": hubspot.base_url,
            "hubspot_token": SecretStr(hubspot.token),
            "event_webhook_urls": receiver.url,
            "event_webhook_secret": SecretStr(receiver.secret),
        }
    )


async def post_event(api: Api, stripe: StripeFake, event: dict[str, Any]) -> httpx.Response:
    delivery = stripe.signed(event)
    return await api.http.post("/webhooks/stripe", content=delivery.body, headers=delivery.headers)


async def redeem(api: Api, package_id: str, appointment: str, day: str) -> dict[str, Any]:
    response = await api.http.post(
        f"/api/packages/{package_id}/complete",
        json={"appointment_id": appointment, "service_date": day, "request_id": appointment},
        headers=api.desk,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


RENEW_PREFIX = "https://punchcard.example/renew/"


def renewal_link_in(bodies: list[str]) -> str:
    found = {m for b in bodies for m in re.findall(re.escape(RENEW_PREFIX) + r"[\w-]+", b)}
    assert len(found) == 1, found
    return found.pop()


async def click(api: Api, stripe: StripeFake, link: str) -> str:
    """The client opens the link: 303 to a Checkout Session; returns the session's id."""
    response = await api.http.get(link, follow_redirects=False)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    (session_id,) = [s for s, v in stripe.sessions.items() if v["url"] == location]
    return session_id


async def balance(pool: asyncpg.Pool, package_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT status, remaining, refund_due_cents, payment_intent_id FROM packages "
        "WHERE package_id = $1",
        package_id,
    )


async def kinds(pool: asyncpg.Pool, package_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT kind FROM ledger_entries WHERE package_id = $1 ORDER BY seq", package_id
    )
    return [r["kind"] for r in rows]


# --- renewal through Stripe ---------------------------------------------------------------


async def test_one_left_offer_links_checkout_and_a_paid_renewal_starts_one_package(
    api: Api,
    spa: Spa,
    stripe: StripeFake,
    hubspot: HubSpotFake,
    receiver: EventReceiver,
    twilio: TwilioFake,
) -> None:
    hubspot.add_contact(ANA.email)
    (old,) = await spa.sell(TWO.type_code)
    await redeem(api, old, "appt-1", "2026-11-02")

    # The 1-left alert carries a stable renewal link; a click makes the Checkout Session.
    bodies = await eventually(
        lambda: _async(twilio.sent_to(ANA.phone or "")),
        lambda sent: any(RENEW_PREFIX in b for b in sent),
    )
    link = renewal_link_in(bodies)
    assert stripe.requests_to("/v1/checkout/sessions") == []  # nothing made before a click
    session_id = await click(api, stripe, link)
    (created,) = stripe.requests_to("/v1/checkout/sessions")
    assert created.idempotency_key and created.idempotency_key.startswith("punchcard-")
    for metadata in (created.params["metadata"], created.params["payment_intent_data"]["metadata"]):
        assert metadata["punchcard_client_id"] == ANA.client_id
        assert metadata["punchcard_type_code"] == TWO.type_code
        assert metadata["punchcard_renews_package_id"] == old
    # A second click while the session is open goes to the same session.
    assert await click(api, stripe, link) == session_id
    assert len(stripe.requests_to("/v1/checkout/sessions")) == 1
    # The CRM holds the stable link, not the session's.
    await eventually(lambda: spa.service.state(old), lambda v: v.pending_effects == 0)
    crm_link = json.loads(hubspot.writes()[-1]["body"])["properties"]
    assert link in crm_link.values()

    # The client pays; Stripe sends the checkout event twice and the payment intent's too.
    stripe.complete_session(session_id)
    pi = stripe.sessions[session_id]["payment_intent"]
    # The old package's own CRM write (after the redemption) must be in before counting.
    await eventually(lambda: spa.service.state(old), lambda v: v.pending_effects == 0)
    crm_before = len(hubspot.writes())
    event = stripe.checkout_completed_event(session_id)
    first = await post_event(api, stripe, event)
    again = await post_event(api, stripe, event)
    also = await post_event(api, stripe, stripe.payment_intent_succeeded_event(pi))
    assert [r.status_code for r in (first, again, also)] == [200, 200, 200]
    assert [first.json()["status"], again.json()["status"]] == ["accepted", "duplicate"]

    renewal = stripe_package_id(pi)
    row = await eventually(lambda: balance(spa.pool, renewal), lambda r: r is not None)
    assert row is not None
    assert (row["status"], row["remaining"], row["payment_intent_id"]) == ("active", 2, pi)
    packages = await spa.pool.fetchval(
        "SELECT count(*) FROM packages WHERE client_id = $1", ANA.client_id
    )
    assert packages == 2  # the old one and exactly one renewal

    # Told once; the CRM hears of the renewal once; subscribers get created + renewed once.
    await eventually(lambda: spa.messages("renewal"), lambda n: n == 1)
    renewal_writes = await eventually(
        lambda: _async(hubspot.writes()[crm_before:]), lambda w: len(w) >= 1
    )
    events = await eventually(
        lambda: _async([e for e in receiver.events if e["data"]["package_id"] == renewal]),
        lambda found: len(found) >= 2,
    )
    await eventually(lambda: spa.service.state(renewal), lambda v: v.pending_effects == 0)
    assert len(hubspot.writes()[crm_before:]) == len(renewal_writes) == 1
    sent = json.loads(renewal_writes[0]["body"])["properties"]
    assert sent["punchcard_sessions_remaining"] == "2"
    assert sorted(e["type"] for e in events) == ["package.created", "package.renewed"]
    assert len({e["id"] for e in events}) == 2
    assert all(d.signature_ok for d in receiver.deliveries)
    assert await spa.messages("renewal") == 1


async def test_payment_we_cannot_tie_goes_to_review(api: Api, spa: Spa, stripe: StripeFake) -> None:
    pi = stripe.add_payment_intent(50_000, metadata={})
    response = await post_event(api, stripe, stripe.payment_intent_succeeded_event(pi))
    assert response.status_code == 200
    item = await eventually(
        lambda: spa.pool.fetchrow(
            "SELECT kind, reason, detail FROM review_items WHERE item_id = $1", f"payment:{pi}"
        ),
        lambda r: r is not None,
    )
    assert item is not None
    assert (item["kind"], item["reason"]) == ("payment", "unmatched_payment")
    assert pi in item["detail"] and "no Punchcard metadata" in item["detail"]
    assert await balance(spa.pool, stripe_package_id(pi)) is None


async def test_payment_unlike_the_price_goes_to_review_and_sells_nothing(
    api: Api, spa: Spa, stripe: StripeFake
) -> None:
    """A Checkout for less than the package type lists (a coupon, a hand-made session)."""
    metadata = {"punchcard_client_id": ANA.client_id, "punchcard_type_code": LASER.type_code}
    session = await _session(stripe, metadata, amount=LASER.price_cents - 30_000)
    stripe.complete_session(session)
    pi = stripe.sessions[session]["payment_intent"]
    for event in (
        stripe.checkout_completed_event(session),
        stripe.payment_intent_succeeded_event(pi),
    ):
        response = await post_event(api, stripe, event)
        assert (response.status_code, response.json()["status"]) == (200, "accepted")

    handle = spa.service._client.get_workflow_handle(payment_workflow_id("stripe", pi))
    outcome = await eventually(
        lambda: handle.query("outcome", result_type=PaymentOutcome),
        lambda o: len(o.notes) == 2,
    )
    assert outcome.package_ids == []
    item = await spa.pool.fetchrow(
        "SELECT kind, reason, detail, status FROM review_items WHERE item_id = $1",
        f"payment:{pi}",
    )
    assert item is not None
    assert (item["kind"], item["reason"], item["status"]) == ("payment", "amount_mismatch", "open")
    assert pi in item["detail"] and "paid $1,500.00, expected $1,800.00" in item["detail"]
    assert await balance(spa.pool, stripe_package_id(pi)) is None
    assert (
        await spa.pool.fetchval(
            "SELECT count(*) FROM review_items WHERE item_id = $1", f"payment:{pi}"
        )
        == 1
    )


async def test_delayed_payment_starts_the_package_only_when_it_succeeds(
    api: Api, spa: Spa, stripe: StripeFake
) -> None:
    metadata = {"punchcard_client_id": ANA.client_id, "punchcard_type_code": LASER.type_code}
    session = await _session(stripe, metadata)
    stripe.complete_session(session, payment_status="unpaid")
    pi = stripe.sessions[session]["payment_intent"]
    await post_event(api, stripe, stripe.checkout_completed_event(session))
    stripe.succeed_async_payment(session)
    await post_event(api, stripe, stripe.async_payment_succeeded_event(session))
    row = await eventually(
        lambda: balance(spa.pool, stripe_package_id(pi)), lambda r: r is not None
    )
    assert row is not None and row["remaining"] == LASER.units


async def test_renewal_link_clicked_two_days_later_opens_a_fresh_session_and_sells_once(
    api: Api, spa: Spa, stripe: StripeFake, twilio: TwilioFake
) -> None:
    (old,) = await spa.sell(TWO.type_code)
    await redeem(api, old, "appt-1", "2026-11-02")
    bodies = await eventually(
        lambda: _async(twilio.sent_to(ANA.phone or "")),
        lambda sent: any(RENEW_PREFIX in b for b in sent),
    )
    link = renewal_link_in(bodies)
    first = await click(api, stripe, link)

    # Two days pass: Stripe expired the session (24 h) and we recorded its expiry.
    stripe.expire_session(first)
    await spa.pool.execute(
        "UPDATE stripe_checkouts SET expires_at = now() - interval '1 day' WHERE session_id = $1",
        first,
    )
    fresh = await click(api, stripe, link)
    assert fresh != first and stripe.sessions[fresh]["status"] == "open"
    keys = [r.idempotency_key for r in stripe.requests_to("/v1/checkout/sessions")]
    assert len(keys) == 2 and len(set(keys)) == 2  # the next generation's key, once
    assert await click(api, stripe, link) == fresh  # clicked again: the same fresh session
    assert len(stripe.requests_to("/v1/checkout/sessions")) == 2

    # Paid, delivered twice plus the intent's event: one package.
    stripe.complete_session(fresh)
    pi = stripe.sessions[fresh]["payment_intent"]
    event = stripe.checkout_completed_event(fresh)
    for delivery in (event, event, stripe.payment_intent_succeeded_event(pi)):
        assert (await post_event(api, stripe, delivery)).status_code == 200
    renewal = stripe_package_id(pi)
    row = await eventually(lambda: balance(spa.pool, renewal), lambda r: r is not None)
    assert row is not None and row["status"] == "active"
    packages = await spa.pool.fetchval(
        "SELECT count(*) FROM packages WHERE client_id = $1", ANA.client_id
    )
    assert packages == 2

    # Once paid, the link says so instead of selling again; a made-up one is unknown.
    again = await api.http.get(link, follow_redirects=False)
    assert again.status_code == 410 and "already been renewed" in again.text
    unknown = await api.http.get(RENEW_PREFIX + "x" * 32, follow_redirects=False)
    assert unknown.status_code == 404 and "call" in unknown.text.lower()
    assert len(stripe.requests_to("/v1/checkout/sessions")) == 2


async def test_revoked_or_expired_renewal_link_is_gone_and_says_to_call(
    api: Api, spa: Spa, stripe: StripeFake, twilio: TwilioFake
) -> None:
    (old,) = await spa.sell(TWO.type_code)
    await redeem(api, old, "appt-1", "2026-11-02")
    bodies = await eventually(
        lambda: _async(twilio.sent_to(ANA.phone or "")),
        lambda sent: any(RENEW_PREFIX in b for b in sent),
    )
    link = renewal_link_in(bodies)
    token = link.rsplit("/", 1)[1]
    stored = await spa.pool.fetchrow("SELECT * FROM renewal_links WHERE package_id = $1", old)
    assert stored is not None and token.encode() not in bytes(stored["token_hash"])
    expiry = await spa.pool.fetchval("SELECT expires_at FROM packages WHERE package_id = $1", old)
    assert stored["expires_at"] == expiry  # the link dies with the package

    await spa.pool.execute(
        "UPDATE renewal_links SET expires_at = now() - interval '1 second' WHERE package_id = $1",
        old,
    )
    expired = await api.http.get(link, follow_redirects=False)
    assert expired.status_code == 410 and "expired" in expired.text

    refused = await api.http.post(f"/api/packages/{old}/renewal-links/revoke", headers=api.desk)
    assert refused.status_code == 403
    revoked = await api.http.post(f"/api/packages/{old}/renewal-links/revoke", headers=api.manager)
    assert revoked.status_code == 200 and revoked.json()["revoked"] == 1
    gone = await api.http.get(link, follow_redirects=False)
    assert gone.status_code == 410 and "withdrawn" in gone.text
    assert "call" in gone.text.lower()
    assert stripe.requests_to("/v1/checkout/sessions") == []


# --- refunds ------------------------------------------------------------------------------


async def test_cancel_with_refund_refunds_once_even_when_stripe_fails_first(
    api: Api, spa: Spa, stripe: StripeFake, twilio: TwilioFake
) -> None:
    pi = stripe.add_payment_intent(LASER.price_cents)
    package = await _sold_with_payment(spa, pi)
    await redeem(api, package, "appt-1", "2026-11-02")
    await redeem(api, package, "appt-2", "2026-11-09")
    stripe.fail_next_refunds(1, status=500)

    response = await api.http.post(
        f"/api/packages/{package}/cancel",
        json={"reason": "moving away", "issue_refund": True},
        headers=api.manager,
    )
    assert response.status_code == 200, response.text
    due = LASER.price_cents * 4 // 6  # 4 of 6 sessions unused, pro rata
    assert response.json()["refund_due_cents"] == due

    refunds = await eventually(lambda: _async(stripe.refunds_for(pi)), lambda r: len(r) >= 1)
    await eventually(lambda: kinds(spa.pool, package), lambda k: "refund" in k)
    attempts = stripe.requests_to("/v1/refunds")
    assert len(attempts) == 2  # the failed one and its retry
    assert len({a.idempotency_key for a in attempts}) == 1
    assert len(stripe.refunds_for(pi)) == len(refunds) == 1
    assert refunds[0]["amount"] == due
    await eventually(lambda: spa.messages("refund"), lambda n: n == 1)
    outcome = await spa.outcome(package)
    assert outcome.status is PackageStatus.CANCELLED

    # Stripe then reports the refund we issued: recorded already, nothing changes.
    (refund_id,) = stripe.refunds
    echo = await post_event(api, stripe, stripe.refund_created_event(refund_id))
    assert echo.status_code == 200
    assert (await kinds(spa.pool, package)).count("refund") == 1


async def test_refund_stripe_refuses_undoes_the_cancellation(
    api: Api, spa: Spa, stripe: StripeFake
) -> None:
    package = await _sold_with_payment(spa, "pi_3NotAtStripe0000000000")
    response = await api.http.post(
        f"/api/packages/{package}/cancel",
        json={"reason": "changed mind", "issue_refund": True},
        headers=api.manager,
    )
    assert response.status_code == 200, response.text
    row = await eventually(
        lambda: balance(spa.pool, package),
        lambda r: r is not None and r["status"] == "active" and r["remaining"] == LASER.units,
    )
    assert row is not None and row["refund_due_cents"] is None
    assert (await kinds(spa.pool, package))[-2:] == ["cancellation", "refund_failed"]
    alert = await eventually(
        lambda: spa.pool.fetchval(
            "SELECT message FROM staff_alerts WHERE package_id = $1 AND kind = 'refund_failed'",
            package,
        ),
        lambda m: m is not None,
    )
    assert "cancellation was undone" in alert
    assert stripe.refunds == {}
    # The package is usable again.
    await redeem(api, package, "appt-after", "2026-11-20")


async def test_cancel_with_refund_needs_a_stripe_payment(api: Api, spa: Spa) -> None:
    (package,) = await spa.sell(LASER.type_code)
    response = await api.http.post(
        f"/api/packages/{package}/cancel",
        json={"reason": "x", "issue_refund": True},
        headers=api.manager,
    )
    assert response.status_code == 409
    assert "was not paid through Stripe" in response.json()["detail"]
    row = await balance(spa.pool, package)
    assert row is not None and row["status"] == "active"


async def test_dashboard_refunds_reduce_then_cancel_the_package(
    api: Api, spa: Spa, stripe: StripeFake
) -> None:
    pi = stripe.add_payment_intent(LASER.price_cents)
    package = await _sold_with_payment(spa, pi)
    per_session = LASER.price_cents // LASER.units

    partial = await _dashboard_refund(stripe, pi, per_session)
    assert (await post_event(api, stripe, stripe.refund_created_event(partial))).status_code == 200
    await eventually(
        lambda: balance(spa.pool, package),
        lambda r: r is not None and r["remaining"] == LASER.units - 1,
    )
    # A redelivery of the same refund takes nothing more.
    await post_event(api, stripe, stripe.refund_created_event(partial))

    rest = await _dashboard_refund(stripe, pi, LASER.price_cents - per_session)
    await post_event(api, stripe, stripe.refund_created_event(rest))
    row = await eventually(
        lambda: balance(spa.pool, package), lambda r: r is not None and r["status"] == "cancelled"
    )
    assert row is not None and row["remaining"] == 0
    assert (await kinds(spa.pool, package))[-2:] == ["refund", "cancellation"]


# --- helpers -------------------------------------------------------------------------------


async def _async(value: Any) -> Any:
    return value


async def _sold_with_payment(spa: Spa, payment_intent_id: str) -> str:
    result = await spa.service.sell(
        SaleRequest(
            client_id=ANA.client_id,
            type_code=LASER.type_code,
            payment_intent_id=payment_intent_id,
        )
    )
    (package,) = result.package_ids
    assert await spa.service.wait_recorded(package)
    return package


async def _session(
    stripe: StripeFake, metadata: dict[str, str], *, amount: int = LASER.price_cents
) -> str:
    async with httpx.AsyncClient(base_url=stripe.base_url, auth=(stripe.secret_key, "")) as http:
        response = await http.post(
            "/v1/checkout/sessions",
            data={
                "mode": "payment",
                "success_url": "https://spa.example/ok",
                "line_items[0][quantity]": "1",
                "line_items[0][price_data][currency]": "usd",
                "line_items[0][price_data][unit_amount]": str(amount),
                "line_items[0][price_data][product_data][name]": LASER.name,
                **{f"metadata[{k}]": v for k, v in metadata.items()},
                **{f"payment_intent_data[metadata][{k}]": v for k, v in metadata.items()},
            },
        )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def _dashboard_refund(stripe: StripeFake, pi: str, amount: int) -> str:
    """A refund a person makes in the Stripe dashboard: no Punchcard metadata."""
    async with httpx.AsyncClient(base_url=stripe.base_url, auth=(stripe.secret_key, "")) as http:
        response = await http.post(
            "/v1/refunds", data={"payment_intent": pi, "amount": str(amount)}
        )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])
