"""Rule 9 on the clock: reminders before expiry, expiry with breakage, VIP review."""

from __future__ import annotations

from datetime import datetime

from workflows import schedule, texts
from workflows.book.alerts import check_pace
from workflows.book.core import PackageBook
from workflows.models import RENEWAL_LINK, EntryKind, PackageStatus

Reminder = tuple[str, datetime, bool]  # key, when due, carries the renewal link


def reminder_plan(book: PackageBook) -> list[Reminder]:
    """None for a first-visit package not used yet: planned once its clock starts."""
    expires_at = book.state.expires_at
    if expires_at is None or book.state.awaiting_activation:
        return []
    notices = book.input.notices
    return [
        (
            schedule.reminder_key(spec, expires_at),
            schedule.reminder_instant(expires_at, spec, notices.timezone, notices.local_hour),
            spec.renewal_link,
        )
        for spec in notices.reminders
    ]


def skip_reminders_past(book: PackageBook, at: datetime) -> None:
    """Reminders already due at sale (or at an extension) are skipped, not sent late."""
    for key, due, _ in reminder_plan(book):
        if due <= at and key not in book.state.reminders:
            book.state.reminders[key] = "skipped"


def planned_reminders(book: PackageBook) -> dict[str, datetime]:
    """Reminders still to go out (none once the package is not active), each when due."""
    if book.state.status is not PackageStatus.ACTIVE:
        return {}
    return {key: due for key, due, _ in reminder_plan(book) if key not in book.state.reminders}


def next_deadline(book: PackageBook) -> datetime | None:
    if book.state.status is not PackageStatus.ACTIVE:
        return None
    if book.state.frozen_until is not None:  # frozen: nothing fires before the freeze ends
        return book.state.frozen_until
    candidates = [due for key, due, _ in reminder_plan(book) if key not in book.state.reminders]
    if book.state.expires_at is not None:
        candidates.append(book.state.expires_at)
    pace = book.pace_due()
    if pace is not None and not book.state.pace_alerted:
        candidates.append(pace)
    return min(candidates, default=None)


def deadline_label(book: PackageBook, deadline: datetime) -> str:
    """What the timer for `deadline` waits for, as the Temporal UI shows it ("reminder 30d",
    "expiry", "pace check")."""
    if deadline == book.state.frozen_until:
        return "freeze ends"
    if deadline == book.state.expires_at:
        return "expiry"
    for key, due, _ in reminder_plan(book):
        if due == deadline and key not in book.state.reminders:
            return f"reminder {key.split('@')[0]}"
    return "pace check"


def fire_due(book: PackageBook, now: datetime) -> None:
    """Reminders, pace and expiry that fell due; none while frozen (held until it ends)."""
    if book.state.status is not PackageStatus.ACTIVE or book.state.frozen_until is not None:
        return
    check_pace(book, now)
    for key, due, renewal_link in reminder_plan(book):
        if due <= now and key not in book.state.reminders:
            _send_reminder(book, key, renewal_link, now)
    if book.state.expires_at is not None and now >= book.state.expires_at:
        _expire(book, now)


def _send_reminder(book: PackageBook, key: str, renewal_link: bool, now: datetime) -> None:
    if book.state.remaining <= 0:
        book.state.reminders[key] = "skipped"
        return
    book.state.reminders[key] = "sent"
    body = texts.reminder_text(
        book.spa,
        book.held(),
        remaining=book.state.remaining,
        good_through_day=book.expiry_text(),
        renewal_link=RENEWAL_LINK if renewal_link else None,
    )
    book.append(
        key=f"reminder:{key}",
        kind=EntryKind.REMINDER,
        actor="system",
        outcome=f"reminder {key.split('@')[0]} sent",
        at=now,
    )
    book.notify_client(
        f"reminder:{key}",
        "reminder",
        "Your package expires soon",
        body,
        renewal_offer=renewal_link,
    )


def _expire(book: PackageBook, now: datetime) -> None:
    remaining = book.state.remaining
    if 0 < remaining <= book.terms.vip_rollover_max:
        book.state.status = PackageStatus.IN_REVIEW
        book.append(
            key=f"expiry-review@{book.expires_iso()}",
            kind=EntryKind.EXPIRY_REVIEW,
            actor="system",
            outcome="expired under VIP rollover policy: awaiting staff review",
            value=book.unused_value(),
            at=now,
        )
        book.alert_staff(
            f"expiry-review@{book.expires_iso()}",
            "expiry_review",
            texts.expiry_review_alert(book.input.client_id, book.held(), remaining=remaining),
        )
        return
    forfeit_remaining(book, key=f"expiry@{book.expires_iso()}", actor="system", reason=None, at=now)
    if remaining > 0:
        book.notify_client(
            f"expired@{book.expires_iso()}",
            "expired",
            "Your package has expired",
            texts.expired_text(book.spa, book.held(), unused=remaining),
        )


def forfeit_remaining(
    book: PackageBook, *, key: str, actor: str, reason: str | None, at: datetime
) -> None:
    """Close the package as expired; what remains is breakage at its pro-rata value."""
    remaining = max(book.state.remaining, 0)
    value = book.consume(remaining)
    book.forfeited, book.breakage = remaining, value
    book.state.status = PackageStatus.EXPIRED
    book.append(
        key=key,
        kind=EntryKind.EXPIRY,
        delta=-remaining,
        value=value,
        actor=actor,
        reason=reason,
        outcome=(
            f"expired: {book.amount(remaining)} forfeited, breakage {texts.money(value)}"
            if remaining
            else "expired with nothing unused"
        ),
        at=at,
    )
