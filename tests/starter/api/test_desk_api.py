"""What the desk reads and asks for beyond the visit itself: the renewal link (through the
Stripe stand-in, and the spa's page without Stripe), shared packages, history dates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from tests.conftest import eventually
from tests.fakes.stripe import CHECKOUT_PATH, StripeFake
from tests.starter.api.conftest import STRIPE_SECRET, Api
from tests.workflows.conftest import ANA, BEN, COUPLES, LASER, TWO, Spa
from workers.settings import Settings
from workflows.ids import stripe_package_id


@pytest.fixture
async def stripe() -> AsyncIterator[StripeFake]:
    fake = StripeFake(webhook_secret=STRIPE_SECRET)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def settings(settings: Settings, stripe: StripeFake) -> Settings:
    return settings.model_copy(
        update={
            "stripe_base_url": stripe.base_url,
            "stripe_secret_key": SecretStr(stripe.secret_key),
        }
    )


async def use_up(api: Api, package_id: str, count: int) -> None:
    today = date.today()
    for n in range(count):
        response = await api.http.post(
            f"/api/packages/{package_id}/complete",
            json={"request_id": f"use-{n}", "service_date": str(today - timedelta(days=n + 2))},
            headers=api.desk,
        )
        assert response.status_code == 200, response.text


async def test_renewal_link_is_one_stripe_checkout_the_client_pays(
    api: Api, spa: Spa, stripe: StripeFake
) -> None:
    (old,) = await spa.sell(TWO.type_code)
    await use_up(api, old, 2)

    first = await api.http.post(f"/api/packages/{old}/renewal-link", headers=api.desk)
    again = await api.http.post(f"/api/packages/{old}/renewal-link", headers=api.desk)

    assert first.status_code == again.status_code == 200, first.text
    link = first.json()
    assert link["status"] == "created"
    assert link["url"].startswith("https://checkout.stripe.com/")
    assert (link["name"], link["price_cents"]) == (TWO.name, TWO.price_cents)
    # Clicking twice gives the same session: one offer key, Stripe replays its answer.
    assert again.json()["url"] == link["url"]
    assert again.json()["session_id"] == link["session_id"]
    # (The package's own 1-left offer made a session of its own under its own key.)
    requests = [
        r
        for r in stripe.requests_to(CHECKOUT_PATH)
        if r.params["metadata"]["punchcard_offer_key"] == link["offer_key"]
    ]
    assert len(requests) == 2
    assert len({r.idempotency_key for r in requests}) == 1
    desk_sessions = [
        s
        for s in stripe.sessions.values()
        if s["metadata"]["punchcard_offer_key"] == link["offer_key"]
    ]
    assert len(desk_sessions) == 1
    metadata = requests[0].params["metadata"]
    assert metadata["punchcard_renews_package_id"] == old
    assert metadata["punchcard_client_id"] == ANA.client_id

    # The client pays on their phone: Stripe's event starts the new package.
    stripe.complete_session(link["session_id"])
    delivery = stripe.signed(stripe.checkout_completed_event(link["session_id"]))
    paid = await api.http.post("/webhooks/stripe", content=delivery.body, headers=delivery.headers)
    assert paid.status_code == 200, paid.text
    renewal = stripe_package_id(stripe.sessions[link["session_id"]]["payment_intent"])
    row = await eventually(lambda: spa.ledger.balance(renewal), lambda r: r is not None)
    assert row is not None and (row.client_id, row.remaining) == (ANA.client_id, 2)


async def test_renewal_link_refuses_in_words(api: Api, spa: Spa, stripe: StripeFake) -> None:
    missing = await api.http.post("/api/packages/no-such-pkg/renewal-link", headers=api.desk)
    assert missing.status_code == 404
    assert "no-such-pkg" in missing.json()["detail"]

    (package,) = await spa.sell(LASER.type_code)
    cancelled = await api.http.post(
        f"/api/packages/{package}/cancel", json={"reason": "moved away"}, headers=api.manager
    )
    assert cancelled.status_code == 200, cancelled.text
    await eventually(
        lambda: spa.ledger.balance(package), lambda r: r is not None and r.status == "cancelled"
    )
    closed = await api.http.post(f"/api/packages/{package}/renewal-link", headers=api.desk)
    assert closed.status_code == 409
    assert f"package {package} is cancelled" in closed.json()["detail"]
    assert "sell a new package" in closed.json()["detail"]

    unsigned = await api.http.post(f"/api/packages/{package}/renewal-link")
    assert unsigned.status_code == 401
    assert stripe.sessions == {}


async def test_shared_package_names_the_other_attendee(api: Api, spa: Spa) -> None:
    mine, bens = await spa.sell(COUPLES.type_code, shared_with=[BEN.client_id])
    await eventually(lambda: spa.ledger.balance(bens), lambda r: r is not None)

    detail = await api.http.get(f"/api/clients/{ANA.client_id}", headers=api.desk)
    (package,) = detail.json()["packages"]
    assert package["package_id"] == mine
    assert package["shared_with"] == [{"client_id": BEN.client_id, "name": BEN.name}]
    assert package["remaining_label"] == "2 sessions left"
    alone = await spa.sell(LASER.type_code, BEN.client_id)
    one = await api.http.get(f"/api/packages/{alone[0]}", headers=api.desk)
    assert one.json()["shared_with"] == []


async def test_history_dates_visits_by_service_day_in_the_spa_zone(
    api: Api, spa: Spa, settings: Settings
) -> None:
    (package,) = await spa.sell(LASER.type_code)
    zone = ZoneInfo(settings.spa_timezone)
    today = datetime.now(zone).date()
    month_ago = today - timedelta(days=30)
    for key, day in (("a-old", month_ago), ("a-new", today - timedelta(days=1))):
        response = await api.http.post(
            f"/api/packages/{package}/complete",
            json={"appointment_id": key, "service_date": str(day)},
            headers=api.desk,
        )
        assert response.status_code == 200, response.text
    await eventually(lambda: spa.ledger.count_entries(package, "redemption"), lambda n: n == 2)

    lines = (await api.http.get(f"/api/packages/{package}/history", headers=api.desk)).json()
    by_kind = {(line["kind"], line["appointment_id"]): line for line in lines}
    old = by_kind[("redemption", "a-old")]
    new = by_kind[("redemption", "a-new")]
    sale = by_kind[("sale", None)]
    # Two visits a month apart, both recorded today, read as the days they happened.
    assert (old["day"], old["day_is_service_date"]) == (str(month_ago), True)
    assert new["day"] == str(today - timedelta(days=1))
    assert (sale["day"], sale["day_is_service_date"]) == (str(today), False)
    abbreviation = datetime.now(zone).tzname() or ""
    assert old["recorded_label"].endswith(abbreviation)
    assert str(today.day) in old["recorded_label"]
