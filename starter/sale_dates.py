"""The purchase and expiry days of a sale (API and CLI), as the instants a package keeps.

Days are the spa's. A purchase day before today backdates the sale to the start of that
day (who may is the caller's rule: the API lets only a manager); today, or none, is now.
The expiry day is the last good day, so the package ends at the next local midnight, as
`extend` counts it; none is the type's months from the purchase.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from starter.packages import Invalid
from workflows import schedule
from workflows.models import Model


class SaleDates(Model):
    purchased_at: datetime | None = None
    expires_at: datetime | None = None
    backdated: bool = False


def sale_dates(
    *, purchased_on: date | None, expires_on: date | None, timezone: str, now: datetime
) -> SaleDates:
    """Raises `Invalid` naming the field: a purchase after today, an expiry already past
    or before the purchase."""
    today = now.astimezone(schedule.zone(timezone)).date()
    if purchased_on is not None and purchased_on > today:
        raise Invalid(
            "purchased_on", f"{purchased_on.isoformat()} is after today ({today.isoformat()})"
        )
    if expires_on is not None and purchased_on is not None and expires_on < purchased_on:
        raise Invalid(
            "expires_on", f"{expires_on.isoformat()} is before purchased_on ({purchased_on})"
        )
    if expires_on is not None and expires_on < today:
        raise Invalid(
            "expires_on", f"{expires_on.isoformat()} has passed: a sale cannot start expired"
        )
    backdated = purchased_on is not None and purchased_on < today
    return SaleDates(
        # The start of the purchase day: the end of the day before it.
        purchased_at=(
            schedule.ends_after(purchased_on - timedelta(days=1), timezone)
            if backdated and purchased_on is not None
            else None
        ),
        expires_at=None if expires_on is None else schedule.ends_after(expires_on, timezone),
        backdated=backdated,
    )
