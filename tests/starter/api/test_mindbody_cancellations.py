"""Mindbody ids-only cancellations for any date are recorded or reach staff, never dropped.

The stand-in searches only today when a request names no StartDate/EndDate, as the real
staffappointments endpoint does, so a re-fetch without a window finds nothing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import eventually
from tests.fakes.mindbody import MindbodyFake
from tests.starter.api.conftest import ANA_MINDBODY, Api
from tests.starter.api.payloads import mindbody_event, signed_mindbody
from tests.workflows.conftest import Spa


def appointment(appointment_id: int, status: str, start: datetime) -> dict[str, object]:
    return {
        "Id": appointment_id,
        "Status": status,
        "StartDateTime": start.strftime("%Y-%m-%dT%H:%M:%S"),  # site-local, no offset
        "EndDateTime": (start + timedelta(minutes=45)).strftime("%Y-%m-%dT%H:%M:%S"),
        "ClientId": ANA_MINDBODY,
        "SessionTypeId": 12,
        "StaffId": 100000007,
        "LocationId": 1,
    }


async def post(api: Api, payload: dict[str, object]) -> str:
    body, headers = signed_mindbody(payload)
    response = await api.http.post("/webhooks/mindbody", content=body, headers=headers)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def fresh_id() -> int:
    """Visit workflows outlive a test on the shared server: one appointment id per test."""
    return random.randrange(10**8, 10**9)


async def entries(spa: Spa, package: str, kind: str) -> int:
    return await spa.ledger.count_entries(package, kind)


@pytest.mark.parametrize(
    ("when", "status", "kind"),
    [
        (timedelta(days=1), "LateCancelled", "late_cancel"),
        (timedelta(days=31), "LateCancelled", "late_cancel"),
        (timedelta(days=-30), "NoShow", "no_show"),
    ],
    ids=["tomorrow", "next-month", "last-month"],
)
async def test_an_ids_only_cancellation_for_another_day_is_recorded(
    api: Api, spa: Spa, mindbody_api: MindbodyFake, when: timedelta, status: str, kind: str
) -> None:
    (package,) = await spa.sell("laser6")
    number = fresh_id()
    start = datetime.now(UTC).replace(hour=15, minute=0, second=0, microsecond=0) + when
    mindbody_api.add_appointment(appointment(number, status, start))
    cancel = mindbody_event("appointmentBooking.cancelled", number, "", ids_only=True)
    assert await post(api, cancel) == "accepted"
    await eventually(lambda: entries(spa, package, kind), lambda n: n == 1)
    assert all(r["query"].get("startdate") for r in mindbody_api.requests)


async def test_a_day_named_by_an_earlier_delivery_is_searched_first(
    api: Api, spa: Spa, mindbody_api: MindbodyFake
) -> None:
    """Two years out is beyond the wide window: the booking's own date finds it."""
    (package,) = await spa.sell("laser6")
    number = fresh_id()
    start = datetime.now(UTC).replace(hour=15, minute=0, second=0, microsecond=0)
    start += timedelta(days=730)
    booked = mindbody_event("appointmentBooking.created", number, "Booked")
    booked["eventData"]["startDateTime"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert await post(api, booked) == "accepted"
    await eventually(lambda: entries(spa, package, "booking"), lambda n: n == 1)
    mindbody_api.add_appointment(appointment(number, "LateCancelled", start))
    cancel = mindbody_event("appointmentBooking.cancelled", number, "", ids_only=True)
    assert await post(api, cancel) == "accepted"
    await eventually(lambda: entries(spa, package, "late_cancel"), lambda n: n == 1)


async def test_a_cancellation_mindbody_cannot_resolve_reaches_staff(
    api: Api, spa: Spa, mindbody_api: MindbodyFake
) -> None:
    (package,) = await spa.sell("laser6")
    number = fresh_id()
    cancel = mindbody_event("appointmentBooking.cancelled", number, "", ids_only=True)
    assert await post(api, cancel) == "accepted"
    response = await eventually(
        lambda: api.http.get("/api/review", headers=api.desk),
        lambda r: r.status_code == 200 and len(r.json()) == 1,
    )
    [item] = response.json()
    assert item["reason"] == "failed:AppointmentNotFound"
    assert str(number) in item["detail"]
    alert = await eventually(
        lambda: spa.pool.fetchrow("SELECT message FROM staff_alerts WHERE kind = 'visit_failed'"),
        lambda row: row is not None,
    )
    assert f"mindbody:{number}" in alert["message"]
    assert len(mindbody_api.requests) >= 2  # retried before giving up
    assert await spa.ledger.count_entries(package) == 1  # the sale only
