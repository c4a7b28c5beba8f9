"""Visits carry their location: a platform's location id (Boulevard locationId, Mindbody
SiteId + LocationId) is mapped to the Punchcard location set up with it, kept by the visit
and its route, and the day of service is that location's day."""

from __future__ import annotations

import uuid
from datetime import date

from temporalio.client import Client

from activities.repository import AppointmentRoutes
from starter.packages import SaleRequest
from tests.conftest import eventually
from tests.starter.api.conftest import Api
from tests.starter.api.payloads import (
    boulevard_event,
    mindbody_event,
    signed_boulevard,
    signed_mindbody,
)
from tests.workflows.conftest import ANA, Spa
from workflows.ids import visit_workflow_id
from workflows.visit import VisitWorkflow
from workflows.visit_models import Platform

VENICE_BLVD = "urn:blvd:Location:2b2b2b2b-0000-4000-8000-000000000031"


async def set_up(api: Api) -> None:
    for body in (
        {
            "location_id": "soho",
            "name": "Glow SoHo",
            "timezone": "America/New_York",
            "mindbody_site_id": "-99",
            "mindbody_location_id": "1",
        },
        {
            "location_id": "venice",
            "name": "Glow Venice",
            "timezone": "America/Los_Angeles",
            "boulevard_location_id": VENICE_BLVD,
        },
    ):
        made = await api.http.post("/api/locations", json=body, headers=api.manager)
        assert made.status_code == 201, made.text


async def visit_location(client: Client, platform: Platform, appointment_id: str) -> str | None:
    handle = client.get_workflow_handle(visit_workflow_id(platform, appointment_id))
    view = await handle.query(VisitWorkflow.state)
    return view.state.location_id


async def test_a_boulevard_visit_lands_with_the_location_of_its_location_id(
    api: Api, spa: Spa, client: Client
) -> None:
    await set_up(api)
    sold = await spa.service.sell(
        SaleRequest(client_id=ANA.client_id, type_code="laser6", location_id="venice")
    )
    [package_id] = sold.package_ids
    assert await spa.service.wait_recorded(package_id)

    appointment = str(uuid.uuid4())
    event = boulevard_event(
        "APPOINTMENT_COMPLETED", appointment, start="2026-03-14T21:30:00-08:00"
    )  # 9:30 pm in Venice: already the 15th in New York
    event["data"]["node"]["locationId"] = VENICE_BLVD
    body, headers = signed_boulevard(event)
    answer = await api.http.post("/webhooks/boulevard", content=body, headers=headers)
    assert answer.status_code == 200 and answer.json()["status"] == "accepted", answer.text

    row = await eventually(
        lambda: spa.ledger.balance(package_id), lambda r: r is not None and r.remaining == 5
    )
    assert row is not None
    platform_id = f"urn:blvd:Appointment:{appointment}"
    assert await visit_location(client, Platform.BOULEVARD, platform_id) == "venice"
    routes = AppointmentRoutes(spa.pool)
    assert await eventually(
        lambda: routes.location_of("boulevard", platform_id), lambda where: where == "venice"
    )
    view = await spa.service.state(package_id)
    [visit] = view.appointments
    assert visit.service_date == date(2026, 3, 14)  # Venice's day, not New York's


async def test_a_mindbody_visit_maps_site_and_location_and_an_unmapped_one_has_none(
    api: Api, spa: Spa, client: Client
) -> None:
    await set_up(api)
    await spa.sell("laser6")
    mapped, unmapped = 700_000 + uuid.uuid4().int % 100_000, 800_000 + uuid.uuid4().int % 100_000
    for appointment, location in ((mapped, 1), (unmapped, 7)):
        event = mindbody_event("appointmentBooking.updated", appointment, "Completed")
        event["eventData"]["locationId"] = location
        body, headers = signed_mindbody(event)
        answer = await api.http.post("/webhooks/mindbody", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
    await spa.settled()
    assert await visit_location(client, Platform.MINDBODY, str(mapped)) == "soho"
    assert await visit_location(client, Platform.MINDBODY, str(unmapped)) is None
