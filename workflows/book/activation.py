"""Activation on first visit (Mindbody's activation type): the expiry clock of a package
whose type says `first_visit` starts at its first completed visit.

Until then the package's expiry is the bound given at sale (the type's
`max_unused_months` after the purchase), and no reminder or pace alert is planned. The
first completed visit sets the expiry to that visit's day (its date of service, in the
package's zone) plus the type's months, whether that is earlier or later than the bound,
plans the reminders for it (those already due are skipped) and records an `activation`
entry. A later reversal of that visit does not stop the clock again.
"""

from __future__ import annotations

from datetime import date, datetime

from workflows import schedule
from workflows.book.core import PackageBook
from workflows.book.timers import skip_reminders_past
from workflows.models import EntryKind


def awaits_activation(book: PackageBook) -> bool:
    return book.state.awaiting_activation


def activation_expiry(first_visit: date, months: int, timezone: str) -> datetime:
    """Good through the first visit's day plus `months` (calendar months, clamped)."""
    return schedule.ends_after(schedule.add_months(first_visit, months), timezone)


def activate(book: PackageBook, *, key: str, visit_day: date | None, now: datetime) -> None:
    """Start the clock at a first completed visit (nothing if it already runs)."""
    months = book.terms.activation_months
    if not book.state.awaiting_activation or months is None:
        return
    zone = book.input.notices.timezone
    day = visit_day or now.astimezone(schedule.zone(zone)).date()
    old = book.expiry_text()
    book.state.awaiting_activation = False
    book.state.expires_at = activation_expiry(day, months, zone)
    skip_reminders_past(book, now)
    book.append(
        key=f"activation:{key}",
        kind=EntryKind.ACTIVATION,
        actor="system",
        outcome=(
            f"expiry clock started by the first visit on {day:%b %d, %Y}: good through "
            f"{book.expiry_text()} (was {old} while unused)"
        ),
        at=now,
    )
