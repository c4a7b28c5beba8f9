"""Client messaging handed to Klaviyo: lifecycle notices become Klaviyo events, on the real
stack (Temporal, PostgreSQL, the worker as built for production) with the Klaviyo, Twilio
and SMTP stand-ins."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import SecretStr
from temporalio.client import Client

from tests.conftest import eventually
from tests.fakes.klaviyo import KlaviyoFake, RecordedEvent
from tests.fakes.twilio import TwilioFake
from tests.workflows.conftest import ANA, CARA, Spa, short_notices
from workers.settings import Settings
from workflows.contracts import PERFORM_EFFECTS
from workflows.ids import package_workflow_id
from workflows.models import RedeemRequest

COMPLETED = "Punchcard Session Completed"


@pytest.fixture
async def klaviyo() -> AsyncIterator[KlaviyoFake]:
    fake = KlaviyoFake()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def mode() -> str:
    return "klaviyo"


@pytest.fixture
def settings(settings: Settings, klaviyo: KlaviyoFake, mode: str) -> Settings:
    return settings.model_copy(
        update={
            "client_messaging": mode,
            "klaviyo_base_url": klaviyo.base_url,
            "klaviyo_private_key": SecretStr(klaviyo.private_key),
        }
    )


async def completed_events(klaviyo: KlaviyoFake) -> list[RecordedEvent]:
    return klaviyo.of_metric(COMPLETED)


async def effects_scheduled(client: Client, package_id: str) -> list[str]:
    """The activity types the package workflow has scheduled so far."""
    handle = client.get_workflow_handle(package_workflow_id(package_id))
    history = await handle.fetch_history()
    return [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]


async def test_klaviyo_mode_hands_the_confirmation_over_and_sends_no_text(
    spa: Spa, klaviyo: KlaviyoFake, twilio: TwilioFake, client: Client
) -> None:
    [pkg] = await spa.sell("laser6")
    await spa.settled()
    before = await effects_scheduled(client, pkg)

    started = time.monotonic()
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    [event] = await eventually(lambda: completed_events(klaviyo), lambda found: len(found) == 1)
    # The confirmation rule holds: handed over within seconds, like a text.
    assert time.monotonic() - started < 10
    await spa.settled()

    assert len(klaviyo.events) == 1
    assert event.unique_id == f"{pkg}:confirm:k1"
    assert event.profile["external_id"] == ANA.client_id
    assert event.profile["email"] == ANA.email and event.profile["phone_number"] == ANA.phone
    properties = event.profile["properties"]
    assert properties["punchcard_sessions_remaining"] == 5
    assert properties["punchcard_package_name"] == "Laser hair removal, 6 sessions"
    assert properties["punchcard_good_through"]  # the spa's day, ISO
    assert properties["punchcard_renewal_link"] == f"https://spa.example/renew/{pkg}"
    assert twilio.sent_to(ANA.phone or "") == []
    assert await spa.messages("confirmation", "sms", "sent") == 0
    assert await spa.messages("confirmation", "email", "sent") == 0
    status = await spa.pool.fetchval(
        "SELECT status FROM klaviyo_events WHERE event_key = $1", f"{pkg}:confirm:k1"
    )
    assert status == "sent"
    # Still one effects activity for the redemption: no activity of its own for Klaviyo.
    after = await effects_scheduled(client, pkg)
    assert after[len(before) :] == [PERFORM_EFFECTS.name]


@pytest.mark.parametrize("mode", ["both"])
async def test_both_mode_texts_and_hands_over(
    spa: Spa, klaviyo: KlaviyoFake, twilio: TwilioFake
) -> None:
    [pkg] = await spa.sell("laser6")
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))

    await eventually(lambda: completed_events(klaviyo), lambda found: len(found) == 1)
    await eventually(lambda: spa.messages("confirmation"), lambda n: n == 1)
    await spa.settled()
    assert len(twilio.sent_to(ANA.phone or "")) == 1
    assert len(klaviyo.of_metric(COMPLETED)) == 1


@pytest.mark.parametrize("mode", ["both"])
async def test_opted_out_client_gets_no_punchcard_text_but_klaviyo_gets_the_event(
    spa: Spa, klaviyo: KlaviyoFake, twilio: TwilioFake
) -> None:
    [pkg] = await spa.sell("laser6", client_id=CARA.client_id)
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))

    [event] = await eventually(lambda: completed_events(klaviyo), lambda found: len(found) == 1)
    await eventually(lambda: spa.messages("confirmation", "sms", "opted_out"), lambda n: n == 1)
    assert twilio.sent_to(CARA.phone or "") == []
    assert event.profile["properties"]["punchcard_sms_opt_out"] is True


async def test_throttled_by_klaviyo_then_accepted_records_one_event(
    spa: Spa, klaviyo: KlaviyoFake
) -> None:
    [pkg] = await spa.sell("laser6")
    await spa.settled()
    klaviyo.throttle_next(1, retry_after=3)
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))

    await eventually(lambda: completed_events(klaviyo), lambda found: len(found) == 1)
    await spa.settled()
    assert [r["status"] for r in klaviyo.requests] == [429, 202]
    # Asked again only after Klaviyo's Retry-After (the policy alone would retry after 1 s).
    assert klaviyo.requests[1]["at"] - klaviyo.requests[0]["at"] >= 2.9
    assert len(klaviyo.events) == 1
    attempts = await spa.pool.fetchval(
        "SELECT attempts FROM klaviyo_events WHERE event_key = $1", f"{pkg}:confirm:k1"
    )
    assert attempts == 2


async def test_reminders_and_expiry_reach_klaviyo_with_the_renewal_link(
    spa: Spa, klaviyo: KlaviyoFake, twilio: TwilioFake
) -> None:
    [pkg] = await spa.sell(
        "laser6", expires_in=timedelta(seconds=8), notices=short_notices(30, 5, 3)
    )
    outcome = await spa.outcome(pkg)
    assert outcome.status == "expired"

    async def lifecycle() -> list[RecordedEvent]:
        return [e for e in klaviyo.events if e.metric != COMPLETED]

    events = await eventually(lifecycle, lambda found: len(found) == 3)
    assert [e.metric for e in events] == [
        "Punchcard Package Expiring",
        "Punchcard Package Expiring",
        "Punchcard Package Expired",
    ]
    # The 30-day reminder offers renewal: its link (no Stripe here: the renewal page).
    assert events[0].profile["properties"]["punchcard_renewal_link"] == (
        f"https://spa.example/renew/{pkg}"
    )
    assert events[0].properties["message"].endswith(f"Renew: https://spa.example/renew/{pkg}")
    assert events[2].profile["properties"]["punchcard_package_status"] == "expired"
    assert twilio.sent_to(ANA.phone or "") == []  # nothing texted by Punchcard
