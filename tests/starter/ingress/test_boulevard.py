"""Boulevard: the configurable (unconfirmed) signature check and the appointment mapping."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from starter.ingress import boulevard
from starter.ingress.base import WebhookRejected
from starter.ingress.boulevard import BoulevardSignature
from tests.starter.ingress.helpers import body_of, drop, rejection
from workflows.visit_models import Platform, VisitChange

SECRET = "blvd-test-secret"
BODY = b'{"idempotencyKey":"k1","eventType":"APPOINTMENT_COMPLETED"}'
HEX = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
B64 = base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()

# The sample from provider-formats.md §3.3 (invented values).
EXAMPLE: dict[str, Any] = {
    "apiApplicationId": "5b0e7c1a-0000-4000-8000-000000000001",
    "businessId": "9d2f4a10-0000-4000-8000-0000000000aa",
    "event": "APPOINTMENT_COMPLETED",
    "eventType": "APPOINTMENT_COMPLETED",
    "idempotencyKey": "0f6c1f7e-2b1d-4c55-9e9c-3f1a2b3c4d5e",
    "resource": "Appointment",
    "timestamp": "2026-03-14T18:05:11.204Z",
    "webhookId": "urn:blvd:Webhook:7a7a7a7a-0000-4000-8000-000000000003",
    "data": {
        "node": {
            "__typename": "Appointment",
            "id": "urn:blvd:Appointment:3c1d2e4f-0000-4000-8000-000000000010",
            "clientId": "urn:blvd:Client:8e8e8e8e-0000-4000-8000-000000000020",
            "locationId": "urn:blvd:Location:1a1a1a1a-0000-4000-8000-000000000030",
            "startAt": "2026-03-14T17:00:00-05:00",
            "endAt": "2026-03-14T17:45:00-05:00",
            "duration": 45,
            "bookedByType": "CLIENT",
            "cancellation": None,
            "orderId": "urn:blvd:Order:5f5f5f5f-0000-4000-8000-000000000040",
            "appointmentServices": [{"service": {"name": "Laser Hair Removal - Underarm"}}],
            "tags": [],
        }
    },
}


def event(event_type: str = "APPOINTMENT_COMPLETED", **node: Any) -> dict[str, Any]:
    payload = copy.deepcopy(EXAMPLE)
    payload["eventType"] = payload["event"] = event_type
    payload["data"]["node"].update(node)
    return payload


def rejected(body: bytes) -> WebhookRejected:
    return rejection(boulevard.parse, body)


# --- signature -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-blvd-signature", HEX),
        ("X-Blvd-Signature", HEX.upper()),
        ("Blvd-Signature", B64),
        ("x-blvd-signature", f"sha256={HEX}"),
        ("x-blvd-signature", f"SHA256={B64}"),
        ("x-blvd-signature", f"  {HEX} "),
    ],
)
def test_either_encoding_and_header_is_accepted_by_default(header: str, value: str) -> None:
    boulevard.verify(BODY, {header: value}, BoulevardSignature(secret=SECRET))


def test_a_fixed_encoding_refuses_the_other_one() -> None:
    with pytest.raises(WebhookRejected) as caught:
        boulevard.verify(
            BODY, {"x-blvd-signature": B64}, BoulevardSignature(secret=SECRET, encoding="hex")
        )
    assert caught.value.status == 401
    assert "hex expected" in caught.value.reason
    boulevard.verify(
        BODY, {"x-blvd-signature": B64}, BoulevardSignature(secret=SECRET, encoding="base64")
    )


def test_configured_header_names_are_the_only_ones_read() -> None:
    config = BoulevardSignature(secret=SECRET, headers=("X-Webhook-Signature",))
    boulevard.verify(BODY, {"x-webhook-signature": HEX}, config)
    with pytest.raises(WebhookRejected) as caught:
        boulevard.verify(BODY, {"x-blvd-signature": HEX}, config)
    assert caught.value.reason == "boulevard: no signature header (looked for X-Webhook-Signature)"


def test_missing_header_names_the_headers_looked_for() -> None:
    with pytest.raises(WebhookRejected) as caught:
        boulevard.verify(
            BODY, {"content-type": "application/json"}, BoulevardSignature(secret=SECRET)
        )
    assert caught.value.status == 401
    assert caught.value.reason == (
        "boulevard: no signature header (looked for x-blvd-signature, blvd-signature)"
    )


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (BODY + b" ", HEX),  # the body changed
        (BODY, hmac.new(b"other", BODY, hashlib.sha256).hexdigest()),  # another secret
        (BODY, ""),
        (BODY, "sha256="),
        (BODY, "é" * 64),
    ],
)
def test_mismatch_is_refused(body: bytes, value: str) -> None:
    with pytest.raises(WebhookRejected) as caught:
        boulevard.verify(body, {"x-blvd-signature": value}, BoulevardSignature(secret=SECRET))
    assert caught.value.status == 401
    assert "x-blvd-signature does not match the body" in caught.value.reason


def test_no_secret_refuses_unless_unsigned_is_allowed() -> None:
    with pytest.raises(WebhookRejected) as caught:
        boulevard.verify(BODY, {"x-blvd-signature": HEX}, BoulevardSignature(secret=None))
    assert caught.value.status == 401
    assert "no webhook secret is configured" in caught.value.reason
    boulevard.verify(BODY, {}, BoulevardSignature(secret=None, allow_unsigned=True))


def test_allow_unsigned_still_checks_a_signature_that_is_present() -> None:
    config = BoulevardSignature(secret=SECRET, allow_unsigned=True)
    boulevard.verify(BODY, {}, config)
    boulevard.verify(BODY, {"x-blvd-signature": HEX}, config)
    with pytest.raises(WebhookRejected):
        boulevard.verify(BODY, {"x-blvd-signature": "0" * 64}, config)


def test_config_refuses_nonsense_and_hides_the_secret() -> None:
    with pytest.raises(ValueError, match="at least one header"):
        BoulevardSignature(secret=SECRET, headers=())
    with pytest.raises(ValueError, match="hex, base64 or either"):
        BoulevardSignature(secret=SECRET, encoding="base32")  # type: ignore[arg-type]
    assert SECRET not in repr(BoulevardSignature(secret=SECRET))


# --- parsing ---------------------------------------------------------------------------


def test_the_documented_example_becomes_a_completed_visit() -> None:
    parsed = boulevard.parse(body_of(EXAMPLE))
    assert parsed.provider == "boulevard"
    assert parsed.event_key == "0f6c1f7e-2b1d-4c55-9e9c-3f1a2b3c4d5e"
    assert parsed.event_type == "APPOINTMENT_COMPLETED"
    assert parsed.ignored_reason is None
    assert parsed.payload == EXAMPLE
    visit = parsed.visit
    assert visit is not None
    assert visit.event_key == parsed.event_key
    assert visit.platform is Platform.BOULEVARD
    assert visit.change is VisitChange.COMPLETED
    assert visit.appointment_id == "urn:blvd:Appointment:3c1d2e4f-0000-4000-8000-000000000010"
    assert visit.external_client_id == "urn:blvd:Client:8e8e8e8e-0000-4000-8000-000000000020"
    assert visit.service_key is None
    assert visit.service_name == "Laser Hair Removal - Underarm"
    assert visit.scheduled_at == datetime(2026, 3, 14, 17, tzinfo=timezone(timedelta(hours=-5)))
    assert visit.service_date == date(2026, 3, 14)
    assert visit.occurred_at == datetime(2026, 3, 14, 18, 5, 11, 204000, tzinfo=UTC)
    assert visit.provider_id is None
    assert visit.source == "webhook"
    assert visit.client_id is None  # resolved later, through client links
    assert visit.external_location_id == "urn:blvd:Location:1a1a1a1a-0000-4000-8000-000000000030"
    assert visit.location_id is None  # mapped at the door, through the locations set up


@pytest.mark.parametrize("odd", [None, 42, {"id": "x"}, "", "x" * 500])
def test_a_location_id_only_informs_and_never_refuses_a_delivery(odd: object) -> None:
    visit = boulevard.parse(body_of(event(locationId=odd))).visit
    assert visit is not None
    assert visit.external_location_id == ("42" if odd == 42 else None)


def test_service_date_is_the_day_in_the_appointments_own_offset() -> None:
    late = event(startAt="2026-03-14T23:30:00-05:00")  # already the 15th in UTC
    visit = boulevard.parse(body_of(late)).visit
    assert visit is not None
    assert visit.service_date == date(2026, 3, 14)


@pytest.mark.parametrize(
    ("event_type", "change"),
    [
        ("APPOINTMENT_CREATED", VisitChange.BOOKED),
        ("APPOINTMENT_UPDATED", VisitChange.UPDATED),
        ("APPOINTMENT_RESCHEDULED", VisitChange.RESCHEDULED),
        ("APPOINTMENT_CONFIRMED", VisitChange.CONFIRMED),
        ("APPOINTMENT_ARRIVED", VisitChange.ARRIVED),
        ("APPOINTMENT_ACTIVE", VisitChange.UPDATED),
        ("APPOINTMENT_COMPLETED", VisitChange.COMPLETED),
        ("APPOINTMENT_CANCELLED", VisitChange.CANCELLED),
    ],
)
def test_event_types_map_to_changes(event_type: str, change: VisitChange) -> None:
    visit = boulevard.parse(body_of(event(event_type))).visit
    assert visit is not None
    assert visit.change is change


@pytest.mark.parametrize(
    ("cancellation", "change"),
    [
        ({"reason": "NO_SHOW"}, VisitChange.NO_SHOW),
        ({"reason": "CLIENT_LATE_CANCEL"}, VisitChange.LATE_CANCEL),
        ({"reason": "CLIENT_CANCEL", "notes": "sick"}, VisitChange.CANCELLED),
        ({"reason": "STAFF_CANCEL"}, VisitChange.CANCELLED),
        ({"reason": None}, VisitChange.CANCELLED),
        ({}, VisitChange.CANCELLED),
        (None, VisitChange.CANCELLED),
    ],
)
def test_cancellation_reason_refines_a_cancellation(
    cancellation: dict[str, Any] | None, change: VisitChange
) -> None:
    visit = boulevard.parse(
        body_of(event("APPOINTMENT_CANCELLED", cancellation=cancellation))
    ).visit
    assert visit is not None
    assert visit.change is change


def test_a_no_show_reason_on_another_event_type_does_not_change_it() -> None:
    payload = event("APPOINTMENT_UPDATED", cancellation={"reason": "NO_SHOW"})
    visit = boulevard.parse(body_of(payload)).visit
    assert visit is not None
    assert visit.change is VisitChange.UPDATED


def test_first_service_and_staff_are_used_and_client_object_is_a_fallback() -> None:
    payload = event(
        clientId=None,
        client={"id": "urn:blvd:Client:from-object", "firstName": "Jane"},
        appointmentServices=[
            {
                "service": {"id": "urn:blvd:Service:laser", "name": "Laser"},
                "staff": {"id": "urn:blvd:Staff:7", "name": "Kim"},
            },
            {"service": {"id": "urn:blvd:Service:other", "name": "Other"}},
        ],
    )
    visit = boulevard.parse(body_of(payload)).visit
    assert visit is not None
    assert visit.external_client_id == "urn:blvd:Client:from-object"
    assert visit.service_key == "urn:blvd:Service:laser"
    assert visit.service_name == "Laser"
    assert visit.provider_id == "urn:blvd:Staff:7"


def test_no_services_and_no_start_leave_those_fields_empty() -> None:
    payload = event(appointmentServices=[], startAt=None)
    visit = boulevard.parse(body_of(payload)).visit
    assert visit is not None
    assert (visit.service_key, visit.service_name, visit.scheduled_at, visit.service_date) == (
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize("event_type", ["CLIENT_CREATED", "CLIENT_MERGED", "ORDER_COMPLETED"])
def test_other_event_types_are_ignored_with_a_reason(event_type: str) -> None:
    payload = {"idempotencyKey": "k-9", "eventType": event_type, "data": {"node": {"id": "c"}}}
    parsed = boulevard.parse(body_of(payload))
    assert parsed.visit is None
    assert parsed.event_key == "k-9"
    assert parsed.event_type == event_type
    assert parsed.ignored_reason == f"event type {event_type} is not acted on"


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe", b'{"a":', b""])
def test_a_body_that_is_not_json_is_a_400(body: bytes) -> None:
    error = rejected(body)
    assert error.status == 400
    assert error.reason.startswith("boulevard: body is not JSON")


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null"])
def test_json_that_is_not_an_object_is_a_400(body: bytes) -> None:
    error = rejected(body)
    assert (error.status, error.reason) == (400, "boulevard: body is JSON but not an object")


def without(path: str) -> dict[str, Any]:
    return drop(event(), path)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (without("idempotencyKey"), "boulevard: idempotencyKey is missing"),
        (without("eventType"), "boulevard: eventType is missing"),
        (
            event() | {"idempotencyKey": ""},
            "boulevard: idempotencyKey: string should have at least 1 character (got string)",
        ),
        (
            event() | {"idempotencyKey": 7},
            "boulevard: idempotencyKey should be a string (got number)",
        ),
        (without("timestamp"), "boulevard APPOINTMENT_COMPLETED: timestamp is missing"),
        (without("data"), "boulevard APPOINTMENT_COMPLETED: data is missing"),
        (without("data.node"), "boulevard APPOINTMENT_COMPLETED: data.node is missing"),
        (without("data.node.id"), "boulevard APPOINTMENT_COMPLETED: data.node.id is missing"),
        (
            without("data.node.clientId"),
            "boulevard APPOINTMENT_COMPLETED: data.node.clientId is missing",
        ),
        (
            event(clientId=None, client=None),
            "boulevard APPOINTMENT_COMPLETED: data.node.clientId is missing",
        ),
        (
            event(id=12),
            "boulevard APPOINTMENT_COMPLETED: data.node.id should be a string (got number)",
        ),
        (
            event(clientId=["x"]),
            "boulevard APPOINTMENT_COMPLETED: data.node.clientId should be a string (got array)",
        ),
        (
            event() | {"timestamp": "yesterday"},
            "boulevard APPOINTMENT_COMPLETED: timestamp should be an ISO-8601 date-time (got string)",
        ),
        (
            event(appointmentServices=[{"service": {"name": True}}]),
            "boulevard APPOINTMENT_COMPLETED: data.node.appointmentServices[0].service.name "
            "should be a string (got boolean)",
        ),
        (
            event() | {"data": {"node": "urn:blvd:Appointment:1"}},
            "boulevard APPOINTMENT_COMPLETED: data.node should be an object (got string)",
        ),
    ],
)
def test_missing_or_mistyped_fields_are_a_422_naming_the_path(
    payload: dict[str, Any], reason: str
) -> None:
    error = rejected(body_of(payload))
    assert (error.status, error.reason) == (422, reason)


def test_a_naive_timestamp_is_taken_as_utc() -> None:
    visit = boulevard.parse(body_of(event() | {"timestamp": "2026-03-14T18:05:11"})).visit
    assert visit is not None
    assert visit.occurred_at == datetime(2026, 3, 14, 18, 5, 11, tzinfo=UTC)


def test_an_over_long_key_is_a_422_not_a_crash() -> None:
    error = rejected(body_of(event() | {"idempotencyKey": "k" * 151}))
    assert error.status == 422
    assert error.reason == (
        "boulevard: idempotencyKey: string should have at most 150 characters (got string)"
    )
