"""Stripe events and Twilio inbound SMS on the real stack: signatures, the durable record,
opt-out keywords and the BOOK follow-up."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from starter.api.app import create_app
from starter.ingress.signing import stripe_headers, twilio_headers
from tests.conftest import eventually
from tests.fakes.twilio import TwilioFake
from tests.starter.api.conftest import STRIPE_SECRET, Api
from tests.workflows.conftest import ANA, Spa
from workers.settings import Settings
from workflows.ids import payment_workflow_id
from workflows.models import RedeemRequest
from workflows.payment_models import PaymentOutcome

SMS_PATH = "/webhooks/twilio/sms"
SMS_URL = f"https://punchcard.example{SMS_PATH}"
ANA_PHONE = ANA.phone or ""


# --- Stripe ------------------------------------------------------------------------------


def stripe_event(
    event_type: str = "checkout.session.completed", event_id: str | None = None
) -> dict[str, Any]:
    """The envelope of provider-formats.md §1.9 (invented values)."""
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": 1767225600,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {
            "object": {
                "id": "cs_test_a1FakeSession",
                "object": "checkout.session",
                "mode": "payment",
                "status": "complete",
                "payment_status": "paid",
                "amount_subtotal": 120000,
                "amount_total": 120000,
                "currency": "usd",
                "client_reference_id": "pur_8841",
                "customer": "cus_FakeClient01",
                "customer_details": {
                    "email": "jane.doe@example.com",
                    "name": "Jane Doe",
                    "phone": "+15555550123",
                },
                "metadata": {"package_template": "laser6"},
                "payment_intent": "pi_3FakeIntent01",
                "payment_link": None,
                "created": 1767225500,
                "expires_at": 1767311900,
                "livemode": False,
            }
        },
    }


async def post_stripe(
    api: Api,
    event: dict[str, Any] | bytes,
    *,
    secret: str = STRIPE_SECRET,
    timestamp: int | None = None,
) -> httpx.Response:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    headers = {"content-type": "application/json", **stripe_headers(body, secret, timestamp)}
    return await api.http.post("/webhooks/stripe", content=body, headers=headers)


async def inbound_rows(pool: asyncpg.Pool, provider: str) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            "SELECT event_key, event_type, status, detail, deliveries, payload"
            " FROM inbound_events WHERE provider = $1 ORDER BY received_at",
            provider,
        )
    )


async def test_a_completed_checkout_is_handed_to_its_payment_workflow(
    api: Api, spa: Spa, client: Client
) -> None:
    event = stripe_event()
    response = await post_stripe(api, event)
    assert response.status_code == 200, response.text
    ack = response.json()
    assert (ack["status"], ack["event_key"]) == ("accepted", event["id"])
    (row,) = await inbound_rows(spa.pool, "stripe")
    assert (row["event_key"], row["event_type"]) == (event["id"], "checkout.session.completed")
    assert (row["status"], row["deliveries"]) == ("accepted", 1)
    # Durable in Temporal before the 2xx: the payment's workflow holds the event.
    handle = client.get_workflow_handle(payment_workflow_id("stripe", "pi_3FakeIntent01"))
    outcome = await eventually(
        lambda: handle.query("outcome", result_type=PaymentOutcome), lambda o: bool(o.events)
    )
    assert outcome.events == [f"checkout.session.completed {event['id']}"]


async def test_the_same_event_twice_is_a_duplicate_counted_on_one_row(api: Api, spa: Spa) -> None:
    event = stripe_event()
    first = await post_stripe(api, event)
    again = await post_stripe(api, event)
    assert (first.status_code, first.json()["status"]) == (200, "accepted")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert "already delivered" in again.json()["detail"]
    (row,) = await inbound_rows(spa.pool, "stripe")
    assert (row["status"], row["deliveries"]) == ("accepted", 2)


async def test_an_event_we_do_not_act_on_is_answered_and_recorded_as_ignored(
    api: Api, spa: Spa
) -> None:
    event = stripe_event("customer.created")
    response = await post_stripe(api, event)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ignored"
    assert "customer.created" in response.json()["detail"]
    (row,) = await inbound_rows(spa.pool, "stripe")
    assert (row["event_key"], row["status"]) == (event["id"], "ignored")
    assert row["detail"] == "event type customer.created is not acted on"


async def test_refused_stripe_deliveries_say_why_and_leave_no_row(api: Api, spa: Spa) -> None:
    wrong = await post_stripe(api, stripe_event(), secret="whsec_someone_else")
    assert wrong.status_code == 401
    assert "signature" in wrong.json()["detail"] and "matches the body" in wrong.json()["detail"]

    stale = await post_stripe(api, stripe_event(), timestamp=int(time.time()) - 301)
    assert stale.status_code == 401
    assert "outside the 300s tolerance" in stale.json()["detail"]

    body = json.dumps(stripe_event()).encode()
    unsigned = await api.http.post(
        "/webhooks/stripe", content=body, headers={"content-type": "application/json"}
    )
    assert unsigned.status_code == 401
    assert unsigned.json()["detail"] == "stripe: Stripe-Signature header is missing"

    garbage = await post_stripe(api, b'{"id": "evt_1", "type": ')
    assert garbage.status_code == 400
    assert garbage.json()["detail"].startswith("stripe: body is not JSON")

    untyped = stripe_event()
    del untyped["type"]
    missing = await post_stripe(api, untyped)
    assert (missing.status_code, missing.json()["detail"]) == (422, "stripe: type is missing")

    assert await inbound_rows(spa.pool, "stripe") == []


async def test_a_recent_timestamp_within_the_tolerance_is_accepted(api: Api, spa: Spa) -> None:
    response = await post_stripe(api, stripe_event(), timestamp=int(time.time()) - 240)
    assert (response.status_code, response.json()["status"]) == (200, "accepted")


# --- Twilio inbound SMS ------------------------------------------------------------------


def sms(body: str | None, *, sender: str | None = ANA_PHONE) -> list[tuple[str, str]]:
    """Form parameters of an inbound text (provider-formats.md §2.3); None leaves one out."""
    sid = f"SM{uuid.uuid4().hex}"
    params = [
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", sender),
        ("To", "+15555550100"),
        ("Body", body),
        ("NumMedia", "0"),
        ("FromCountry", "US"),
    ]
    return [(name, value) for name, value in params if value is not None]


def auth_token(settings: Settings) -> str:
    assert settings.twilio_auth_token is not None
    return settings.twilio_auth_token.get_secret_value()


async def text_us(
    http: httpx.AsyncClient,
    params: list[tuple[str, str]],
    token: str,
    *,
    signed_for: str = SMS_URL,
) -> httpx.Response:
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        **twilio_headers(signed_for, params, token),
    }
    return await http.post(SMS_PATH, content=urlencode(params), headers=headers)


async def opted_out(pool: asyncpg.Pool, client_id: str) -> bool:
    return bool(
        await pool.fetchval("SELECT sms_opt_out FROM clients WHERE client_id = $1", client_id)
    )


def assert_twiml(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.startswith('<?xml version="1.0" encoding="UTF-8"?><Response')
    assert ElementTree.fromstring(response.text.encode()).tag == "Response"
    return response.text


def no_reply(answer: str) -> bool:
    """TwiML that sends nothing back: an empty <Response/>."""
    root = ElementTree.fromstring(answer.encode())
    return len(root) == 0 and not root.text


async def test_stop_opts_ana_out_and_her_next_confirmation_is_not_texted(
    api: Api, spa: Spa, settings: Settings, twilio: TwilioFake
) -> None:
    token = auth_token(settings)
    assert not await opted_out(spa.pool, "c-ana")
    stop = sms("STOP")
    answer = assert_twiml(await text_us(api.http, stop, token))
    assert no_reply(answer)  # Twilio itself confirms a STOP
    assert await opted_out(spa.pool, "c-ana")
    assert not await opted_out(spa.pool, "c-ben")
    (row,) = await inbound_rows(spa.pool, "twilio")
    assert (row["event_key"], row["event_type"], row["status"]) == (
        dict(stop)["MessageSid"],
        "sms:stop",
        "accepted",
    )
    assert "c-ana" in row["detail"]

    [package] = await spa.sell("laser6")
    await spa.service.send(package, RedeemRequest(key="k1", appointment_id="a1"))
    await eventually(lambda: spa.messages("confirmation", "sms", "opted_out"), lambda n: n == 1)
    assert await spa.messages("confirmation", "sms", "sent") == 0
    assert not any(text.startswith("Session 1 of 6") for text in twilio.sent_to(ANA_PHONE))


async def test_start_opts_back_in(api: Api, spa: Spa, settings: Settings) -> None:
    token = auth_token(settings)
    assert_twiml(await text_us(api.http, sms("STOP"), token))
    assert await opted_out(spa.pool, "c-ana")
    assert_twiml(await text_us(api.http, sms("START"), token))
    assert not await opted_out(spa.pool, "c-ana")
    # Cara opted out at the desk; START from her phone opts her in too.
    assert_twiml(await text_us(api.http, sms("start", sender="+15555550103"), token))
    assert not await opted_out(spa.pool, "c-cara")


@pytest.mark.parametrize("body", ["stop", "  Stop ", "Unsubscribe", "STOPALL", "quit"])
async def test_stop_keywords_are_matched_whole_and_in_any_case(
    api: Api, spa: Spa, settings: Settings, body: str
) -> None:
    assert_twiml(await text_us(api.http, sms(body), auth_token(settings)))
    assert await opted_out(spa.pool, "c-ana")


@pytest.mark.parametrize("body", ["stop please", "Please STOP", "STOP!", ""])
async def test_a_stop_inside_a_sentence_does_not_opt_out(
    api: Api, spa: Spa, settings: Settings, body: str
) -> None:
    answer = assert_twiml(await text_us(api.http, sms(body), auth_token(settings)))
    assert no_reply(answer)
    assert not await opted_out(spa.pool, "c-ana")
    (row,) = await inbound_rows(spa.pool, "twilio")
    assert (row["event_type"], row["status"]) == ("sms:other", "ignored")


async def review(api: Api, status: str = "open") -> list[dict[str, Any]]:
    response = await api.http.get("/api/review", params={"status": status}, headers=api.desk)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()
    return items


async def test_book_opens_a_follow_up_the_manager_settles(
    api: Api, spa: Spa, settings: Settings
) -> None:
    token = auth_token(settings)
    book = sms("book")
    answer = assert_twiml(await text_us(api.http, book, token))
    assert "<Message>" in answer and "will contact you" in answer
    assert settings.spa_name in answer
    # Twilio retries a delivery it did not see answered: the same message opens nothing new.
    assert_twiml(await text_us(api.http, book, token))

    (item,) = await review(api)
    assert (item["kind"], item["reason"]) == ("follow_up", "book_request")
    assert item["client_id"] == "c-ana"
    assert "Ana Test" in item["detail"] and "BOOK" in item["detail"]
    assert not await opted_out(spa.pool, "c-ana")

    denied = await api.http.post(
        f"/api/review/{item['item_id']}/dismiss", json={"reason": "x"}, headers=api.desk
    )
    assert denied.status_code == 403
    done = await api.http.post(
        f"/api/review/{item['item_id']}/dismiss",
        json={"reason": "called back, booked for Friday"},
        headers=api.manager,
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done"
    assert await review(api) == []
    (settled,) = await review(api, "done")
    assert (settled["resolved_by"], settled["resolution"]) == (
        "mgr",
        "called back, booked for Friday",
    )


async def test_book_from_an_unknown_number_names_the_number(
    api: Api, spa: Spa, settings: Settings
) -> None:
    assert_twiml(await text_us(api.http, sms("BOOK", sender="+15555559999"), auth_token(settings)))
    (item,) = await review(api)
    assert item["client_id"] is None and "+15555559999" in item["detail"]


async def test_refused_texts_say_why(api: Api, spa: Spa, settings: Settings) -> None:
    token = auth_token(settings)
    forged = await text_us(api.http, sms("STOP"), "not-the-auth-token")
    assert forged.status_code == 401
    assert "X-Twilio-Signature does not match" in forged.json()["detail"]
    unsigned = await api.http.post(
        SMS_PATH,
        content=urlencode(sms("STOP")),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert unsigned.status_code == 401 and "header is missing" in unsigned.json()["detail"]
    # Signed for the right URL but with other parameters than those sent.
    params = sms("BOOK")
    headers = twilio_headers(SMS_URL, params, token)
    tampered = await api.http.post(
        SMS_PATH,
        content=urlencode([(n, "STOP" if n == "Body" else v) for n, v in params]),
        headers={"content-type": "application/x-www-form-urlencoded", **headers},
    )
    assert tampered.status_code == 401
    assert not await opted_out(spa.pool, "c-ana")

    no_from = await text_us(api.http, sms("STOP", sender=None), token)
    assert (no_from.status_code, no_from.json()["detail"]) == (
        422,
        "twilio inbound: From is missing",
    )
    no_body = await text_us(api.http, sms(None), token)
    assert (no_body.status_code, no_body.json()["detail"]) == (
        422,
        "twilio inbound: Body is missing",
    )
    assert await inbound_rows(spa.pool, "twilio") == []


# --- behind a proxy: the signature is checked against the configured public URL -----------


@pytest.fixture
async def proxied(
    settings: Settings, client: Client, pool: asyncpg.Pool, spa: Spa
) -> AsyncIterator[httpx.AsyncClient]:
    """The app as it sees requests behind a TLS proxy: http://10.0.0.5:8000, while Twilio
    calls (and signs for) https://spa.example."""
    app = create_app(
        settings.model_copy(update={"api_public_url": "https://spa.example"}),
        client=client,
        pool=pool,
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://10.0.0.5:8000"
        ) as http,
    ):
        yield http


async def test_behind_a_proxy_the_public_url_is_what_was_signed(
    proxied: httpx.AsyncClient, spa: Spa, settings: Settings
) -> None:
    token = auth_token(settings)
    as_seen = await text_us(
        proxied, sms("STOP"), token, signed_for=f"http://10.0.0.5:8000{SMS_PATH}"
    )
    assert as_seen.status_code == 401
    assert f"does not match https://spa.example{SMS_PATH}" in as_seen.json()["detail"]
    assert not await opted_out(spa.pool, "c-ana")

    public = await text_us(proxied, sms("STOP"), token, signed_for=f"https://spa.example{SMS_PATH}")
    assert_twiml(public)
    assert await opted_out(spa.pool, "c-ana")
    # Twilio sometimes signs with the explicit default port; that is the same address.
    with_port = await text_us(
        proxied, sms("START"), token, signed_for=f"https://spa.example:443{SMS_PATH}"
    )
    assert_twiml(with_port)
    assert not await opted_out(spa.pool, "c-ana")


async def test_a_redelivered_text_does_not_act_twice(
    api: Api, spa: Spa, settings: Settings
) -> None:
    """The signature carries no timestamp, so only the MessageSid tells a replay: an old
    START delivered again after a STOP must not opt the client back in."""
    token = auth_token(settings)
    start, stop = sms("START"), sms("STOP")
    for params in (start, stop):
        assert_twiml(await text_us(api.http, params, token))
    assert await opted_out(spa.pool, "c-ana")
    assert_twiml(await text_us(api.http, start, token))
    assert await opted_out(spa.pool, "c-ana")
    rows = {row["event_key"]: row for row in await inbound_rows(spa.pool, "twilio")}
    replayed = rows[dict(start)["MessageSid"]]
    assert (replayed["status"], replayed["deliveries"]) == ("accepted", 2)
    # A repeated BOOK is answered the same way (Twilio did not see the first answer).
    book = sms("BOOK")
    first = assert_twiml(await text_us(api.http, book, token))
    assert assert_twiml(await text_us(api.http, book, token)) == first
    assert len(await review(api)) == 1


async def test_a_body_that_is_not_utf8_form_data_is_a_400(api: Api, spa: Spa) -> None:
    response = await api.http.post(
        SMS_PATH,
        content=b"Body=\xff\xfe",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("twilio: ")
