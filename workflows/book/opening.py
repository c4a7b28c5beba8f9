"""A package brought in from the old system: it opens with what it had left, not a sale.

The opening entry (`opening_balance`) is the liability Punchcard takes over: the units
left and their unused value, dated when the package was brought in (the day the books
move), so a report reads it apart from the period's sales. Reminders already due are
skipped, like a backdated sale's; the pace warning is judged from what remains, now.

A package brought in as already expired (`OpeningBalance.expired`) is recorded for the
record only: it opens expired, with its units but no liability (its breakage was the old
system's), and the workflow closes at once. Nobody is texted about it.
"""

from __future__ import annotations

from datetime import datetime

from workflows import schedule
from workflows.book.alerts import check_pace
from workflows.book.core import PackageBook
from workflows.book.timers import skip_reminders_past
from workflows.models import EntryKind, OpeningBalance, PackageInput, PackageState, PackageStatus


def open_migrated(
    input: PackageInput, opening: OpeningBalance, started_at: datetime
) -> PackageBook:
    terms = input.terms
    book = PackageBook(
        input,
        PackageState(
            status=PackageStatus.EXPIRED if opening.expired else PackageStatus.ACTIVE,
            remaining=opening.remaining,
            purchased_units=terms.units,
            paid_cents=terms.price_cents,
            unused_value_cents=0 if opening.expired else opening.value_cents,
            expires_at=input.expires_at,
        ),
    )
    skip_reminders_past(book, max(input.purchased_at, started_at))
    bought = input.purchased_at.astimezone(schedule.zone(input.notices.timezone)).date()
    where = opening.source + (f" purchase {opening.source_id}" if opening.source_id else "")
    held = f"{book.amount(opening.remaining)} of {book.amount(terms.units)}"
    outcome = (
        f"brought in expired from {where}: {held} unused at expiry (bought {bought})"
        if opening.expired
        else f"brought in from {where}: {held} left (bought {bought})"
    )
    book.append(
        key="opening_balance",
        kind=EntryKind.OPENING_BALANCE,
        delta=opening.remaining,
        value=0 if opening.expired else opening.value_cents,
        actor=input.sold_by,
        source="import",
        reason=where,
        outcome=outcome,
        at=started_at,
    )
    if not opening.expired:
        check_pace(book, started_at)
    return book
