"""Money through Square on the real stack: a renewal offer's stable link opens a Square
payment link, the payment (delivered three times, at once) starts exactly one package,
and the refund saga refunds once through the Refunds API even when Square fails first.

The Square and Twilio stand-ins speak the providers' wire formats; the adapters,
webhooks, workflows, Temporal and Postgres are the real ones.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from starter.packages import SaleRequest
from tests.conftest import eventually
from tests.fakes.square import PAYMENT_LINKS_PATH, REFUNDS_PATH, SquareFake
from tests.fakes.twilio import TwilioFake
from tests.starter.api.conftest import Api
from tests.workflows.conftest import ANA, LASER, TWO, Spa
from workers.settings import Settings
from workflows.ids import stripe_package_id
from workflows.models import PackageStatus

NOTIFICATION_URL = "https://punchcard.example/webhooks/square"
RENEW_PREFIX = "https://punchcard.example/renew/"


@pytest.fixture
async def square() -> AsyncIterator[SquareFake]:
    fake = SquareFake()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def settings(settings: Settings, square: SquareFake) -> Settings:
    return settings.model_copy(
        update={
            "payment_processor": "square",
            "square_base_url": square.base_url,
            "square_access_token": SecretStr(square.access_token),
            "square_location_id": square.location_id,
            "square_webhook_signature_key": SecretStr(square.signature_key),
        }
    )


async def post_event(api: Api, square: SquareFake, event: dict[str, Any]) -> httpx.Response:
    note = square.signed(event, NOTIFICATION_URL)
    return await api.http.post("/webhooks/square", content=note.body, headers=note.headers)


async def _async(value: Any) -> Any:
    return value


async def redeem(api: Api, package_id: str, appointment: str, day: str) -> None:
    response = await api.http.post(
        f"/api/packages/{package_id}/complete",
        json={"appointment_id": appointment, "service_date": day, "request_id": appointment},
        headers=api.desk,
    )
    assert response.status_code == 200, response.text


async def test_renewal_through_square_starts_one_package_however_often_square_says_so(
    api: Api, spa: Spa, square: SquareFake, twilio: TwilioFake
) -> None:
    (old,) = await spa.sell(TWO.type_code)
    await redeem(api, old, "appt-1", "2026-11-02")
    bodies = await eventually(
        lambda: _async(twilio.sent_to(ANA.phone or "")),
        lambda sent: any(RENEW_PREFIX in b for b in sent),
    )
    (link,) = {m for b in bodies for m in re.findall(re.escape(RENEW_PREFIX) + r"[\w-]+", b)}

    clicked = await api.http.get(link, follow_redirects=False)
    assert clicked.status_code == 303, clicked.text
    (created,) = square.requests_to(PAYMENT_LINKS_PATH)
    assert created.headers["Authorization"] == f"Bearer {square.access_token}"
    assert created.headers["Square-Version"]
    quick = created.body["quick_pay"]
    assert quick["price_money"] == {"amount": TWO.price_cents, "currency": "USD"}
    assert quick["location_id"] == square.location_id
    (link_id,) = square.links
    assert clicked.headers["location"] == square.links[link_id]["url"]
    # A second click: the same payment link (it does not expire), no new request.
    again = await api.http.get(link, follow_redirects=False)
    assert again.headers["location"] == clicked.headers["location"]
    assert len(square.requests_to(PAYMENT_LINKS_PATH)) == 1

    payment = square.pay_link(link_id, email=ANA.email)
    event = square.payment_updated_event(payment["id"])
    answers = await asyncio.gather(*(post_event(api, square, event) for _ in range(3)))
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert sorted(a.json()["status"] for a in answers).count("accepted") == 1

    renewal = stripe_package_id(payment["id"])
    row = await eventually(
        lambda: spa.pool.fetchrow(
            "SELECT status, remaining, payment_intent_id FROM packages WHERE package_id = $1",
            renewal,
        ),
        lambda r: r is not None,
    )
    assert row is not None
    assert (row["status"], row["remaining"], row["payment_intent_id"]) == (
        "active",
        2,
        payment["id"],
    )
    count = await spa.pool.fetchval(
        "SELECT count(*) FROM packages WHERE client_id = $1", ANA.client_id
    )
    assert count == 2  # the old one and exactly one renewal
    await eventually(lambda: spa.messages("renewal"), lambda n: n == 1)
    # The link now says the package was renewed.
    done = await api.http.get(link, follow_redirects=False)
    assert done.status_code == 410 and "already been renewed" in done.text


async def test_square_refund_that_fails_first_refunds_once(
    api: Api, spa: Spa, square: SquareFake
) -> None:
    payment_id = square.add_payment(LASER.price_cents)
    result = await spa.service.sell(
        SaleRequest(
            client_id=ANA.client_id, type_code=LASER.type_code, payment_intent_id=payment_id
        )
    )
    (package,) = result.package_ids
    assert await spa.service.wait_recorded(package)
    await redeem(api, package, "appt-1", "2026-11-02")
    square.fail_next(REFUNDS_PATH, status=500)

    response = await api.http.post(
        f"/api/packages/{package}/cancel",
        json={"reason": "moving away", "issue_refund": True},
        headers=api.manager,
    )
    assert response.status_code == 200, response.text
    due = LASER.price_cents * 5 // 6

    refunds = await eventually(
        lambda: _async(square.refunds_for(payment_id)), lambda r: len(r) >= 1
    )
    attempts = square.requests_to(REFUNDS_PATH)
    kinds = await eventually(
        lambda: spa.pool.fetch(
            "SELECT kind FROM ledger_entries WHERE package_id = $1 ORDER BY seq", package
        ),
        lambda rows: "refund" in [r["kind"] for r in rows],
    )
    assert len(attempts) == 2  # the failed one and its retry, under one key
    assert len({a.body["idempotency_key"] for a in attempts}) == 1
    assert len(attempts[0].body["idempotency_key"]) <= 45
    assert refunds[0]["amount_money"] == {"amount": due, "currency": "USD"}
    assert len(square.refunds_for(payment_id)) == 1
    assert (await spa.outcome(package)).status is PackageStatus.CANCELLED

    # Square completes the refund and says so: ours, recorded already, nothing changes.
    (refund_id,) = square.refunds
    square.complete_refund(refund_id)
    echo = await post_event(api, square, square.refund_updated_event(refund_id))
    assert echo.status_code == 200 and echo.json()["status"] == "accepted"
    await eventually(
        lambda: spa.pool.fetchval("SELECT count(*) FROM inbound_events WHERE provider = 'square'"),
        lambda n: n == 1,
    )
    rows = await spa.pool.fetch("SELECT kind FROM ledger_entries WHERE package_id = $1", package)
    assert [r["kind"] for r in rows].count("refund") == 1
    assert [r["kind"] for r in kinds].count("refund") == 1


async def test_square_signature_is_checked_against_url_and_body(
    api: Api, square: SquareFake
) -> None:
    payment_id = square.add_payment(LASER.price_cents)
    event = square.payment_updated_event(payment_id)
    wrong_url = square.signed(event, "https://elsewhere.example/webhooks/square")
    refused = await api.http.post(
        "/webhooks/square", content=wrong_url.body, headers=wrong_url.headers
    )
    assert refused.status_code == 401
    good = square.signed(event, NOTIFICATION_URL)
    tampered = await api.http.post(
        "/webhooks/square",
        content=good.body.replace(b"COMPLETED", b"COMPLETEd"),
        headers=good.headers,
    )
    assert tampered.status_code == 401
