"""The book's rules without a server: they take `now`, so plain calls exercise them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflows import schedule
from workflows.book import Refused, staff, timers, visits
from workflows.book.core import PackageBook
from workflows.models import (
    AddUnitsRequest,
    AppointmentNotice,
    AttendanceRequest,
    CancelRequest,
    CorrectExpiryRequest,
    ExtendRequest,
    NoticePolicy,
    PackageInput,
    PackageKind,
    PackageStatus,
    PackageTerms,
    RedeemRequest,
    ReminderSpec,
    ReverseRequest,
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
    # Bonus credit: $1,000 of credit bought for $900 is worth $0.90 per dollar of credit;
    # uses round down, the cent stays with what is unused, and the total stays exact.
    assert book.unused_value() == 18_001
    assert values(book) == 90_000


def values(book: PackageBook) -> int:
    """Everything the ledger has valued so far plus what remains unused."""
    used = sum(
        e.value_cents
        for e in book.state.entries
        if e.kind in ("redemption", "late_cancel", "no_show", "expiry", "cancellation")
    )
    given_back = sum(e.value_cents for e in book.state.entries if e.kind == "reversal")
    return used - given_back + book.unused_value()


def test_values_add_up_to_what_was_paid_through_rounding_and_top_ups() -> None:
    book = book_of(units=3, price=100_000)
    for n in range(3):
        redeem(book, n)
    assert [e.value_cents for e in book.state.entries[1:]] == [33_333, 33_333, 33_334]

    book = book_of(units=6, price=180_000)
    redeem(book, 1)
    redeem(book, 2)
    staff.add_units(book, AddUnitsRequest(key="u", units=4, paid_cents=100_000), SOLD)
    for n in range(3, 6):
        redeem(book, n)
    assert values(book) == 280_000
    assert book.unused_value() == 137_500  # 5 left of the $2,200 bought for 8
    answer = staff.cancel(book, CancelRequest(key="x", reason="moving"), SOLD)
    assert answer.refund_due_cents == book.state.entries[-1].value_cents
    assert values(book) == 280_000 and book.unused_value() == 0


def test_a_reversal_gives_back_exactly_what_the_visit_took() -> None:
    book = book_of(units=3, price=100_000)
    redeem(book, 1)
    visits.reverse(book, ReverseRequest(key="r", appointment_id="a1", reason="error"), SOLD)
    assert (book.state.remaining, book.unused_value()) == (3, 100_000)


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


def test_the_same_absence_reported_twice_forfeits_once() -> None:
    book = book_of(units=4, late_cancel_forfeits=True, no_show_forfeits=True)
    first = AttendanceRequest(key="e1", appointment_id="a1", outcome="late_cancel")
    visits.check_attendance(book, first, SOLD)
    answer = visits.record_attendance(book, first, SOLD)
    again = AttendanceRequest(key="e2", appointment_id="a1", outcome="no_show")
    visits.check_attendance(book, again, SOLD)
    assert visits.record_attendance(book, again, SOLD) == answer
    assert book.state.remaining == 3


def test_a_forfeited_visit_later_completed_takes_one_session_in_all() -> None:
    book = book_of(units=4, price=40_000, late_cancel_forfeits=True)
    visits.record_attendance(
        book, AttendanceRequest(key="e1", appointment_id="a1", outcome="late_cancel"), SOLD
    )
    done = RedeemRequest(key="c1", appointment_id="a1")
    visits.check_redeem(book, done, SOLD)
    answer = visits.redeem(book, done, SOLD)
    assert answer.remaining == 3 and book.state.entries[-1].units_delta == 0
    visits.reverse(book, ReverseRequest(key="r1", appointment_id="a1", reason="error"), SOLD)
    assert (book.state.remaining, book.unused_value()) == (4, 40_000)


def test_a_forfeited_visit_completes_even_at_zero() -> None:
    book = book_of(units=1, late_cancel_forfeits=True)
    visits.record_attendance(
        book, AttendanceRequest(key="e1", appointment_id="a1", outcome="late_cancel"), SOLD
    )
    done = RedeemRequest(key="c1", appointment_id="a1")
    visits.check_redeem(book, done, SOLD)  # no ZeroBalance: the session was already taken
    assert visits.redeem(book, done, SOLD).remaining == 0


def test_every_pace_warning_is_its_own_entry() -> None:
    book = book_of(units=6, min_interval_days=28)  # 6 x 28 days fit in a year
    late = SOLD + timedelta(days=230)  # 135 days left: 6 sessions no longer fit
    timers.fire_due(book, late)
    redeem(book, 1, late)  # 5 x 28 = 140 > 135: still at risk, no new warning
    visits.reverse(book, ReverseRequest(key="r", appointment_id="a1", reason="error"), late)
    keys = [e.key for e in book.state.entries if e.kind == "pace_alert"]
    assert len(keys) == 1
    book2 = book_of(units=3, min_interval_days=28)
    at = SOLD + timedelta(days=300)  # 65 days left; 3 x 28 = 84: at risk
    timers.fire_due(book2, at)
    redeem(book2, 1, at)  # 2 x 28 = 56 fits: re-armed
    visits.reverse(book2, ReverseRequest(key="r", appointment_id="a1", reason="error"), at)
    keys = [e.key for e in book2.state.entries if e.kind == "pace_alert"]
    assert len(keys) == 2 and len(set(keys)) == 2


def test_reminders_default_to_ten_local_and_move_with_an_extension() -> None:
    book = staff.open_book(
        PackageInput(
            package_id="p3",
            client_id="c1",
            terms=PackageTerms(type_code="t", name="Series", units=2, price_cents=1),
            purchased_at=SOLD,
            expires_at=datetime(2027, 1, 11, 5, 0, tzinfo=UTC),  # midnight NY
        )
    )
    first = timers.next_deadline(book)
    assert first is not None and (
        first.astimezone(ZoneInfo("America/New_York")).hour,
        first.date(),
    ) == (10, date(2026, 11, 12))
    later = datetime(2027, 6, 1, 4, 0, tzinfo=UTC)
    staff.extend(
        book, ExtendRequest(key="x", new_expires_at=later, reason="leave", actor="m"), SOLD
    )
    moved = timers.next_deadline(book)
    assert moved is not None and moved.astimezone(ZoneInfo("America/New_York")).date() == date(
        2027, 4, 2
    )


def test_extend_only_lengthens_and_a_correction_may_shorten() -> None:
    book = book_of()  # expires SOLD + 365 days; reminders 60/30/14 d at 10:00 UTC
    now = SOLD + timedelta(days=100)
    earlier = SOLD + timedelta(days=120)
    with pytest.raises(Refused, match=r"an extension only lengthens.*correct-expiry"):
        staff.check_extend(book, ExtendRequest(key="x", new_expires_at=earlier, reason="r"), now)
    fix = CorrectExpiryRequest(key="c", new_expires_at=earlier, reason="typed wrong", actor="m")
    staff.check_correct_expiry(book, fix, now)
    answer = staff.correct_expiry(book, fix, now)
    assert (answer.outcome, book.state.expires_at) == ("corrected", earlier)
    entry = book.state.entries[-1]
    assert (entry.kind, entry.reason, entry.units_delta, entry.value_cents) == (
        "expiry_correction",
        "typed wrong",
        0,
        0,
    )
    assert entry.outcome == "expiry corrected from Jan 10, 2027 to May 10, 2026"
    # The 60- and 30-day reminders of the new day are already past: skipped, not sent
    # late; the 14-day one is the next deadline, at the sending hour.
    skipped = [k.split("@")[0] for k, v in book.state.reminders.items() if v == "skipped"]
    assert skipped == ["60d", "30d"]
    assert timers.next_deadline(book) == datetime(2026, 4, 26, 10, 0, tzinfo=UTC)


def test_a_correction_never_expires_a_package_and_must_change_the_day() -> None:
    book = book_of()
    now = SOLD + timedelta(days=100)
    for when, why in (
        (now - timedelta(seconds=1), "not in the future"),
        (now, "not in the future"),
        (SOLD + timedelta(days=365), "already expires then"),
        (datetime(2026, 6, 1), "needs a time zone"),
    ):
        with pytest.raises(Refused, match=why):
            staff.check_correct_expiry(
                book, CorrectExpiryRequest(key="c", new_expires_at=when, reason="r"), now
            )
    later = SOLD + timedelta(days=400)  # a correction may lengthen too
    staff.correct_expiry(book, CorrectExpiryRequest(key="c", new_expires_at=later, reason="r"), now)
    assert book.state.expires_at == later
    book.state.status = PackageStatus.CANCELLED
    with pytest.raises(Refused, match="is cancelled: its expiry cannot be corrected"):
        staff.check_correct_expiry(
            book, CorrectExpiryRequest(key="c2", new_expires_at=later, reason="r"), now
        )


def test_reminders_at_ten_in_the_packages_own_zone_across_daylight_saving() -> None:
    """A package of the Los Angeles location: 10:00 Pacific, PDT or PST as the day has it."""
    la = ZoneInfo("America/Los_Angeles")
    expires_at = schedule.ends_after(date(2027, 11, 20), la)  # PST from Nov 7
    book = staff.open_book(
        PackageInput(
            package_id="p-la",
            client_id="c1",
            terms=PackageTerms(type_code="t", name="Series", units=2, price_cents=1),
            purchased_at=SOLD,
            expires_at=expires_at,
            notices=NoticePolicy(timezone="America/Los_Angeles"),
            location_id="venice",
        )
    )
    planned = timers.planned_reminders(book)
    local = {key.split("@")[0]: due.astimezone(la) for key, due in planned.items()}
    assert {(d.hour, d.minute) for d in local.values()} == {(10, 0)}
    assert {label: (d.date(), d.astimezone(UTC).hour) for label, d in local.items()} == {
        "60d": (date(2027, 9, 22), 17),  # PDT, UTC-7
        "30d": (date(2027, 10, 22), 17),
        "14d": (date(2027, 11, 7), 18),  # the day daylight saving ends: PST, UTC-8
    }
    assert book.snapshot(SOLD).location_id == "venice"
    assert expires_at.astimezone(la).hour == 0 and expires_at.utcoffset() == timedelta(hours=-8)
