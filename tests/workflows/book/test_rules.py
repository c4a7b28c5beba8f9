"""The book's rules without a server: they take `now`, so plain calls exercise them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workflows.book import Refused, staff, timers, visits
from workflows.book.core import PackageBook
from workflows.models import (
    AddUnitsRequest,
    AppointmentNotice,
    CancelRequest,
    NoticePolicy,
    PackageInput,
    PackageKind,
    PackageTerms,
    RedeemRequest,
    ReminderSpec,
)

SOLD = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)


def book_of(units: int = 10, price: int = 100_000, **terms: object) -> PackageBook:
    return staff.open_book(
        PackageInput(
            package_id="p1",
            client_id="c1",
            terms=PackageTerms(
                type_code="t", name="Series", units=units, price_cents=price, **terms
            ),  # type: ignore[arg-type]
            purchased_at=SOLD,
            expires_at=SOLD + timedelta(days=365),
            notices=NoticePolicy(timezone="UTC", renewal_url="https://r/{package_id}"),
        )
    )


def redeem(book: PackageBook, n: int, now: datetime = SOLD) -> None:
    msg = RedeemRequest(key=f"k{n}", appointment_id=f"a{n}")
    visits.check_redeem(book, msg, now)
    visits.redeem(book, msg, now)


def kinds(book: PackageBook) -> list[str]:
    return [n.kind for n in book.state.notice_outbox]


def test_staff_alert_at_80_percent_of_ten_is_after_the_eighth_session() -> None:
    book = book_of(units=10)
    for n in range(7):
        redeem(book, n)
    assert "consumed_80" not in kinds(book)
    redeem(book, 7)
    assert kinds(book).count("consumed_80") == 1
    redeem(book, 8)
    assert kinds(book).count("consumed_80") == 1 and kinds(book).count("one_left") == 1


def test_dollar_credit_warns_at_twenty_percent_left() -> None:
    book = book_of(units=100_000, price=90_000, kind=PackageKind.DOLLARS)
    msg = RedeemRequest(key="d1", appointment_id="a1", amount_cents=79_999)
    visits.redeem(book, msg, SOLD)
    assert "low_balance" not in kinds(book)
    visits.redeem(book, RedeemRequest(key="d2", appointment_id="a2", amount_cents=1), SOLD)
    assert "low_balance" in kinds(book)
    # Bonus credit: $1,000 of credit bought for $900 is worth $0.90 per dollar of credit.
    assert book.value_of(book.state.remaining) == 18_000


def test_values_are_pro_rata_in_whole_cents_and_follow_top_ups() -> None:
    book = book_of(units=3, price=100_000)
    assert book.value_of(1) == 33_333
    staff.add_units(book, AddUnitsRequest(key="u", units=1, paid_cents=20_000), SOLD)
    assert (book.state.remaining, book.value_of(4)) == (4, 120_000)
    answer = staff.cancel(book, CancelRequest(key="x", reason="moving"), SOLD)
    assert answer.refund_due_cents == 120_000


def test_check_in_at_zero_is_refused_but_booking_only_alerts() -> None:
    book = book_of(units=1)
    redeem(book, 1)
    with pytest.raises(Refused) as refused:
        visits.check_note(
            book, AppointmentNotice(key="c", appointment_id="a2", change="checked_in"), SOLD
        )
    assert refused.value.type == "ZeroBalance"
    booked = AppointmentNotice(key="b", appointment_id="a2", change="booked")
    visits.check_note(book, booked, SOLD)
    visits.note_appointment(book, booked, SOLD)
    assert "booking_at_zero" in kinds(book)


def test_a_chain_of_rebookings_keeps_one_identity() -> None:
    book = book_of()
    for key, appt, old in (("b1", "x1", None), ("b2", "x2", "x1"), ("b3", "x3", "x2")):
        visits.note_appointment(
            book,
            AppointmentNotice(key=key, appointment_id=appt, change="booked", rebooked_from=old),
            SOLD,
        )
    first = visits.redeem(book, RedeemRequest(key="c3", appointment_id="x3"), SOLD)
    again = visits.redeem(book, RedeemRequest(key="c1", appointment_id="x1"), SOLD)
    assert first == again and book.state.remaining == 9


def test_expiry_with_unused_sessions_records_breakage() -> None:
    book = book_of(units=4, price=40_000)
    redeem(book, 1)
    expires_at = book.state.expires_at
    assert expires_at is not None
    timers.fire_due(book, expires_at)
    assert (book.state.status, book.forfeited, book.breakage) == ("expired", 3, 30_000)
    assert book.state.entries[-1].kind == "expiry"


def test_reminders_skipped_at_sale_are_never_sent() -> None:
    notices = NoticePolicy(
        timezone="UTC",
        local_hour=None,
        reminders=[
            ReminderSpec(label="60d", before=timedelta(days=60)),
            ReminderSpec(label="14d", before=timedelta(days=14)),
        ],
    )
    book = staff.open_book(
        PackageInput(
            package_id="p2",
            client_id="c1",
            terms=PackageTerms(type_code="t", name="Series", units=2, price_cents=1),
            purchased_at=SOLD,
            expires_at=SOLD + timedelta(days=30),
            notices=notices,
        )
    )
    assert list(book.state.reminders.values()) == ["skipped"]
    assert timers.next_deadline(book) == SOLD + timedelta(days=16)
