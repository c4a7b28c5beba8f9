"""Which day a history line belongs to, as the desk and the CLI show it.

A visit's line shows the appointment's date of service (a visit reported a month late
still reads as the day it happened). The ledger rows do not carry that date; the package
workflow keeps it per appointment in its state (the `state` query), so it is joined by
appointment id. Every other line, and any line whose appointment the workflow no longer
knows (a closed package past Temporal's retention, a worker not answering), shows the
day it was recorded, in the spa's time zone. The moment it was recorded is shown beside
it, also in the spa's zone, with the zone's abbreviation.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from starter.packages import PackageService, PunchcardError
from workflows.models import EntryKind

# Lines about a visit: the appointment's service date is their day. A reversal is dated
# the day it was made (its note names the visit's day).
VISIT_KINDS = frozenset({EntryKind.REDEMPTION, EntryKind.NO_SHOW, EntryKind.LATE_CANCEL})
# A query needs a worker to answer; the history must not hang on one that does not.
STATE_TIMEOUT = 3.0


@dataclass(frozen=True)
class LineDay:
    day: date
    from_service_date: bool
    service_date: date | None
    recorded_label: str


async def service_dates(service: PackageService, package_id: str) -> dict[str, date]:
    """Appointment id → date of service, from the package workflow; {} when unknown."""
    with contextlib.suppress(PunchcardError, RPCError, WorkflowQueryFailedError, TimeoutError):
        view = await asyncio.wait_for(service.state(package_id), STATE_TIMEOUT)
        return {a.appointment_id: a.service_date for a in view.appointments if a.service_date}
    return {}


def recorded_label(at: datetime, timezone: str) -> str:
    """ "Dec 2, 2026 4:55 PM EST": when the entry was recorded, in the spa's zone."""
    local = at.astimezone(ZoneInfo(timezone))
    hour = local.strftime("%I").lstrip("0")
    return f"{local:%b} {local.day}, {local.year} {hour}:{local:%M %p} {local.tzname()}"


def line_day(
    *,
    kind: EntryKind,
    appointment_id: str | None,
    recorded_at: datetime,
    dates: dict[str, date],
    timezone: str,
) -> LineDay:
    service_date = dates.get(appointment_id) if appointment_id else None
    use_service = service_date is not None and kind in VISIT_KINDS
    day = (
        service_date
        if use_service and service_date
        else recorded_at.astimezone(ZoneInfo(timezone)).date()
    )
    return LineDay(
        day=day,
        from_service_date=use_service,
        service_date=service_date,
        recorded_label=recorded_label(recorded_at, timezone),
    )
