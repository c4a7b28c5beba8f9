"""Nothing handed to intake retries silently forever: poison text is cleaned on the way
in, refused ids go to staff, and an activity failing for good ends as a review item plus a
staff alert, with the visit still answering."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from pydantic import SecretStr
from temporalio.client import Client

from activities.intake import VisitGateway
from activities.repository import ClientLink, ClientLinkRepository, ServiceCatalog, ServiceMapping
from activities.repository.poll_locations import PollLocationRepository
from tests.conftest import eventually
from tests.fakes.zenoti import CLOSED, ZenotiFake
from tests.workflows.conftest import ANA, Spa
from workers.settings import Settings
from workflows.ids import visit_workflow_id
from workflows.poll import PollLocationWorkflow
from workflows.poll_models import PollInput
from workflows.visit import VisitWorkflow
from workflows.visit_models import Platform, VisitChange, VisitEvent, VisitOutcome


@pytest.fixture
async def zenoti() -> AsyncIterator[ZenotiFake]:
    fake = ZenotiFake()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def settings(settings: Settings, zenoti: ZenotiFake) -> Settings:
    return settings.model_copy(
        update={"zenoti_base_url": zenoti.base_url, "zenoti_api_key": SecretStr(zenoti.api_key)}
    )


def completion(appointment: str, **fields: object) -> VisitEvent:
    return VisitEvent.model_validate(
        {
            "event_key": f"k-{appointment}",
            "platform": Platform.BOULEVARD,
            "appointment_id": appointment,
            "change": VisitChange.COMPLETED,
            "client_id": ANA.client_id,
            "occurred_at": datetime.now(UTC),
        }
        | fields
    )


def gateway(client: Client, settings: Settings) -> VisitGateway:
    return VisitGateway(client, task_queue=settings.visit_queue, idle_days=1)


async def redemptions(spa: Spa, package: str) -> int:
    return await spa.ledger.count_entries(package, "redemption")


async def review_items(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT kind, reason, detail FROM review_items WHERE status = 'open'")


async def test_a_nul_in_the_service_name_through_the_gateway_still_redeems(
    spa: Spa, client: Client, settings: Settings
) -> None:
    await ServiceCatalog(spa.pool).upsert(
        ServiceMapping(platform="*", service_key="Laser hair removal", category="laser")
    )
    (package,) = await spa.sell("laser6")
    await gateway(client, settings).submit(
        completion("nul-1", service_name="Laser hair\x00 removal")
    )
    await eventually(lambda: redemptions(spa, package), lambda n: n == 1)
    assert await review_items(spa.pool) == []


async def test_polled_poison_is_cleaned_or_queued_for_staff_never_retried_forever(
    spa: Spa, client: Client, settings: Settings, zenoti: ZenotiFake
) -> None:
    center = f"center-{uuid.uuid4().hex[:8]}"
    await PollLocationRepository(spa.pool).add("zenoti", center, "Test center")
    await ClientLinkRepository(spa.pool).link(
        ClientLink(platform="zenoti", external_id="g-ana", client_id=ANA.client_id)
    )
    await ServiceCatalog(spa.pool).upsert(
        ServiceMapping(platform="zenoti", service_key="Laser hair removal", category="laser")
    )
    (package,) = await spa.sell("laser6")
    start = datetime.now(UTC) - timedelta(hours=3)
    zenoti.add(
        center,
        guest_id="g-ana",
        start=start,
        status=CLOSED,
        service_id="svc-unmapped",
        service_name="Laser hair\x00 removal",
    )
    bad = zenoti.add(center, guest_id="g-ana", start=start - timedelta(hours=2), status=CLOSED)
    zenoti.rows[bad]["therapist"] = {"id": "emp\x00kim"}  # an id PostgreSQL would refuse

    outcome = await client.execute_workflow(
        PollLocationWorkflow.run,
        PollInput(platform=Platform.ZENOTI, location_id=center),
        id=f"test-poll-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
    )

    assert outcome.status == "polled"
    await eventually(lambda: redemptions(spa, package), lambda n: n == 1)
    [item] = await review_items(spa.pool)
    assert (item["kind"], item["reason"]) == ("follow_up", "refused_input")
    assert bad in item["detail"] and "provider_id" in item["detail"]


async def test_an_activity_failing_for_good_ends_in_review_with_an_alert(
    spa: Spa, client: Client, settings: Settings
) -> None:
    """A value the database refuses (here a column the code disagrees with, as after a bad
    migration: asyncpg raises DataError on every attempt) must reach staff."""
    await ServiceCatalog(spa.pool).upsert(
        ServiceMapping(platform="*", service_key="Laser hair removal", category="laser")
    )
    (package,) = await spa.sell("laser6")
    await spa.pool.execute(
        "ALTER TABLE appointment_routes ALTER COLUMN appointment_id TYPE integer USING 0"
    )
    await gateway(client, settings).submit(
        completion("poison-1", service_name="Laser hair removal")
    )

    [item] = await eventually(lambda: review_items(spa.pool), lambda found: len(found) == 1)
    assert (item["kind"], item["reason"]) == ("unmatched_visit", "failed:InvalidData")
    assert "intake.find_candidates" in item["detail"] and "DataError" in item["detail"]
    alert = await eventually(
        lambda: spa.pool.fetchrow(
            "SELECT kind, client_id, message FROM staff_alerts WHERE kind = 'visit_failed'"
        ),
        lambda row: row is not None,
    )
    assert alert["client_id"] == ANA.client_id and "poison-1" in alert["message"]
    handle = client.get_workflow_handle_for(
        VisitWorkflow.run, visit_workflow_id(Platform.BOULEVARD, "poison-1")
    )
    view = await handle.query(VisitWorkflow.state)
    assert view.state.review_open and view.state.steps[-1].outcome is VisitOutcome.FAILED
    assert await redemptions(spa, package) == 0
