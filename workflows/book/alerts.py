"""Rules 10 and 11: balance alerts once per crossing, and the pace warning."""

from __future__ import annotations

from datetime import datetime

from workflows import texts
from workflows.book.core import PackageBook
from workflows.models import RENEWAL_LINK, EntryKind, PackageKind


def after_balance_change(
    book: PackageBook, *, remaining_before: int, key: str, now: datetime
) -> None:
    """Balance alerts fire on the way down through a threshold: once per crossing."""
    after, bought, name = book.state.remaining, book.state.purchased_units, book.terms.name
    renewal = f" Renew now: {RENEWAL_LINK}"
    if book.terms.kind is PackageKind.SESSIONS:
        if remaining_before > 1 >= after and after == 1:
            book.notify_client(
                f"one-left:{key}",
                "one_left",
                "One session left",
                f"You have 1 session left on your {name}.{renewal}",
                renewal_offer=True,
            )
        elif remaining_before > 2 >= after and after == 2:
            book.notify_client(
                f"two-left:{key}",
                "two_left",
                "Two sessions left",
                f"You have 2 sessions left on your {name}.",
            )
    else:
        low = bought // 5
        if remaining_before > low >= after:
            book.notify_client(
                f"low-balance:{key}",
                "low_balance",
                "Your credit is running low",
                f"{texts.money(after)} left on your {name}.{renewal}",
                renewal_offer=True,
            )
    threshold = bought - (bought * 8 + 9) // 10  # remaining at which ≥80% is consumed
    if remaining_before > threshold >= after:
        book.alert_staff(
            f"consumed-80:{key}",
            "consumed_80",
            f"Client {book.input.client_id} has used 80% of {name} "
            f"({book.amount(after)} left): offer a renewal.",
        )
    check_pace(book, now)


def check_pace(book: PackageBook, now: datetime) -> None:
    """Warn once when the pace is lost; a visit, top-up or extension that restores it re-arms."""
    due = book.pace_due()
    if due is None or now < due:
        book.state.pace_alerted = False
        return
    if book.state.pace_alerted:
        return
    book.state.pace_alerted = True
    message = (
        f"{book.state.remaining} sessions of {book.terms.name} need about "
        f"{book.terms.min_interval_days} days between visits; to use them all before "
        f"{book.expiry_text()}, book now."
    )
    pace_key = f"pace@{book.state.next_seq}"  # each warning is its own ledger entry
    book.append(
        key=pace_key,
        kind=EntryKind.PACE_ALERT,
        actor="system",
        outcome=f"pace at risk: {message}",
        at=now,
    )
    book.notify_client(pace_key, "pace", "Book your next session", message)
    book.alert_staff(pace_key, "pace", f"Client {book.input.client_id}: {message}")
