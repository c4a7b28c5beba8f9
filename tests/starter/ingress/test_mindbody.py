"""Mindbody: the signature vector, both `.cancelled` shapes, the status mapping, a thin
webhook's visit completed from the fetched appointment, and the Public API adapter against
the local stand-in."""

from __future__ import annotations

import copy
import socket
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.booking.mindbody import MINDBODY_UNAVAILABLE, MindbodyApi
from activities.booking.mindbody_appointments import visit_from_appointment
from starter.ingress import mindbody
from starter.ingress.base import WebhookRejected
from tests.fakes.mindbody import MindbodyFake
from tests.starter.ingress.helpers import body_of, drop, rejection
from workflows.policies import PROVIDER_REJECTED
from workflows.visit_models import Platform, VisitChange, VisitEvent

# provider-formats.md §4.4 local check.
VECTOR_KEY = "test-signature-key"
VECTOR_BODY = b'{"messageId":"m1"}'
VECTOR_SIGNATURE = "sha256=L61x2wJs6M8kscEbQKUGKq03Gx8LEpiNHjbpd1d+WUA="

# The sample from §4.4 (invented values).
EXAMPLE: dict[str, Any] = {
    "messageId": "5d7e2c0a-0000-4000-8000-0000000000b1",
    "eventId": "appointmentBooking.updated",
    "eventSchemaVersion": 1,
    "eventInstanceOriginationDateTime": "2026-03-14T22:45:10Z",
    "eventData": {
        "siteId": -99,
        "appointmentId": 104233,
        "status": "Completed",
        "startDateTime": "2026-03-14T22:00:00Z",
        "endDateTime": "2026-03-14T22:45:00Z",
        "durationMinutes": 45,
        "sessionTypeId": 12,
        "appointmentName": "Laser - Full Face",
        "staffId": 100000007,
        "locationId": 1,
        "clientId": "100015531",
        "clientUniqueId": 100015531,
        "clientFirstName": "Jane",
        "clientLastName": "Doe",
        "clientEmail": "jane.doe@example.com",
        "clientPhone": "5555550123",
        "isConfirmed": True,
        "hasArrived": True,
        "notes": None,
    },
}
IDS_ONLY_CANCEL: dict[str, Any] = {
    "messageId": "m-cancel-1",
    "eventId": "appointmentBooking.cancelled",
    "eventSchemaVersion": 1,
    "eventInstanceOriginationDateTime": "2026-03-15T09:00:00Z",
    "eventData": {"siteId": -99, "appointmentId": 104233},
}


def booking(event_id: str = "appointmentBooking.updated", **data: Any) -> dict[str, Any]:
    payload = copy.deepcopy(EXAMPLE)
    payload["eventId"] = event_id
    payload["eventData"].update(data)
    return payload


def visit_of(payload: dict[str, Any]) -> VisitEvent:
    visit = mindbody.parse(body_of(payload)).visit
    assert visit is not None
    return visit


def rejected(body: bytes) -> WebhookRejected:
    return rejection(mindbody.parse, body)


# --- signature -------------------------------------------------------------------------


def test_the_documented_vector() -> None:
    assert mindbody.expected_signature(VECTOR_BODY, VECTOR_KEY) == VECTOR_SIGNATURE
    mindbody.verify(VECTOR_BODY, {"X-Mindbody-Signature": VECTOR_SIGNATURE}, VECTOR_KEY)
    mindbody.verify(VECTOR_BODY, {"x-mindbody-signature": f" {VECTOR_SIGNATURE} "}, VECTOR_KEY)


@pytest.mark.parametrize(
    ("body", "headers", "key", "reason"),
    [
        (
            VECTOR_BODY,
            {"X-Mindbody-Signature": VECTOR_SIGNATURE},
            None,
            "no message signature key is configured",
        ),
        (
            VECTOR_BODY,
            {"X-Mindbody-Signature": VECTOR_SIGNATURE},
            "",
            "no message signature key is configured",
        ),
        (VECTOR_BODY, {}, VECTOR_KEY, "X-Mindbody-Signature header is missing"),
        (
            VECTOR_BODY,
            {"X-Mindbody-Signature": VECTOR_SIGNATURE.removeprefix("sha256=")},
            VECTOR_KEY,
            "X-Mindbody-Signature does not start with sha256=",
        ),
        (
            VECTOR_BODY + b"\n",
            {"X-Mindbody-Signature": VECTOR_SIGNATURE},
            VECTOR_KEY,
            "X-Mindbody-Signature does not match the body",
        ),
        (
            VECTOR_BODY,
            {"X-Mindbody-Signature": VECTOR_SIGNATURE},
            "another-key",
            "X-Mindbody-Signature does not match the body",
        ),
        (
            VECTOR_BODY,
            {"X-Mindbody-Signature": "sha256=" + "é" * 44},
            VECTOR_KEY,
            "X-Mindbody-Signature does not match the body",
        ),
    ],
)
def test_bad_signatures_are_a_401(
    body: bytes, headers: dict[str, str], key: str | None, reason: str
) -> None:
    with pytest.raises(WebhookRejected) as caught:
        mindbody.verify(body, headers, key)
    assert (caught.value.status, caught.value.reason) == (401, f"mindbody: {reason}")


# --- parsing ---------------------------------------------------------------------------


def test_the_documented_example_becomes_a_completed_visit() -> None:
    parsed = mindbody.parse(body_of(EXAMPLE))
    assert (parsed.provider, parsed.event_key, parsed.event_type) == (
        "mindbody",
        "5d7e2c0a-0000-4000-8000-0000000000b1",
        "appointmentBooking.updated",
    )
    assert parsed.ignored_reason is None
    assert parsed.payload == EXAMPLE
    visit = parsed.visit
    assert visit is not None
    assert visit.platform is Platform.MINDBODY
    assert visit.change is VisitChange.COMPLETED  # final status wins over hasArrived
    assert visit.appointment_id == "104233"
    assert visit.site_id == "-99"
    assert visit.external_client_id == "100015531"
    assert visit.service_key == "12"
    assert visit.service_name == "Laser - Full Face"
    assert visit.scheduled_at == datetime(2026, 3, 14, 22, tzinfo=UTC)
    assert visit.service_date == date(2026, 3, 14)
    assert visit.provider_id == "100000007"
    assert visit.occurred_at == datetime(2026, 3, 14, 22, 45, 10, tzinfo=UTC)
    assert visit.source == "webhook"


@pytest.mark.parametrize(
    ("status", "created", "updated"),
    [
        ("Completed", VisitChange.COMPLETED, VisitChange.COMPLETED),
        ("NoShow", VisitChange.NO_SHOW, VisitChange.NO_SHOW),
        ("LateCancelled", VisitChange.LATE_CANCEL, VisitChange.LATE_CANCEL),
        ("Cancelled", VisitChange.CANCELLED, VisitChange.CANCELLED),
        ("Confirmed", VisitChange.CONFIRMED, VisitChange.CONFIRMED),
        ("Arrived", VisitChange.ARRIVED, VisitChange.ARRIVED),
        ("Booked", VisitChange.BOOKED, VisitChange.UPDATED),
        ("Scheduled", VisitChange.BOOKED, VisitChange.UPDATED),
        ("Requested", VisitChange.BOOKED, VisitChange.UPDATED),
        ("None", VisitChange.BOOKED, VisitChange.UPDATED),
        (None, VisitChange.BOOKED, VisitChange.UPDATED),
        ("completed", VisitChange.COMPLETED, VisitChange.COMPLETED),  # case does not matter
        ("SomethingNew", VisitChange.UNKNOWN, VisitChange.UNKNOWN),  # re-fetch, never guess
    ],
)
def test_statuses_map_on_created_and_updated(
    status: str | None, created: VisitChange, updated: VisitChange
) -> None:
    data = {"status": status, "hasArrived": False}
    assert visit_of(booking("appointmentBooking.created", **data)).change is created
    assert visit_of(booking("appointmentBooking.updated", **data)).change is updated


@pytest.mark.parametrize(
    ("status", "change"),
    [
        ("Booked", VisitChange.ARRIVED),
        ("Confirmed", VisitChange.ARRIVED),
        (None, VisitChange.ARRIVED),
        ("Completed", VisitChange.COMPLETED),
        ("NoShow", VisitChange.NO_SHOW),
        ("Cancelled", VisitChange.CANCELLED),
    ],
)
def test_has_arrived_means_arrived_unless_the_status_is_final(
    status: str | None, change: VisitChange
) -> None:
    assert visit_of(booking(status=status, hasArrived=True)).change is change


@pytest.mark.parametrize(
    ("status", "change"),
    [
        ("Cancelled", VisitChange.CANCELLED),
        ("NoShow", VisitChange.NO_SHOW),
        ("LateCancelled", VisitChange.LATE_CANCEL),
        ("Scheduled", VisitChange.CANCELLED),  # the event says cancelled
        ("Completed", VisitChange.CANCELLED),
        (None, VisitChange.CANCELLED),
    ],
)
def test_a_full_cancellation_uses_its_status(status: str | None, change: VisitChange) -> None:
    visit = visit_of(booking("appointmentBooking.cancelled", status=status, hasArrived=False))
    assert visit.change is change
    assert visit.external_client_id == "100015531"


def test_an_ids_only_cancellation_is_unknown_until_fetched() -> None:
    visit = visit_of(IDS_ONLY_CANCEL)
    assert visit.change is VisitChange.UNKNOWN
    assert (visit.appointment_id, visit.site_id) == ("104233", "-99")
    assert visit.external_client_id is None
    assert (visit.service_key, visit.scheduled_at, visit.provider_id) == (None, None, None)
    assert visit.event_key == "m-cancel-1"


def test_a_cancellation_with_a_status_but_no_client_is_fetched_too() -> None:
    payload = copy.deepcopy(IDS_ONLY_CANCEL)
    payload["eventData"]["status"] = "Cancelled"
    assert visit_of(payload).change is VisitChange.UNKNOWN


def test_string_ids_are_accepted_as_they_are() -> None:
    visit = visit_of(booking(siteId="12345", appointmentId="777", staffId="9", sessionTypeId="3"))
    assert (visit.site_id, visit.appointment_id, visit.provider_id, visit.service_key) == (
        "12345",
        "777",
        "9",
        "3",
    )


def test_a_site_local_start_keeps_its_wall_clock_and_a_naive_origin_is_utc() -> None:
    payload = booking(startDateTime="2026-03-14T17:00:00")
    payload["eventInstanceOriginationDateTime"] = "2026-03-14T22:45:10"
    visit = visit_of(payload)
    assert visit.scheduled_at == datetime(2026, 3, 14, 17)
    assert visit.service_date == date(2026, 3, 14)
    assert visit.occurred_at == datetime(2026, 3, 14, 22, 45, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "event_id",
    ["client.created", "classRosterBooking.created", "appointmentAddOn.created", "site.updated"],
)
def test_other_events_are_ignored_with_a_reason(event_id: str) -> None:
    parsed = mindbody.parse(body_of({"messageId": "m-2", "eventId": event_id, "eventData": {}}))
    assert parsed.visit is None
    assert (parsed.event_key, parsed.event_type) == ("m-2", event_id)
    assert parsed.ignored_reason == f"event type {event_id} is not acted on"


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"<xml/>", "body is not JSON"), (b"[1]", "body is JSON but not an object")],
)
def test_a_body_that_is_not_a_json_object_is_a_400(body: bytes, reason: str) -> None:
    error = rejected(body)
    assert error.status == 400
    assert error.reason.startswith(f"mindbody: {reason}")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (drop(booking(), "messageId"), "mindbody: messageId is missing"),
        (drop(booking(), "eventId"), "mindbody: eventId is missing"),
        (booking() | {"messageId": 5}, "mindbody: messageId should be a string (got number)"),
        (
            drop(booking(), "eventInstanceOriginationDateTime"),
            "mindbody appointmentBooking.updated: eventInstanceOriginationDateTime is missing",
        ),
        (drop(booking(), "eventData"), "mindbody appointmentBooking.updated: eventData is missing"),
        (
            drop(booking(), "eventData.siteId"),
            "mindbody appointmentBooking.updated: eventData.siteId is missing",
        ),
        (
            drop(booking(), "eventData.appointmentId"),
            "mindbody appointmentBooking.updated: eventData.appointmentId is missing",
        ),
        (
            drop(booking(), "eventData.clientId"),
            "mindbody appointmentBooking.updated: eventData.clientId is missing",
        ),
        (
            drop(booking("appointmentBooking.created"), "eventData.clientId"),
            "mindbody appointmentBooking.created: eventData.clientId is missing",
        ),
        (
            booking(siteId=True),
            "mindbody appointmentBooking.updated: eventData.siteId should be a string or an "
            "integer (got boolean)",
        ),
        (
            booking(appointmentId={"id": 1}),
            "mindbody appointmentBooking.updated: eventData.appointmentId should be a string or "
            "an integer (got object)",
        ),
        (
            booking(hasArrived="yes"),
            "mindbody appointmentBooking.updated: eventData.hasArrived should be true or false "
            "(got string)",
        ),
        (
            booking(startDateTime="soon"),
            "mindbody appointmentBooking.updated: eventData.startDateTime should be an ISO-8601 "
            "date-time (got string)",
        ),
        (
            booking() | {"eventData": None},
            "mindbody appointmentBooking.updated: eventData should be an object (got null)",
        ),
        (
            drop(copy.deepcopy(IDS_ONLY_CANCEL), "eventData.appointmentId"),
            "mindbody appointmentBooking.cancelled: eventData.appointmentId is missing",
        ),
    ],
)
def test_missing_or_mistyped_fields_are_a_422_naming_the_path(
    payload: dict[str, Any], reason: str
) -> None:
    error = rejected(body_of(payload))
    assert (error.status, error.reason) == (422, reason)


# --- completing a visit from the Public API --------------------------------------------

APPOINTMENT: dict[str, Any] = {
    "Id": 104233,
    "Status": "NoShow",
    "StartDateTime": "2026-03-14T17:00:00",
    "EndDateTime": "2026-03-14T17:45:00",
    "ClientId": "100015531",
    "SessionTypeId": 12,
    "StaffId": 100000007,
    "LocationId": 1,
}


def test_an_unknown_visit_is_completed_from_the_fetched_appointment() -> None:
    visit = visit_from_appointment(visit_of(IDS_ONLY_CANCEL), APPOINTMENT)
    assert visit.change is VisitChange.NO_SHOW
    assert visit.external_client_id == "100015531"
    assert visit.service_key == "12"
    assert visit.provider_id == "100000007"
    assert visit.scheduled_at == datetime(2026, 3, 14, 17)
    assert visit.service_date == date(2026, 3, 14)
    assert (visit.event_key, visit.site_id) == ("m-cancel-1", "-99")


@pytest.mark.parametrize(
    ("status", "change"),
    [
        ("Completed", VisitChange.COMPLETED),
        ("LateCancelled", VisitChange.LATE_CANCEL),
        ("Cancelled", VisitChange.CANCELLED),
        ("Confirmed", VisitChange.CONFIRMED),
        ("Arrived", VisitChange.ARRIVED),
        ("Booked", VisitChange.UPDATED),
        ("Requested", VisitChange.UPDATED),
        ("Mystery", VisitChange.UNKNOWN),  # left for staff
    ],
)
def test_fetched_statuses_fill_an_unknown_change(status: str, change: VisitChange) -> None:
    fetched = APPOINTMENT | {"Status": status}
    assert visit_from_appointment(visit_of(IDS_ONLY_CANCEL), fetched).change is change


def test_a_reported_change_is_kept_and_missing_fields_stay() -> None:
    reported = visit_of(booking(status="Arrived"))
    visit = visit_from_appointment(reported, {"Id": 104233, "Status": "Completed"})
    assert visit.change is VisitChange.ARRIVED
    assert visit.external_client_id == reported.external_client_id
    assert visit.scheduled_at == reported.scheduled_at


def test_another_appointment_or_a_bad_date_is_refused() -> None:
    with pytest.raises(ValueError, match="is not appointment 104233"):
        visit_from_appointment(visit_of(IDS_ONLY_CANCEL), APPOINTMENT | {"Id": 1})
    with pytest.raises(ValueError, match="not an ISO date-time"):
        visit_from_appointment(
            visit_of(IDS_ONLY_CANCEL), APPOINTMENT | {"StartDateTime": "Tuesday"}
        )


# --- MindbodyApi against the stand-in ------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[MindbodyFake]:
    server = MindbodyFake(api_key="key-1", site_id="-99")
    server.add_appointment(APPOINTMENT)
    server.add_appointment(APPOINTMENT | {"Id": 5, "ClientId": "other"})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


def api(http: httpx.AsyncClient, fake: MindbodyFake, **options: Any) -> MindbodyApi:
    settings: dict[str, Any] = {"api_key": "key-1", "staff_token": None} | options
    return MindbodyApi(http, base_url=fake.base_url, **settings)


MARCH = {"start_date": date(2026, 3, 1), "end_date": date(2026, 3, 31)}


async def test_get_appointment_sends_the_documented_headers(
    http: httpx.AsyncClient, fake: MindbodyFake
) -> None:
    found = await api(http, fake, staff_token="tok-1").get_appointment("-99", "104233", **MARCH)
    assert found == APPOINTMENT
    [request] = fake.requests
    assert request["path"] == "/public/v6/appointment/staffappointments"
    assert request["query"]["appointmentids"] == "104233"
    headers = request["headers"]
    assert (headers["api-key"], headers["siteid"], headers["authorization"]) == (
        "key-1",
        "-99",
        "tok-1",
    )


async def test_bearer_form_and_no_token(http: httpx.AsyncClient, fake: MindbodyFake) -> None:
    await api(http, fake, staff_token="tok-1", bearer=True).get_appointment("-99", "5")
    await api(http, fake).get_appointment("-99", "5")
    assert fake.requests[0]["headers"]["authorization"] == "Bearer tok-1"
    assert "authorization" not in fake.requests[1]["headers"]


async def test_a_date_window_is_passed_when_given(
    http: httpx.AsyncClient, fake: MindbodyFake
) -> None:
    await api(http, fake).get_appointment(
        "-99", "5", start_date=date(2026, 3, 1), end_date=date(2026, 3, 31)
    )
    assert fake.requests[0]["query"] == {
        "appointmentids": "5",
        "startdate": "2026-03-01",
        "enddate": "2026-03-31",
    }


async def test_an_appointment_mindbody_does_not_have_is_none(
    http: httpx.AsyncClient, fake: MindbodyFake
) -> None:
    assert await api(http, fake).get_appointment("-99", "999", **MARCH) is None


async def test_without_a_window_only_today_is_searched(
    http: httpx.AsyncClient, fake: MindbodyFake
) -> None:
    """As the real endpoint: StartDate defaults to today, EndDate to StartDate."""
    assert await api(http, fake).get_appointment("-99", "104233") is None
    assert await api(http, fake).get_appointment("-99", "104233", **MARCH) == APPOINTMENT


@pytest.mark.parametrize(("api_key", "site"), [("wrong", "-99"), ("key-1", "12345")])
async def test_a_wrong_key_or_site_is_non_retryable(
    http: httpx.AsyncClient, fake: MindbodyFake, api_key: str, site: str
) -> None:
    with pytest.raises(ApplicationError) as caught:
        await api(http, fake, api_key=api_key).get_appointment(site, "104233")
    assert caught.value.type == PROVIDER_REJECTED
    assert caught.value.non_retryable
    assert "401 DeniedAccess" in str(caught.value)


async def test_a_400_is_non_retryable(http: httpx.AsyncClient, fake: MindbodyFake) -> None:
    fake.fail_next(1, 400)
    with pytest.raises(ApplicationError) as caught:
        await api(http, fake).get_appointment("-99", "104233")
    assert (caught.value.type, caught.value.non_retryable) == (PROVIDER_REJECTED, True)


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
async def test_server_trouble_and_rate_limits_are_retryable(
    http: httpx.AsyncClient, fake: MindbodyFake, status: int
) -> None:
    fake.fail_next(1, status)
    client = api(http, fake)
    with pytest.raises(ApplicationError) as caught:
        await client.get_appointment("-99", "104233")
    assert (caught.value.type, caught.value.non_retryable) == (MINDBODY_UNAVAILABLE, False)
    found = await client.get_appointment("-99", "104233", **MARCH)
    assert found == APPOINTMENT  # the next try works


async def test_an_unreachable_api_is_retryable(http: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the request: nothing listens
    client = MindbodyApi(
        http, base_url=f"http://127.0.0.1:{port}/public/v6", api_key="k", staff_token=None
    )
    with pytest.raises(ApplicationError) as caught:
        await client.get_appointment("-99", "1")
    assert (caught.value.type, caught.value.non_retryable) == (MINDBODY_UNAVAILABLE, False)
    assert "unreachable" in str(caught.value)
