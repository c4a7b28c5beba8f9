"""The client's own page on the real stack: the link a confirmation text carries (the
Twilio stand-in receives it), what the page shows, and the links it refuses."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from tests.conftest import eventually
from tests.fakes.stripe import StripeFake
from tests.fakes.twilio import TwilioFake
from tests.starter.api.conftest import STRIPE_SECRET, Api
from tests.workflows.conftest import ANA, BEN, LASER, TWO, Spa
from workers.settings import Settings

PAGE_PREFIX = "https://punchcard.example/me/"


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
    """Stripe on, so a one-left offer carries a stable renewal link."""
    return settings.model_copy(
        update={
            "stripe_base_url": stripe.base_url,
            "stripe_secret_key": SecretStr(stripe.secret_key),
        }
    )


async def _async(value: Any) -> Any:
    return value


def page_links_in(bodies: list[str]) -> set[str]:
    return {m for b in bodies for m in re.findall(re.escape(PAGE_PREFIX) + r"[\w-]+", b)}


async def redeem(api: Api, package_id: str, appointment: str, day: str) -> None:
    response = await api.http.post(
        f"/api/packages/{package_id}/complete",
        json={"appointment_id": appointment, "service_date": day, "request_id": appointment},
        headers=api.desk,
    )
    assert response.status_code == 200, response.text


async def texts_with_link(twilio: TwilioFake, phone: str, count: int) -> list[str]:
    bodies: list[str] = await eventually(
        lambda: _async(twilio.sent_to(phone)),
        lambda sent: sum(PAGE_PREFIX in b for b in sent) >= count,
    )
    return [b for b in bodies if PAGE_PREFIX in b]


async def visit_and_link(api: Api, spa: Spa, twilio: TwilioFake) -> tuple[str, str]:
    """Ana buys six laser sessions and has one visit: (package id, her page's link)."""
    (package_id,) = await spa.sell(LASER.type_code)
    await redeem(api, package_id, "appt-page-1", "2026-11-02")
    bodies = await texts_with_link(twilio, ANA.phone or "", 1)
    (link,) = page_links_in(bodies)
    return package_id, link


async def test_confirmation_links_to_the_clients_page_with_her_numbers(
    api: Api, spa: Spa, twilio: TwilioFake
) -> None:
    package_id, link = await visit_and_link(api, spa, twilio)
    token = link.removeprefix(PAGE_PREFIX)
    assert len(token) >= 22  # at least 128 bits
    # Only the token's hash is stored.
    stored = await spa.pool.fetchval(
        "SELECT count(*) FROM client_page_links WHERE client_id = $1", ANA.client_id
    )
    assert stored == 1
    assert (
        await spa.pool.fetchval(
            "SELECT count(*) FROM client_page_links WHERE encode(token_hash, 'escape') LIKE $1",
            f"%{token}%",
        )
        == 0
    )

    response = await api.http.get(link)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in response.headers["x-robots-tag"]
    html = response.text
    assert "<html lang=en>" in html and "<main" in html
    assert "Hi Ana" in html
    assert f'data-remaining="{LASER.units - 1}"' in html
    assert f"{LASER.units - 1} sessions left" in html
    assert f"of {LASER.units} sessions" in html
    assert "Good through" in html
    assert "Nov 2, 2026" in html  # the visit, on its date of service
    # Her own first name only: no surname, phone, email, or staff.
    for private in ("Test", ANA.phone or "", ANA.email or "", "Front Desk", package_id):
        assert private not in html.replace(f"pkg-{package_id}", "")

    # The next text carries the same link: one live link per client.
    await redeem(api, package_id, "appt-page-2", "2026-11-09")
    bodies = await texts_with_link(twilio, ANA.phone or "", 2)
    assert page_links_in(bodies) == {link}
    again = await api.http.get(link)
    assert f'data-remaining="{LASER.units - 2}"' in again.text


async def test_each_client_sees_only_her_own_packages(
    api: Api, spa: Spa, twilio: TwilioFake
) -> None:
    _, ana_link = await visit_and_link(api, spa, twilio)
    (ben_package,) = await spa.sell(TWO.type_code, BEN.client_id)
    await redeem(api, ben_package, "appt-ben-1", "2026-11-03")
    (ben_link,) = page_links_in(await texts_with_link(twilio, BEN.phone or "", 1))
    assert ben_link != ana_link
    ben = (await api.http.get(ben_link)).text
    assert "Hi Ben" in ben and TWO.name in ben and LASER.name not in ben
    assert "Ana" not in ben


async def test_revoked_expired_and_unknown_links_show_nothing(
    api: Api, spa: Spa, twilio: TwilioFake, pool: asyncpg.Pool
) -> None:
    _, link = await visit_and_link(api, spa, twilio)
    token = link.removeprefix(PAGE_PREFIX)

    unknown = await api.http.get(PAGE_PREFIX + "x" * 32)
    assert unknown.status_code == 404
    assert "ask" in unknown.text.lower() and "Ana" not in unknown.text
    assert unknown.headers["cache-control"] == "no-store"

    # Only a manager revokes.
    denied = await api.http.post(
        f"/api/clients/{ANA.client_id}/page-links/revoke", headers=api.desk
    )
    assert denied.status_code == 403
    revoked = await api.http.post(
        f"/api/clients/{ANA.client_id}/page-links/revoke", headers=api.manager
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json() == {"client_id": ANA.client_id, "revoked": 1}
    gone = await api.http.get(link)
    assert gone.status_code == 410
    assert "new link" in gone.text and "Ana" not in gone.text and LASER.name not in gone.text
    # Its forms are refused too.
    post = await api.http.post(f"/me/{token}/sms", data={"choice": "stop"})
    assert post.status_code == 410
    assert not await pool.fetchval(
        "SELECT sms_opt_out FROM clients WHERE client_id = $1", ANA.client_id
    )

    # Expired: a live link past its expiry.
    await pool.execute(
        "UPDATE client_page_links SET revoked_at = NULL, "
        "expires_at = now() - interval '1 second' WHERE client_id = $1",
        ANA.client_id,
    )
    expired = await api.http.get(link)
    assert expired.status_code == 410
    assert "expired" in expired.text and "Ana" not in expired.text

    missing = await api.http.post("/api/clients/c-nobody/page-links/revoke", headers=api.manager)
    assert missing.status_code == 404

    # The desk hands her a new link: it opens her page; the old one stays gone.
    fresh = await api.http.post(f"/api/clients/{ANA.client_id}/page-links", headers=api.desk)
    assert fresh.status_code == 200, fresh.text
    new_link = fresh.json()["url"]
    assert new_link.startswith(PAGE_PREFIX) and new_link != link
    assert (await api.http.get(new_link)).status_code == 200
    assert (await api.http.get(link)).status_code == 410
    again = await api.http.post(f"/api/clients/{ANA.client_id}/page-links", headers=api.desk)
    assert again.json()["url"] == new_link  # the live one, not another
    nobody = await api.http.post("/api/clients/c-nobody/page-links", headers=api.desk)
    assert nobody.status_code == 404


async def test_a_link_near_its_expiry_is_replaced_in_the_next_message(
    api: Api, spa: Spa, twilio: TwilioFake, pool: asyncpg.Pool
) -> None:
    package_id, link = await visit_and_link(api, spa, twilio)
    await pool.execute(
        "UPDATE client_page_links SET expires_at = now() + interval '10 days' WHERE client_id = $1",
        ANA.client_id,
    )
    await redeem(api, package_id, "appt-page-2", "2026-11-09")
    bodies = await texts_with_link(twilio, ANA.phone or "", 2)
    links = page_links_in(bodies)
    assert len(links) == 2 and link in links
    # The old one still opens until it expires: it is in messages she already has.
    assert (await api.http.get(link)).status_code == 200


async def test_opt_out_and_back_in_from_the_page(
    api: Api, spa: Spa, twilio: TwilioFake, pool: asyncpg.Pool
) -> None:
    _, link = await visit_and_link(api, spa, twilio)
    token = link.removeprefix(PAGE_PREFIX)
    page = (await api.http.get(link)).text
    assert f'action="/me/{token}/sms"' in page and 'value="stop"' in page

    stop = await api.http.post(f"/me/{token}/sms", data={"choice": "stop"})
    assert stop.status_code == 303
    assert stop.headers["location"] == f"/me/{token}?saved=stop"
    assert await pool.fetchval("SELECT sms_opt_out FROM clients WHERE client_id = $1", "c-ana")
    after = (await api.http.get(stop.headers["location"])).text
    assert "we will not text you" in after and 'value="start"' in after

    start = await api.http.post(f"/me/{token}/sms", data={"choice": "start"})
    assert start.status_code == 303
    assert not await pool.fetchval("SELECT sms_opt_out FROM clients WHERE client_id = $1", "c-ana")
    log = await pool.fetch(
        "SELECT event_type, client_id FROM inbound_events WHERE provider = 'client_page' "
        "ORDER BY received_at"
    )
    assert [(r["event_type"], r["client_id"]) for r in log] == [
        ("sms:stop", "c-ana"),
        ("sms:start", "c-ana"),
    ]
    bad = await api.http.post(f"/me/{token}/sms", data={"choice": "maybe"})
    assert bad.status_code == 422


async def test_renewal_button_opens_the_open_offers_checkout(
    api: Api, spa: Spa, twilio: TwilioFake, stripe: StripeFake
) -> None:
    (package_id,) = await spa.sell(TWO.type_code)
    await redeem(api, package_id, "appt-duo-1", "2026-11-02")
    # The one-left text carries the renewal offer's link and the page link.
    bodies = await eventually(
        lambda: _async(twilio.sent_to(ANA.phone or "")),
        lambda sent: any("/renew/" in b and PAGE_PREFIX in b for b in sent),
    )
    (link,) = page_links_in(bodies)
    token = link.removeprefix(PAGE_PREFIX)
    page = (await api.http.get(link)).text
    assert 'data-remaining="1"' in page
    button = f'href="/me/{token}/renew/{package_id}"'
    assert button in page
    click = await api.http.get(f"/me/{token}/renew/{package_id}", follow_redirects=False)
    assert click.status_code == 303, click.text
    assert click.headers["location"] in {s["url"] for s in stripe.sessions.values()}
    # Another client's package is not renewable through Ana's link.
    (ben_package,) = await spa.sell(TWO.type_code, BEN.client_id)
    other = await api.http.get(f"/me/{token}/renew/{ben_package}", follow_redirects=False)
    assert other.status_code == 404


async def test_the_page_form_is_bounded_at_the_door(api: Api) -> None:
    """The Stop/Start form is one field: a large or non-form body is refused before any
    token is looked up; a token of the wrong shape opens nothing."""
    big = await api.http.post(
        "/me/" + "a" * 32 + "/sms",
        content=b"sms=stop&" + b"x" * 2048,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 413
    json = await api.http.post("/me/" + "a" * 32 + "/sms", json={"sms": "stop"})
    assert json.status_code == 415
    odd = await api.http.get("/me/%00%01not-a-token")
    assert odd.status_code == 404 and "new link" in odd.text
