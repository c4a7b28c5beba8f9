"""Desk completions go through the appointment's visit: with the platform's own completion
of the same appointment, in either order, exactly one session is taken."""

from __future__ import annotations

import random
from datetime import timedelta

from tests.conftest import eventually
from tests.starter.api.conftest import Api
from tests.starter.api.payloads import mindbody_event, signed_mindbody
from tests.workflows.conftest import Spa
from workflows.ids import visit_workflow_id
from workflows.visit import VisitWorkflow
from workflows.visit_models import Platform, VisitOutcome


def fresh_id() -> int:
    """Visit workflows outlive a test on the shared server: one appointment id per test."""
    return random.randrange(10**8, 10**9)


async def remaining(spa: Spa, package_id: str) -> int:
    row = await spa.ledger.balance(package_id)
    assert row is not None
    return row.remaining


async def platform_completes(api: Api, appointment: int) -> str:
    """Mindbody reports the completion; returns its event key once the visit handled it."""
    payload = mindbody_event("appointmentBooking.updated", appointment, "Completed")
    body, headers = signed_mindbody(payload)
    response = await api.http.post("/webhooks/mindbody", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return str(payload["messageId"])


async def steps(spa: Spa, appointment: int) -> dict[str, tuple[VisitOutcome, str | None]]:
    handle = spa.service._client.get_workflow_handle_for(
        VisitWorkflow.run, visit_workflow_id(Platform.MINDBODY, str(appointment))
    )
    view = await handle.query(VisitWorkflow.state)
    return {s.event_key: (s.outcome, s.package_id) for s in view.state.steps}


async def two_packages(spa: Spa) -> tuple[str, str]:
    """(sooner, later): the platform's completion goes to `sooner` by rule 4."""
    (sooner,) = await spa.sell("laser6", expires_in=timedelta(days=100))
    (later,) = await spa.sell("laser6", expires_in=timedelta(days=300))
    return sooner, later


async def test_desk_first_then_the_platform_takes_one_session(api: Api, spa: Spa) -> None:
    sooner, later = await two_packages(spa)
    appointment = fresh_id()
    desk = await api.http.post(
        f"/api/packages/{later}/complete",
        json={"appointment_id": f"mindbody:{appointment}"},
        headers=api.desk,
    )
    assert desk.status_code == 200, desk.text
    answer = desk.json()
    assert (answer["package_id"], answer["remaining"]) == (later, 5)

    key = await platform_completes(api, appointment)
    done = await eventually(lambda: steps(spa, appointment), lambda found: key in found)
    assert done[key] == (VisitOutcome.REDEEMED, later)  # already routed: nothing more
    assert (await remaining(spa, later), await remaining(spa, sooner)) == (5, 6)
    assert await spa.ledger.count_entries(later, "redemption") == 1


async def test_the_platform_first_then_the_desk_takes_one_session(api: Api, spa: Spa) -> None:
    sooner, later = await two_packages(spa)
    appointment = fresh_id()
    await platform_completes(api, appointment)
    await eventually(lambda: remaining(spa, sooner), lambda n: n == 5)

    elsewhere = await api.http.post(
        f"/api/packages/{later}/complete",
        json={"appointment_id": f"mindbody:{appointment}"},
        headers=api.desk,
    )
    assert elsewhere.status_code == 409, elsewhere.text
    assert "(AlreadyCompleted)" in elsewhere.json()["detail"] and sooner in elsewhere.text
    same = await api.http.post(
        f"/api/packages/{sooner}/complete",
        json={"appointment_id": f"mindbody:{appointment}"},
        headers=api.desk,
    )
    assert same.status_code == 200, same.text
    assert (same.json()["package_id"], same.json()["remaining"]) == (sooner, 5)
    assert (await remaining(spa, sooner), await remaining(spa, later)) == (5, 6)
    assert await spa.ledger.count_entries(sooner, "redemption") == 1


async def test_a_desk_visit_of_its_own_answers_as_before(api: Api, spa: Spa) -> None:
    (package,) = await spa.sell("duo2")
    request = {"request_id": f"r-{fresh_id()}"}
    first = await api.http.post(f"/api/packages/{package}/complete", json=request, headers=api.desk)
    assert first.status_code == 200, first.text
    again = await api.http.post(f"/api/packages/{package}/complete", json=request, headers=api.desk)
    assert again.json() == first.json()  # a retry gets the first answer
    assert first.json()["remaining"] == 1
    second = await api.http.post(
        f"/api/packages/{package}/complete", json={"allow_same_day": True}, headers=api.desk
    )
    assert second.status_code == 200, second.text
    empty = await api.http.post(
        f"/api/packages/{package}/complete", json={"allow_same_day": True}, headers=api.desk
    )
    assert empty.status_code == 409 and "(ZeroBalance)" in empty.json()["detail"]
    missing = await api.http.post("/api/packages/nope/complete", json={}, headers=api.desk)
    assert missing.status_code == 404
    assert await spa.ledger.count_entries(package, "redemption") == 2
