"""Booking-platform webhooks on the real stack: each completion counts once, nothing else does."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from activities.repository import ServiceMapping
from tests.conftest import eventually
from tests.starter.api.conftest import Api
from tests.starter.api.payloads import (
    boulevard_event,
    mindbody_event,
    signed_boulevard,
    signed_mindbody,
)
from tests.workflows.conftest import Spa


async def remaining(spa: Spa, package_id: str) -> int:
    row = await spa.ledger.balance(package_id)
    assert row is not None
    return row.remaining


async def settle_visit(api: Api, spa: Spa) -> None:
    """Wait until the visit and package workflows have finished what they were handed."""
    await spa.settled()


async def post_boulevard(api: Api, payload: dict[str, object]) -> tuple[int, dict[str, object]]:
    body, headers = signed_boulevard(payload)
    response = await api.http.post("/webhooks/boulevard", content=body, headers=headers)
    return response.status_code, response.json()


async def post_mindbody(api: Api, payload: dict[str, object]) -> tuple[int, dict[str, object]]:
    body, headers = signed_mindbody(payload)
    response = await api.http.post("/webhooks/mindbody", content=body, headers=headers)
    return response.status_code, response.json()


async def test_boulevard_completion_delivered_three_times_decrements_once(
    api: Api, spa: Spa
) -> None:
    (package,) = await spa.sell("laser6")
    event = boulevard_event("APPOINTMENT_COMPLETED", "a-1")
    answers = [await post_boulevard(api, event) for _ in range(3)]
    assert [status for status, _ in answers] == [200, 200, 200]
    assert answers[0][1]["status"] == "accepted"
    assert answers[1][1]["status"] == answers[2][1]["status"] == "duplicate"
    await eventually(lambda: remaining(spa, package), lambda r: r == 5)
    await settle_visit(api, spa)
    assert await remaining(spa, package) == 5
    assert await spa.ledger.count_entries(package, "redemption") == 1


async def test_two_copies_racing_and_a_redelivery_under_a_new_key_decrement_once(
    api: Api, spa: Spa
) -> None:
    (package,) = await spa.sell("laser6")
    event = boulevard_event("APPOINTMENT_COMPLETED", "a-race")
    results = await asyncio.gather(*(post_boulevard(api, event) for _ in range(2)))
    assert all(status == 200 for status, _ in results)
    # The platform re-sends the completion as a new event (new idempotency key).
    again = boulevard_event("APPOINTMENT_COMPLETED", "a-race")
    assert (await post_boulevard(api, again))[0] == 200
    await eventually(lambda: remaining(spa, package), lambda r: r == 5)
    await settle_visit(api, spa)
    assert await spa.ledger.count_entries(package, "redemption") == 1


async def test_mindbody_completion_delivered_three_times_decrements_once(
    api: Api, spa: Spa
) -> None:
    (package,) = await spa.sell("laser6")
    event = mindbody_event("appointmentBooking.updated", 104233, "Completed")
    statuses = [(await post_mindbody(api, event))[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    await eventually(lambda: remaining(spa, package), lambda r: r == 5)
    await settle_visit(api, spa)
    assert await spa.ledger.count_entries(package, "redemption") == 1


async def test_three_reschedules_then_completion_decrement_once(api: Api, spa: Spa) -> None:
    (package,) = await spa.sell("laser6")
    await post_boulevard(api, boulevard_event("APPOINTMENT_CREATED", "a-move"))
    for day in (15, 16, 17):
        start = f"2026-03-{day}T17:00:00-05:00"
        status, ack = await post_boulevard(
            api, boulevard_event("APPOINTMENT_RESCHEDULED", "a-move", start=start)
        )
        assert status == 200 and ack["status"] == "accepted"
    await post_boulevard(api, boulevard_event("APPOINTMENT_CONFIRMED", "a-move"))
    await post_boulevard(api, boulevard_event("APPOINTMENT_ARRIVED", "a-move"))
    await settle_visit(api, spa)
    assert await remaining(spa, package) == 6
    await post_boulevard(api, boulevard_event("APPOINTMENT_COMPLETED", "a-move"))
    await eventually(lambda: remaining(spa, package), lambda r: r == 5)
    assert await spa.ledger.count_entries(package, "redemption") == 1
    assert await spa.ledger.count_entries(package, "booking") >= 1


async def test_no_show_and_late_cancel_through_each_provider_take_nothing(
    api: Api, spa: Spa
) -> None:
    (package,) = await spa.sell("laser6")
    for appointment, reason in (("ns-1", "NO_SHOW"), ("lc-1", "CLIENT_LATE_CANCEL")):
        status, ack = await post_boulevard(
            api, boulevard_event("APPOINTMENT_CANCELLED", appointment, reason=reason)
        )
        assert (status, ack["status"]) == (200, "accepted")
    for appointment, mb_status in ((501, "NoShow"), (502, "LateCancelled")):
        status, _ = await post_mindbody(
            api, mindbody_event("appointmentBooking.updated", appointment, mb_status)
        )
        assert status == 200
    await eventually(
        lambda: spa.ledger.count_entries(package), lambda n: n >= 5, timeout=20
    )  # sale + 2 no-shows + 2 late cancels
    assert await spa.ledger.count_entries(package, "no_show") == 2
    assert await spa.ledger.count_entries(package, "late_cancel") == 2
    assert await remaining(spa, package) == 6


async def test_mindbody_cancellation_with_ids_only_is_fetched_from_the_public_api(
    api: Api, spa: Spa, mindbody_api: object
) -> None:
    from tests.fakes.mindbody import MindbodyFake

    assert isinstance(mindbody_api, MindbodyFake)
    (package,) = await spa.sell("laser6")
    mindbody_api.add_appointment(
        {
            "Id": 777,
            "Status": "NoShow",
            "StartDateTime": "2026-03-14T15:00:00",
            "EndDateTime": "2026-03-14T15:45:00",
            "ClientId": "100015531",
            "SessionTypeId": 12,
            "StaffId": 100000007,
            "LocationId": 1,
        }
    )
    status, ack = await post_mindbody(
        api, mindbody_event("appointmentBooking.cancelled", 777, "", ids_only=True)
    )
    assert (status, ack["status"]) == (200, "accepted")
    await eventually(lambda: spa.ledger.count_entries(package, "no_show"), lambda n: n == 1)
    assert mindbody_api.requests, "the Public API was not asked"
    assert await remaining(spa, package) == 6


async def test_the_matching_rule_picks_priority_then_soonest_expiry(api: Api, spa: Spa) -> None:
    (later,) = await spa.sell("laser6", expires_in=timedelta(days=300))
    (sooner,) = await spa.sell("laser6", expires_in=timedelta(days=100))
    await post_boulevard(api, boulevard_event("APPOINTMENT_COMPLETED", "m-1"))
    await eventually(lambda: remaining(spa, sooner), lambda r: r == 5)
    assert await remaining(spa, later) == 6
    # An explicit priority beats expiry: make paced6 (also laser) go first.
    await spa.pool.execute("UPDATE package_types SET match_priority = 1 WHERE type_code = 'paced6'")
    (preferred,) = await spa.sell("paced6", expires_in=timedelta(days=360))
    await post_boulevard(
        api, boulevard_event("APPOINTMENT_COMPLETED", "m-2", start="2026-03-20T10:00:00-05:00")
    )
    await eventually(lambda: remaining(spa, preferred), lambda r: r == 5)
    assert (await remaining(spa, sooner), await remaining(spa, later)) == (5, 6)


async def test_unknown_service_waits_in_review_until_a_manager_assigns_it(
    api: Api, spa: Spa
) -> None:
    (package,) = await spa.sell("laser6")
    event = boulevard_event("APPOINTMENT_COMPLETED", "u-1", service="Mystery Glow Treatment")
    assert (await post_boulevard(api, event))[0] == 200
    items = await eventually(lambda: _review(api), lambda found: len(found) == 1)
    item = items[0]
    assert item["reason"] == "unknown_service"
    assert "Mystery Glow Treatment" in item["detail"]
    assert await remaining(spa, package) == 6
    # Front desk may not resolve; a manager may.
    denied = await api.http.post(
        f"/api/review/{item['item_id']}/assign", json={"package_id": package}, headers=api.desk
    )
    assert denied.status_code == 403 and "manager" in denied.json()["detail"]
    done = await api.http.post(
        f"/api/review/{item['item_id']}/assign", json={"package_id": package}, headers=api.manager
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "assigned"
    await eventually(lambda: remaining(spa, package), lambda r: r == 5)
    assert await _review(api) == []
    # The same completion delivered again stays with the package it was assigned to.
    assert (await post_boulevard(api, boulevard_event("APPOINTMENT_COMPLETED", "u-1")))[0] == 200
    await settle_visit(api, spa)
    assert await spa.ledger.count_entries(package, "redemption") == 1


async def test_no_matching_package_goes_to_review_and_can_be_dismissed(api: Api, spa: Spa) -> None:
    await spa.sell("laser6")
    event = boulevard_event("APPOINTMENT_COMPLETED", "f-1", service="Signature Facial")
    await post_boulevard(api, event)
    (item,) = await eventually(lambda: _review(api), lambda found: len(found) == 1)
    assert item["reason"] == "no_match" and "facial" in item["detail"]
    missing = await api.http.post(
        f"/api/review/{item['item_id']}/dismiss", json={}, headers=api.manager
    )
    assert missing.status_code == 422 and "reason" in missing.json()["detail"]
    done = await api.http.post(
        f"/api/review/{item['item_id']}/dismiss",
        json={"reason": "paid at the desk"},
        headers=api.manager,
    )
    assert done.status_code == 200 and done.json()["status"] == "dismissed"
    assert await _review(api) == []


async def test_zero_balance_completion_is_refused_and_queued(api: Api, spa: Spa) -> None:
    (package,) = await spa.sell("duo2")  # laser too, 2 sessions
    for n in (1, 2):
        await post_boulevard(
            api,
            boulevard_event(
                "APPOINTMENT_COMPLETED", f"z-{n}", start=f"2026-03-1{n}T10:00:00-05:00"
            ),
        )
    await eventually(lambda: remaining(spa, package), lambda r: r == 0)
    # A booking against the zero balance alerts staff now, not at check-in.
    await post_boulevard(api, boulevard_event("APPOINTMENT_CREATED", "z-3"))
    await eventually(
        lambda: spa.pool.fetchval(
            "SELECT count(*) FROM staff_alerts WHERE package_id = $1 AND message ILIKE '%zero%'",
            package,
        ),
        lambda n: n >= 1,
    )
    await post_boulevard(
        api, boulevard_event("APPOINTMENT_COMPLETED", "z-3", start="2026-03-13T10:00:00-05:00")
    )
    (item,) = await eventually(lambda: _review(api), lambda found: len(found) == 1)
    assert item["reason"] == "refused:ZeroBalance"
    assert "collect payment" in item["detail"].lower() or "zero" in item["detail"].lower()
    assert await remaining(spa, package) == 0
    assert await spa.ledger.count_entries(package, "redemption") == 2


async def _review(api: Api) -> list[dict[str, object]]:
    response = await api.http.get("/api/review", headers=api.desk)
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()
    return items


async def test_refused_webhooks_say_why(api: Api, spa: Spa) -> None:
    event = boulevard_event("APPOINTMENT_COMPLETED", "bad-1")
    body, headers = signed_boulevard(event, secret="wrong-secret")
    wrong = await api.http.post("/webhooks/boulevard", content=body, headers=headers)
    assert wrong.status_code == 401 and "signature" in wrong.json()["detail"]
    unsigned = await api.http.post(
        "/webhooks/boulevard", content=body, headers={"content-type": "application/json"}
    )
    assert unsigned.status_code == 401 and "x-blvd-signature" in unsigned.json()["detail"]
    body, headers = signed_mindbody(
        mindbody_event("appointmentBooking.updated", 1, "Completed"), key="nope"
    )
    assert (
        await api.http.post("/webhooks/mindbody", content=body, headers=headers)
    ).status_code == 401
    # Malformed and incomplete bodies, properly signed.
    garbage = b"{not json"
    from starter.ingress.signing import boulevard_headers

    bad = await api.http.post(
        "/webhooks/boulevard",
        content=garbage,
        headers={
            "content-type": "application/json",
            **boulevard_headers(garbage, "blvd-test-secret"),
        },
    )
    assert bad.status_code == 400
    incomplete = boulevard_event("APPOINTMENT_COMPLETED", "bad-2")
    del incomplete["data"]["node"]["clientId"]  # type: ignore[index]
    status, answer = await post_boulevard(api, incomplete)
    assert status == 422 and "clientId" in str(answer["detail"])
    stranger = boulevard_event(
        "APPOINTMENT_COMPLETED", "bad-3", client_urn="urn:blvd:Client:nobody"
    )
    status, answer = await post_boulevard(api, stranger)
    assert status == 422 and "unknown client" in str(answer["detail"])
    assert "urn:blvd:Client:nobody" in str(answer["detail"])
    ignored = boulevard_event("CLIENT_UPDATED", "x")
    status, answer = await post_boulevard(api, ignored)
    assert (status, answer["status"]) == (200, "ignored")
    rows = await spa.pool.fetch("SELECT status, detail FROM inbound_events ORDER BY received_at")
    assert {r["status"] for r in rows} >= {"refused", "ignored"}
    head = await api.http.head("/webhooks/mindbody")
    assert head.status_code == 200
    assert json.loads((await api.http.get("/openapi.json")).text)["paths"]["/webhooks/boulevard"]


async def test_a_dismissed_completion_stays_dismissed_when_it_is_delivered_again(
    api: Api, spa: Spa
) -> None:
    (package,) = await spa.sell("laser6")
    event = boulevard_event("APPOINTMENT_COMPLETED", "d-1", service="Mystery Peel")
    await post_boulevard(api, event)
    (item,) = await eventually(lambda: _review(api), lambda found: len(found) == 1)
    done = await api.http.post(
        f"/api/review/{item['item_id']}/dismiss",
        json={"reason": "complimentary touch-up"},
        headers=api.manager,
    )
    assert done.status_code == 200
    # The service gets mapped afterwards, and the platform re-sends the completion.
    await spa.service.catalog.upsert(
        ServiceMapping(platform="*", service_key="Mystery Peel", category="laser")
    )
    await post_boulevard(
        api, boulevard_event("APPOINTMENT_COMPLETED", "d-1", service="Mystery Peel")
    )
    await settle_visit(api, spa)
    assert await remaining(spa, package) == 6
    assert await _review(api) == []
    route = await spa.pool.fetchrow("SELECT package_id, outcome FROM appointment_routes")
    assert route is not None and (route["package_id"], route["outcome"]) == (None, "dismissed")


async def test_a_refused_assignment_can_be_retried_after_a_top_up(api: Api, spa: Spa) -> None:
    (package,) = await spa.sell("duo2")
    for n in (1, 2):
        await post_boulevard(
            api,
            boulevard_event(
                "APPOINTMENT_COMPLETED", f"t-{n}", start=f"2026-03-1{n}T10:00:00-05:00"
            ),
        )
    await eventually(lambda: remaining(spa, package), lambda r: r == 0)
    await post_boulevard(
        api, boulevard_event("APPOINTMENT_COMPLETED", "t-3", start="2026-03-13T10:00:00-05:00")
    )
    (item,) = await eventually(lambda: _review(api), lambda found: len(found) == 1)
    url = f"/api/review/{item['item_id']}/assign"
    refused = await api.http.post(url, json={"package_id": package}, headers=api.manager)
    assert refused.status_code == 409 and "ZeroBalance" in refused.json()["detail"]
    topped = await api.http.post(
        f"/api/packages/{package}/add-units",
        json={"units": 2, "paid_cents": 30_000, "request_id": "topup-1"},
        headers=api.manager,
    )
    assert topped.status_code == 200, topped.text
    again = await api.http.post(url, json={"package_id": package}, headers=api.manager)
    assert again.status_code == 200, again.text
    await eventually(lambda: remaining(spa, package), lambda r: r == 1)
    assert await spa.ledger.count_entries(package, "redemption") == 3


async def test_a_second_visit_the_same_day_waits_for_staff_and_can_be_redeemed(
    api: Api, spa: Spa
) -> None:
    (package,) = await spa.sell("laser6")
    for appointment in ("s-1", "s-2"):
        await post_boulevard(api, boulevard_event("APPOINTMENT_COMPLETED", appointment))
    (item,) = await eventually(lambda: _review(api), lambda found: len(found) == 1)
    assert item["reason"] == "refused:SameDayRedemption"
    url = f"/api/review/{item['item_id']}/assign"
    done = await api.http.post(
        url, json={"package_id": package, "allow_same_day": True}, headers=api.manager
    )
    assert done.status_code == 200, done.text
    await eventually(lambda: remaining(spa, package), lambda r: r == 4)
