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
    after, bought = book.state.remaining, book.state.purchased_units
    held, spa = book.held(), book.spa
    if book.terms.kind is PackageKind.SESSIONS:
        if remaining_before > 1 >= after and after == 1:
            book.notify_client(
                f"one-left:{key}",
                "one_left",
                "One session left",
                texts.one_left_text(spa, held, RENEWAL_LINK),
                renewal_offer=True,
            )
        elif remaining_before > 2 >= after and after == 2:
            book.notify_client(
                f"two-left:{key}",
                "two_left",
                "Two sessions left",
                texts.two_left_text(spa, held),
            )
    else:
        low = bought // 5
        if remaining_before > low >= after:
            book.notify_client(
                f"low-balance:{key}",
                "low_balance",
                "Your credit is running low",
                texts.low_balance_text(spa, held, after, RENEWAL_LINK),
                renewal_offer=True,
            )
    # The remaining balance at which 80% or more is used. On a small package the first
    # whole session past 80% can be the last one (2 sessions: 50%, then 100%): the alert
    # says what is actually used, never a flat "80%".
    threshold = bought - (bought * 8 + 9) // 10
    if remaining_before > threshold >= after:
        book.alert_staff(
            f"consumed-80:{key}",
            "consumed_80",
            texts.consumed_share_alert(book.input.client_id, held, bought=bought, remaining=after),
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
    message = texts.pace_text(
        book.held(),
        remaining=book.state.remaining,
        interval_days=book.terms.min_interval_days,
        expiry_day=book.expiry_text(),
    )
    pace_key = f"pace@{book.state.next_seq}"  # each warning is its own ledger entry
    book.append(
        key=pace_key,
        kind=EntryKind.PACE_ALERT,
        actor="system",
        outcome=f"pace at risk: {message}",
        at=now,
    )
    book.notify_client(pace_key, "pace", "Book your next session", texts.signed(book.spa, message))
    book.alert_staff(pace_key, "pace", texts.pace_alert(book.input.client_id, message))
