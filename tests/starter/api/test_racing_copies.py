"""Two identical copies of a delivery racing: both are handed over, exactly one is
answered `accepted` and the other `duplicate` (the README's answer table), and the
balance moves once."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx

from tests.conftest import eventually
from tests.starter.api.conftest import Api
from tests.starter.api.payloads import (
    boulevard_event,
    mindbody_event,
    signed_boulevard,
    signed_mindbody,
)
from tests.starter.api.test_stripe_twilio_webhooks import post_stripe, stripe_event
from tests.workflows.conftest import Spa


async def both(api: Api, path: str, body: bytes, headers: dict[str, str]) -> list[str]:
    answers: list[httpx.Response] = await asyncio.gather(
        *(api.http.post(path, content=body, headers=headers) for _ in range(2))
    )
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    return sorted(a.json()["status"] for a in answers)


async def test_racing_visit_copies_are_one_accepted_one_duplicate(api: Api, spa: Spa) -> None:
    (package,) = await spa.sell("laser6")
    for n in range(3):
        body, headers = signed_boulevard(
            boulevard_event(
                "APPOINTMENT_COMPLETED", f"race-{n}", start=f"2026-03-1{n}T17:00:00-05:00"
            )
        )
        assert await both(api, "/webhooks/boulevard", body, headers) == ["accepted", "duplicate"]
    body, headers = signed_mindbody(mindbody_event("appointmentBooking.updated", 4242, "Completed"))
    assert await both(api, "/webhooks/mindbody", body, headers) == ["accepted", "duplicate"]
    balance = await eventually(
        lambda: spa.ledger.count_entries(package, "redemption"), lambda n: n == 4
    )
    assert balance == 4


async def test_racing_stripe_copies_are_one_accepted_one_duplicate(api: Api, spa: Spa) -> None:
    event: dict[str, Any] = stripe_event("checkout.session.completed")
    # Its own payment intent: payment workflow ids are server-wide, shared across tests.
    event["data"]["object"]["payment_intent"] = f"pi_race_{uuid.uuid4().hex[:12]}"
    answers = await asyncio.gather(
        post_stripe(api, event), post_stripe(api, json.dumps(event).encode())
    )
    assert sorted(a.json()["status"] for a in answers) == ["accepted", "duplicate"]
