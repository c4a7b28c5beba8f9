"""Mindbody webhooks: check `X-Mindbody-Signature`, turn appointment bookings into visits.

The signature is `sha256=` + base64(HMAC-SHA256(messageSignatureKey as UTF-8, raw body))
(provider-formats.md §4.4; four implementations agree, the official page was not read).

Sources disagree on how much `appointmentBooking.cancelled` carries: some say only
`siteId` and `appointmentId`. Such an event becomes a visit with change UNKNOWN, and the
intake re-fetches the appointment from the Public API and completes the visit from it
(`activities.booking.mindbody_appointments`, whose status tables this module reads too).

Errors, all `WebhookRejected`:

    401  no signature key configured, header missing or malformed, mismatch
    400  the body is not a JSON object
    422  a field an acted-on event needs is missing or of the wrong type (the path is named)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator, Field, StrictBool
from pydantic_core import PydanticCustomError

from activities.booking.mindbody_appointments import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    PROGRESS_STATUSES,
)
from starter.ingress import base, limits
from starter.ingress.base import ParsedDelivery, WebhookRejected
from workflows.visit_models import Platform, VisitChange, VisitEvent

PROVIDER = "mindbody"
SIGNATURE_HEADER = "X-Mindbody-Signature"
SIGNATURE_PREFIX = "sha256="

CREATED = "appointmentBooking.created"
UPDATED = "appointmentBooking.updated"
CANCELLED = "appointmentBooking.cancelled"
ACTED_ON = frozenset({CREATED, UPDATED, CANCELLED})

_CANCELLED_AS = {"noshow": VisitChange.NO_SHOW, "latecancelled": VisitChange.LATE_CANCEL}


def expected_signature(body: bytes, key: str) -> str:
    """The header value Mindbody sends for `body`: `sha256=<base64 digest>`."""
    mac = hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()
    return SIGNATURE_PREFIX + base64.b64encode(mac).decode("ascii")


def verify(body: bytes, headers: Mapping[str, str], signature_key: str | None) -> None:
    """Accept the delivery or raise `WebhookRejected(401, reason)`.

    `signature_key` is the subscription's `messageSignatureKey`, used as-is (not decoded).

    Raises:
        WebhookRejected: 401 naming the problem.
    """
    if not signature_key:
        raise WebhookRejected(401, "mindbody: no message signature key is configured")
    wanted = SIGNATURE_HEADER.lower()
    value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    if value is None:
        raise WebhookRejected(401, f"mindbody: {SIGNATURE_HEADER} header is missing")
    value = value.strip()
    if not value.startswith(SIGNATURE_PREFIX):
        raise WebhookRejected(401, f"mindbody: {SIGNATURE_HEADER} does not start with sha256=")
    expected = expected_signature(body, signature_key)
    if not hmac.compare_digest(value.encode("utf-8"), expected.encode("ascii")):
        raise WebhookRejected(401, f"mindbody: {SIGNATURE_HEADER} does not match the body")


# --- parsing ---------------------------------------------------------------------------


def _id_text(value: object) -> object:
    """Mindbody ids arrive as numbers or strings depending on the source: keep them as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is not None and not isinstance(value, str):
        raise PydanticCustomError("id_type", "should be a string or an integer")
    return value


Id = Annotated[base.WireId, BeforeValidator(_id_text)]
# An empty clientId is what an ids-only cancellation may carry: kept, then read as absent.
MaybeEmptyId = Annotated[str, Field(max_length=limits.MAX_ID), BeforeValidator(_id_text)]


class _Head(base.Wire):
    message_id: base.WireId
    event_id: base.WireName = Field(min_length=1)


class _Booking(base.Wire):
    site_id: Id
    appointment_id: Id
    status: base.WireName | None = None
    client_id: MaybeEmptyId | None = None
    start_date_time: datetime | None = None
    session_type_id: Id | None = None
    appointment_name: base.WireName | None = None
    staff_id: Id | None = None
    location_id: base.InfoId = None
    has_arrived: StrictBool | None = None


class _Envelope(_Head):
    event_instance_origination_date_time: datetime  # UTC; a naive value is taken as UTC
    event_data: _Booking


def parse(body: bytes) -> ParsedDelivery:
    """Turn a webhook body into a `ParsedDelivery`; appointment bookings carry a `VisitEvent`.

    Raises:
        WebhookRejected: 400 if the body is not a JSON object, 422 naming the field path
            when something an acted-on event needs is missing or mistyped.
    """
    payload = base.json_object(body, PROVIDER)
    head = base.validate(_Head, payload, PROVIDER)
    if head.event_id not in ACTED_ON:
        return base.not_acted_on(PROVIDER, head.message_id, head.event_id, payload)
    where = f"{PROVIDER} {head.event_id}"
    envelope = base.validate(_Envelope, payload, where)
    data = envelope.event_data
    ids_only = not data.client_id
    if ids_only and head.event_id != CANCELLED:
        raise WebhookRejected(422, f"{where}: eventData.clientId is missing")
    with base.unprocessable(where):
        visit = VisitEvent(
            event_key=envelope.message_id,
            platform=Platform.MINDBODY,
            appointment_id=data.appointment_id,
            change=VisitChange.UNKNOWN if ids_only else _change(head.event_id, data),
            external_client_id=data.client_id or None,
            service_key=data.session_type_id,
            service_name=data.appointment_name,
            scheduled_at=data.start_date_time,
            service_date=data.start_date_time.date() if data.start_date_time else None,
            provider_id=data.staff_id,
            site_id=data.site_id,
            external_location_id=data.location_id,
            occurred_at=base.as_utc(envelope.event_instance_origination_date_time),
            source="webhook",
        )
    return ParsedDelivery(
        provider=PROVIDER,
        event_key=envelope.message_id,
        event_type=envelope.event_id,
        visit=visit,
        payload=payload,
    )


def _change(event_id: str, data: _Booking) -> VisitChange:
    status = (data.status or "none").lower()
    if event_id == CANCELLED:
        # The event says cancelled; the status only tells which kind.
        return _CANCELLED_AS.get(status, VisitChange.CANCELLED)
    if status in FINAL_STATUSES:
        return FINAL_STATUSES[status]
    if data.has_arrived:
        return VisitChange.ARRIVED
    if status in PROGRESS_STATUSES:
        return PROGRESS_STATUSES[status]
    if status in OPEN_STATUSES:
        return VisitChange.BOOKED if event_id == CREATED else VisitChange.UPDATED
    return VisitChange.UNKNOWN  # a status nobody documented: re-fetch rather than guess
