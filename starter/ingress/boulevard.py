"""Boulevard webhooks: check the (unconfirmed) signature, turn appointment events into visits.

Boulevard has not published how it signs webhooks (provider-formats.md §3.3). Public
integrators guess HMAC-SHA256 of the raw body under `x-blvd-signature` or `Blvd-Signature`,
hex or base64; `BoulevardSignature` makes every one of those guesses configurable so strict
checking can be switched on once real sandbox headers are captured, without a code change.

Errors, all `WebhookRejected`:

    401  no secret configured (and unsigned deliveries not allowed), header missing, mismatch
    400  the body is not a JSON object
    422  a field an acted-on event needs is missing or of the wrong type (the path is named)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, get_args

from pydantic import Field

from starter.ingress import base
from starter.ingress.base import ParsedDelivery, WebhookRejected
from workflows.visit_models import Platform, VisitChange, VisitEvent

PROVIDER = "boulevard"
Encoding = Literal["hex", "base64", "either"]
SIGNATURE_PREFIX = "sha256="

_BY_EVENT_TYPE = {
    "APPOINTMENT_CREATED": VisitChange.BOOKED,
    "APPOINTMENT_UPDATED": VisitChange.UPDATED,
    "APPOINTMENT_RESCHEDULED": VisitChange.RESCHEDULED,
    "APPOINTMENT_CONFIRMED": VisitChange.CONFIRMED,
    "APPOINTMENT_ARRIVED": VisitChange.ARRIVED,
    "APPOINTMENT_ACTIVE": VisitChange.UPDATED,  # in the chair: nothing consumed until completed
    "APPOINTMENT_COMPLETED": VisitChange.COMPLETED,
    "APPOINTMENT_CANCELLED": VisitChange.CANCELLED,  # refined by cancellation.reason
}
# No APPOINTMENT_NO_SHOW event was ever seen: a no-show is assumed to be a cancellation
# carrying this reason (provider-formats.md §3.3, unconfirmed).
_BY_CANCELLATION_REASON = {
    "NO_SHOW": VisitChange.NO_SHOW,
    "CLIENT_LATE_CANCEL": VisitChange.LATE_CANCEL,
}
ACTED_ON = frozenset(_BY_EVENT_TYPE)


@dataclass(frozen=True, kw_only=True)
class BoulevardSignature:
    """How to check a delivery's signature while Boulevard's scheme is unconfirmed.

    Attributes:
        secret: the HMAC key (UTF-8). None: nothing can be checked.
        headers: header names tried in order, case-insensitively; the first present is used.
        encoding: how the digest is written: "hex", "base64", or "either" to accept both.
        allow_unsigned: accept deliveries with no signature header at all (and everything
            when no secret is set). A signature that is present is still checked.
    """

    secret: str | None = field(default=None, repr=False)
    headers: tuple[str, ...] = ("x-blvd-signature", "blvd-signature")
    encoding: Encoding = "either"
    allow_unsigned: bool = False

    def __post_init__(self) -> None:
        if not self.headers or not all(name.strip() for name in self.headers):
            raise ValueError("BoulevardSignature.headers needs at least one header name")
        if self.encoding not in get_args(Encoding):
            raise ValueError(
                f"BoulevardSignature.encoding must be hex, base64 or either, not {self.encoding!r}"
            )


def digest(body: bytes, secret: str) -> bytes:
    """The guessed MAC: HMAC-SHA256 over the raw body, keyed by the secret's UTF-8 bytes."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()


def encode_digest(mac: bytes, encoding: Literal["hex", "base64"]) -> str:
    return mac.hex() if encoding == "hex" else base64.b64encode(mac).decode("ascii")


def verify(body: bytes, headers: Mapping[str, str], config: BoulevardSignature) -> None:
    """Accept the delivery or raise `WebhookRejected(401, reason)`.

    Raises:
        WebhookRejected: 401 naming the problem (no secret, missing header, mismatch).
    """
    present = {name.lower(): value for name, value in headers.items()}
    name = next((h.lower() for h in config.headers if h.lower() in present), None)
    if not config.secret:
        if config.allow_unsigned:
            return
        raise WebhookRejected(
            401, "boulevard: no webhook secret is configured and unsigned deliveries are refused"
        )
    if name is None:
        if config.allow_unsigned:
            return
        looked_for = ", ".join(config.headers)
        raise WebhookRejected(401, f"boulevard: no signature header (looked for {looked_for})")
    value = present[name].strip()
    if value[: len(SIGNATURE_PREFIX)].lower() == SIGNATURE_PREFIX:
        value = value[len(SIGNATURE_PREFIX) :]
    mac = digest(body, config.secret)
    encodings: tuple[Literal["hex", "base64"], ...] = (
        ("hex", "base64") if config.encoding == "either" else (config.encoding,)
    )
    given = value.encode("utf-8")
    matched = False
    for encoding in encodings:
        expected = encode_digest(mac, encoding)
        candidate = given.lower() if encoding == "hex" else given
        matched |= hmac.compare_digest(candidate, expected.encode("ascii"))
    if not matched:
        raise WebhookRejected(
            401, f"boulevard: {name} does not match the body ({' or '.join(encodings)} expected)"
        )


# --- parsing ---------------------------------------------------------------------------


class _Head(base.Wire):
    idempotency_key: base.WireId
    event_type: base.WireName = Field(min_length=1)


class _Ref(base.Wire):
    id: base.WireId | None = None
    name: base.WireName | None = None


class _AppointmentService(base.Wire):
    service: _Ref | None = None
    staff: _Ref | None = None


class _Cancellation(base.Wire):
    reason: base.WireName | None = None


class _Appointment(base.Wire):
    id: base.WireId
    client_id: base.WireId | None = None
    client: _Ref | None = None
    location_id: base.InfoId = None
    start_at: datetime | None = None
    cancellation: _Cancellation | None = None
    appointment_services: list[_AppointmentService] = Field(default_factory=list, max_length=100)


class _Data(base.Wire):
    node: _Appointment


class _Envelope(_Head):
    timestamp: datetime  # ISO-8601 with Z in every sample; a naive one is taken as UTC
    data: _Data


def parse(body: bytes) -> ParsedDelivery:
    """Turn a webhook body into a `ParsedDelivery`; appointment events carry a `VisitEvent`.

    Raises:
        WebhookRejected: 400 if the body is not a JSON object, 422 naming the field path
            when something an acted-on event needs is missing or mistyped.
    """
    payload = base.json_object(body, PROVIDER)
    head = base.validate(_Head, payload, PROVIDER)
    if head.event_type not in ACTED_ON:
        return base.not_acted_on(PROVIDER, head.idempotency_key, head.event_type, payload)
    where = f"{PROVIDER} {head.event_type}"
    envelope = base.validate(_Envelope, payload, where)
    node = envelope.data.node
    client_id = node.client_id or (node.client.id if node.client else None)
    if not client_id:
        raise WebhookRejected(422, f"{where}: data.node.clientId is missing")
    first = node.appointment_services[0] if node.appointment_services else None
    service = first.service if first else None
    staff = first.staff if first else None
    with base.unprocessable(where):
        visit = VisitEvent(
            event_key=envelope.idempotency_key,
            platform=Platform.BOULEVARD,
            appointment_id=node.id,
            change=_change(envelope.event_type, node),
            external_client_id=client_id,
            service_key=service.id if service else None,
            service_name=service.name if service else None,
            scheduled_at=node.start_at,
            service_date=node.start_at.date() if node.start_at else None,  # the spa's own day
            provider_id=staff.id if staff else None,
            external_location_id=node.location_id,
            occurred_at=base.as_utc(envelope.timestamp),
            source="webhook",
        )
    return ParsedDelivery(
        provider=PROVIDER,
        event_key=envelope.idempotency_key,
        event_type=envelope.event_type,
        visit=visit,
        payload=payload,
    )


def _change(event_type: str, node: _Appointment) -> VisitChange:
    change = _BY_EVENT_TYPE[event_type]
    if change is VisitChange.CANCELLED and node.cancellation and node.cancellation.reason:
        return _BY_CANCELLATION_REASON.get(node.cancellation.reason, VisitChange.CANCELLED)
    return change
