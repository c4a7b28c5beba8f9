"""Freeze / pause by a manager (medical leave, a pregnancy during a laser series).

A freeze runs from now through a last day in the spa's zone (at most the type's
`max_freeze_days`, today counted) and ends at that day's end by itself, or earlier by hand.
The expiry moves by the whole span at freeze time, so the package's good-through day and
every pending reminder are re-planned at once (reminder keys follow the expiry, as for an
extension); an early unfreeze takes back the days not used, so the net move is the days
actually frozen. While frozen, redemptions and check-ins are refused (`PackageFrozen`, a
rule the visit workflow skips to route the visit elsewhere), and no reminder, pace alert or
expiry fires: the only deadline is the freeze's end. Reminders that fell due meanwhile are
held; at the unfreeze the latest of them goes out and the older ones are skipped.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from workflows import schedule
from workflows.book.core import PackageBook, Refused, sentence
from workflows.book.timers import reminder_plan, skip_reminders_past
from workflows.models import Entry, EntryKind, FreezeRequest, PackageAnswer, UnfreezeRequest


def frozen_days(first: date, through: date) -> int:
    """The days a freeze from `first` through `through` covers, both counted."""
    return (through - first).days + 1


def move_expiry(expires_at: datetime, days: int, timezone: str) -> datetime:
    """The expiry `days` local days later (or earlier), at the same local wall time: the
    good-through day moves by exactly `days` whatever DST does in between."""
    tz = schedule.zone(timezone)
    local = expires_at.astimezone(tz)
    moved = datetime.combine(local.date() + timedelta(days=days), local.time(), tzinfo=tz)
    return moved.astimezone(UTC).astimezone(tz)


def days_given_back(through: date, today: date) -> int:
    """The frozen days an unfreeze on `today` does not use (today is usable again)."""
    return max((through - today).days + 1, 0)


def today(book: PackageBook, now: datetime) -> date:
    return now.astimezone(schedule.zone(book.input.notices.timezone)).date()


def is_frozen(book: PackageBook) -> bool:
    return book.state.frozen_until is not None


def require_not_frozen(book: PackageBook, verb: str) -> None:
    if book.state.frozen_through is not None:
        raise Refused(
            "PackageFrozen",
            f"{book.terms.name} is frozen through {_day(book, book.state.frozen_through)}: "
            f"cannot {verb} it until then (a manager can unfreeze it earlier)",
        )


def check_freeze(book: PackageBook, msg: FreezeRequest, now: datetime) -> None:
    if msg.key in book.state.answers:
        return
    book.require_open("freeze", now)
    require_not_frozen(book, "freeze")
    limit = book.terms.max_freeze_days
    if limit == 0:
        raise Refused(
            "FreezeNotAllowed", f"{book.terms.name} cannot be frozen (its type allows 0 days)"
        )
    first = today(book, now)
    if msg.until < first:
        raise Refused("BadFreeze", f"the last frozen day {msg.until} is before today ({first})")
    days = frozen_days(first, msg.until)
    if days > limit:
        raise Refused(
            "FreezeTooLong",
            f"a freeze of {days} days is longer than the {limit} days {book.terms.name} "
            f"allows (at most through {first + timedelta(days=limit - 1)})",
        )


def freeze(book: PackageBook, msg: FreezeRequest, now: datetime) -> PackageAnswer:
    zone = book.input.notices.timezone
    first = today(book, now)
    days = frozen_days(first, msg.until)
    old = book.expiry_text()
    state = book.state
    state.frozen_from, state.frozen_through = first, msg.until
    state.frozen_until = schedule.ends_after(msg.until, zone)
    if state.expires_at is not None:
        state.expires_at = move_expiry(state.expires_at, days, zone)
    skip_reminders_past(book, now)
    outcome = (
        f"frozen for {days} days through {_day(book, msg.until)}: "
        f"expiry moved from {old} to {book.expiry_text()}"
    )
    entry = book.record(msg, kind=EntryKind.FREEZE, reason=msg.reason, outcome=outcome, at=now)
    return book.answer(msg, "frozen", sentence(outcome), entry)


def check_unfreeze(book: PackageBook, msg: UnfreezeRequest) -> None:
    if msg.key in book.state.answers:
        return
    book.require_not_closed("it cannot be unfrozen")
    if not is_frozen(book):
        raise Refused("NotFrozen", f"{book.terms.name} is not frozen")


def unfreeze(book: PackageBook, msg: UnfreezeRequest, now: datetime) -> PackageAnswer:
    """An early unfreeze by hand: the days not used come back off the expiry."""
    entry = _unfreeze(
        book, key=msg.key, actor=msg.actor, source=msg.source, reason=msg.reason, now=now
    )
    return book.answer(msg, "unfrozen", sentence(entry.outcome), entry)


def unfreeze_when_due(book: PackageBook, now: datetime) -> None:
    """The freeze's own end (its last day is over): the whole span was used."""
    until = book.state.frozen_until
    if until is not None and now >= until:
        _unfreeze(
            book,
            key=f"unfreeze@{until.isoformat()}",
            actor="system",
            source="system",
            reason="freeze ended",
            now=now,
        )


def _unfreeze(
    book: PackageBook, *, key: str, actor: str, source: str, reason: str, now: datetime
) -> Entry:
    state = book.state
    assert state.frozen_from is not None and state.frozen_through is not None
    zone = book.input.notices.timezone
    back = days_given_back(state.frozen_through, today(book, now))
    used = frozen_days(state.frozen_from, state.frozen_through) - back
    old = book.expiry_text()
    if back and state.expires_at is not None:
        state.expires_at = move_expiry(state.expires_at, -back, zone)
    state.frozen_from = state.frozen_through = state.frozen_until = None
    _hold_reminders(book, now)
    outcome = f"unfrozen after {used} days"
    if back:
        outcome += f": expiry moved from {old} to {book.expiry_text()}"
    return book.append(
        key=key,
        kind=EntryKind.UNFREEZE,
        actor=actor,
        source=source,
        reason=reason,
        outcome=outcome,
        at=now,
    )


def _hold_reminders(book: PackageBook, now: datetime) -> None:
    """Of the reminders that fell due while frozen, only the latest goes out (next turn)."""
    due = [(at, key) for key, at, _ in reminder_plan(book) if at <= now]
    due = [(at, key) for at, key in due if key not in book.state.reminders]
    for _, key in sorted(due)[:-1]:
        book.state.reminders[key] = "skipped"
    if not due:
        skip_reminders_past(book, now)


def _day(book: PackageBook, day: date) -> str:
    return day.strftime("%b %d, %Y")
