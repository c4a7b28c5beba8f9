"""Provider payloads in their documented shapes (values invented), signed like the provider."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starter.ingress.signing import boulevard_headers, mindbody_headers
from tests.starter.api.conftest import ANA_BLVD, ANA_MINDBODY, BOULEVARD_SECRET, MINDBODY_KEY


def boulevard_event(
    event_type: str,
    appointment: str,
    *,
    client_urn: str = ANA_BLVD,
    service: str = "Laser Hair Removal - Underarm",
    reason: str | None = None,
    key: str | None = None,
    start: str = "2026-03-14T17:00:00-05:00",
) -> dict[str, Any]:
    return {
        "apiApplicationId": "5b0e7c1a-0000-4000-8000-000000000001",
        "businessId": "9d2f4a10-0000-4000-8000-0000000000aa",
        "event": event_type,
        "eventType": event_type,
        "idempotencyKey": key or str(uuid.uuid4()),
        "resource": "Appointment",
        "timestamp": "2026-03-14T18:05:11.204Z",
        "webhookId": "urn:blvd:Webhook:7a7a7a7a-0000-4000-8000-000000000003",
        "data": {
            "node": {
                "__typename": "Appointment",
                "id": f"urn:blvd:Appointment:{appointment}",
                "clientId": client_urn,
                "startAt": start,
                "endAt": start,
                "duration": 45,
                "cancellation": None if reason is None else {"reason": reason, "notes": None},
                "appointmentServices": [{"service": {"name": service}}],
                "tags": [],
            }
        },
    }


def mindbody_event(
    event_id: str,
    appointment: int,
    status: str,
    *,
    client_id: str = ANA_MINDBODY,
    message_id: str | None = None,
    ids_only: bool = False,
) -> dict[str, Any]:
    data: dict[str, Any] = {"siteId": -99, "appointmentId": appointment}
    if not ids_only:
        data |= {
            "status": status,
            "startDateTime": "2026-03-14T22:00:00Z",
            "endDateTime": "2026-03-14T22:45:00Z",
            "durationMinutes": 45,
            "sessionTypeId": 12,
            "appointmentName": "Laser - Full Face",
            "staffId": 100000007,
            "locationId": 1,
            "clientId": client_id,
            "clientUniqueId": 100015531,
            "clientFirstName": "Ana",
            "clientLastName": "Test",
            "isConfirmed": True,
            "hasArrived": status == "Completed",
            "notes": None,
        }
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "eventId": event_id,
        "eventSchemaVersion": 1,
        "eventInstanceOriginationDateTime": "2026-03-14T22:45:10Z",
        "eventData": data,
    }


def signed_boulevard(
    payload: dict[str, Any], secret: str = BOULEVARD_SECRET
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"content-type": "application/json", **boulevard_headers(body, secret)}


def signed_mindbody(
    payload: dict[str, Any], key: str = MINDBODY_KEY
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"content-type": "application/json", **mindbody_headers(body, key)}
