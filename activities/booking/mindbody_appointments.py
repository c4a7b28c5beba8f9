"""A Mindbody appointment as a visit: the Public API `Status` vocabulary, and the completion
of a thin webhook's event from the `Appointment` that `MindbodyApi.get_appointment` fetched.

The webhook receiver (`starter.ingress.mindbody`) reads statuses through the same tables,
so a status means the same thing whether a webhook or the Public API reported it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from workflows.visit_models import VisitChange, VisitEvent

# Public API `Status` enum (§4.3) plus "Scheduled", which one integrator reports webhooks
# send instead. Keys lower-cased: matching ignores case.
FINAL_STATUSES = {
    "completed": VisitChange.COMPLETED,
    "noshow": VisitChange.NO_SHOW,
    "latecancelled": VisitChange.LATE_CANCEL,
    "cancelled": VisitChange.CANCELLED,
}
PROGRESS_STATUSES = {"confirmed": VisitChange.CONFIRMED, "arrived": VisitChange.ARRIVED}
OPEN_STATUSES = frozenset({"booked", "scheduled", "requested", "none"})


def _fetched_change(status: str) -> VisitChange | None:
    """A Public API status as a change; None for a status nobody documented."""
    key = status.lower()
    if key in FINAL_STATUSES:
        return FINAL_STATUSES[key]
    if key in PROGRESS_STATUSES:
        return PROGRESS_STATUSES[key]
    return VisitChange.UPDATED if key in OPEN_STATUSES else None


def visit_from_appointment(event: VisitEvent, appointment: Mapping[str, Any]) -> VisitEvent:
    """Complete `event` from a Public API v6 `Appointment` fetched after the webhook.

    The fetched appointment is the current truth for who, what, when and with whom; the
    change is taken from its `Status` only when the webhook could not say (UNKNOWN).

    Raises:
        ValueError: the appointment is another one, or a field has an impossible value.
    """
    fetched_id = appointment.get("Id")
    if fetched_id is not None and str(fetched_id) != event.appointment_id:
        raise ValueError(
            f"fetched appointment {fetched_id} is not appointment {event.appointment_id}"
        )
    updates: dict[str, Any] = {}
    status = appointment.get("Status")
    change = _fetched_change(status) if isinstance(status, str) else None
    if event.change is VisitChange.UNKNOWN and change is not None:
        updates["change"] = change
    for wire, name in (("ClientId", "external_client_id"), ("SessionTypeId", "service_key")):
        if appointment.get(wire) is not None:
            updates[name] = str(appointment[wire])
    if appointment.get("StaffId") is not None:
        updates["provider_id"] = str(appointment["StaffId"])
    start = appointment.get("StartDateTime")
    if start is not None:
        try:
            scheduled = datetime.fromisoformat(str(start))  # site-local, usually no offset
        except ValueError:
            raise ValueError(f"StartDateTime {start!r} is not an ISO date-time") from None
        updates["scheduled_at"] = scheduled
        updates["service_date"] = scheduled.date()
    return VisitEvent.model_validate(event.model_dump() | updates)
