"""Activation on first visit without a server: the clock, the bound, the reminders."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from activities.repository import PackageTypeRecord
from activities.sales import SalePolicy
from workflows import schedule
from workflows.book import activation, staff, timers, visits
from workflows.book.core import PackageBook
from workflows.models import (
    NoticePolicy,
    PackageInput,
    PackageTerms,
    RedeemRequest,
    ReverseRequest,
)

SOLD = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)
NOTICES = NoticePolicy(timezone="UTC", renewal_url="https://r/{package_id}")
TYPE = PackageTypeRecord(
    type_code="act6",
    name="Laser (6), from first visit",
    units=6,
    price_cents=60_000,
    expiry_months=12,
    expiry_starts="first_visit",
    max_unused_months=24,
)


def sold(record: PackageTypeRecord = TYPE) -> PackageBook:
    policy = SalePolicy(notices=NOTICES, default_expiry_months=18)
    return staff.open_book(
        PackageInput(
            package_id="p1",
            client_id="c1",
            terms=policy.terms(record),
            purchased_at=SOLD,
            expires_at=policy.expires_at(record, SOLD, "UTC"),
            notices=NOTICES,
        )
    )


def redeem(book: PackageBook, n: int, now: datetime, day: date | None = None) -> None:
    msg = RedeemRequest(key=f"k{n}", appointment_id=f"a{n}", service_date=day)
    visits.check_redeem(book, msg, now)
    visits.redeem(book, msg, now)


def test_the_clock_adds_calendar_months_to_the_first_visit_day() -> None:
    assert activation.activation_expiry(date(2026, 1, 31), 1, "UTC") == schedule.ends_after(
        date(2026, 2, 28), "UTC"
    )


def test_an_unused_package_is_bounded_by_its_maximum_age_and_plans_no_reminders() -> None:
    book = sold()
    assert book.state.awaiting_activation
    assert book.state.expires_at == schedule.ends_after(date(2028, 1, 10), "UTC")
    assert timers.planned_reminders(book) == {}
    assert timers.next_deadline(book) == book.state.expires_at  # the bound still expires it


def test_the_first_visit_starts_the_clock_and_plans_the_reminders() -> None:
    book = sold()
    visit = SOLD + timedelta(days=200)
    redeem(book, 1, visit, day=date(2026, 7, 29))
    assert not book.state.awaiting_activation
    assert book.state.expires_at == schedule.ends_after(date(2027, 7, 29), "UTC")
    assert {k.split("@")[0] for k in timers.planned_reminders(book)} == {"60d", "30d", "14d"}
    kinds = [e.kind for e in book.state.entries]
    assert kinds == ["sale", "redemption", "activation"]
    assert "good through Jul 29, 2027" in book.state.entries[-1].outcome
    # A second visit, or the first one reversed, leaves the clock where it is.
    redeem(book, 2, visit + timedelta(days=30))
    reverse = ReverseRequest(key="r1", appointment_id="a1", reason="wrong client")
    visits.check_reverse(book, reverse)
    visits.reverse(book, reverse, visit + timedelta(days=31))
    assert book.state.expires_at == schedule.ends_after(date(2027, 7, 29), "UTC")
    assert [e.kind for e in book.state.entries].count("activation") == 1


def test_a_purchase_type_keeps_its_clock_from_the_sale() -> None:
    book = sold(TYPE.model_copy(update={"expiry_starts": "purchase"}))
    assert not book.state.awaiting_activation
    assert book.state.expires_at == schedule.ends_after(date(2027, 1, 10), "UTC")
    redeem(book, 1, SOLD + timedelta(days=5))
    assert book.state.expires_at == schedule.ends_after(date(2027, 1, 10), "UTC")


def test_the_spa_default_months_run_when_the_type_has_none() -> None:
    book = sold(TYPE.model_copy(update={"expiry_months": None}))
    redeem(book, 1, SOLD, day=date(2026, 1, 10))
    assert book.state.expires_at == schedule.ends_after(date(2027, 7, 10), "UTC")


def test_terms_without_months_do_not_await_activation() -> None:
    terms = PackageTerms(
        type_code="t", name="n", units=1, price_cents=1, expiry_starts="first_visit"
    )
    book = staff.open_book(
        PackageInput(
            package_id="p",
            client_id="c",
            terms=terms,
            purchased_at=SOLD,
            expires_at=SOLD + timedelta(days=30),
            notices=NOTICES,
        )
    )
    assert not book.state.awaiting_activation
