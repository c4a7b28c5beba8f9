"""What clients and staff read, per package kind and per message, through the book's rules
(no server: the rules take `now`). Each text is the one the messaging activities send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workflows import texts
from workflows.book import payments, staff, timers, visits
from workflows.book.core import PackageBook
from workflows.models import (
    RENEWAL_LINK,
    AddUnitsRequest,
    AppointmentNotice,
    ClientNoticeEffect,
    NoticePolicy,
    PackageInput,
    PackageKind,
    PackageTerms,
    PaymentRef,
    RedeemRequest,
    RefundEffect,
    ReverseRequest,
    StaffAlertEffect,
)

SOLD = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)
SPA = "Glow Med Spa"


def book_of(
    *,
    units: int = 6,
    kind: PackageKind = PackageKind.SESSIONS,
    name: str = "Laser Hair Removal (6)",
    shared: bool = False,
    paid: bool = False,
    renews: str | None = None,
    min_interval_days: int | None = None,
    vip_rollover_max: int = 0,
    purchased_at: datetime = SOLD,
    started_at: datetime | None = None,
    expires_in: timedelta = timedelta(days=365),
) -> PackageBook:
    return staff.open_book(
        PackageInput(
            package_id="p1",
            client_id="ava",
            terms=PackageTerms(
                type_code="t",
                name=name,
                kind=kind,
                units=units,
                price_cents=units * 100 if kind is PackageKind.SESSIONS else units,
                min_interval_days=min_interval_days,
                vip_rollover_max=vip_rollover_max,
            ),
            purchased_at=purchased_at,
            expires_at=purchased_at + expires_in,
            parent_purchase_id="purchase-1" if shared else None,
            payment=PaymentRef(payment_intent_id="pi_1") if paid else None,
            renews_package_id=renews,
            notices=NoticePolicy(spa_name=SPA, timezone="America/New_York"),
        ),
        started_at=started_at,
    )


def redeem(book: PackageBook, n: int, *, amount: int | None = None, now: datetime = SOLD) -> None:
    msg = RedeemRequest(key=f"k{n}", appointment_id=f"a{n}", amount_cents=amount)
    visits.check_redeem(book, msg, now)
    visits.redeem(book, msg, now)


def client_texts(book: PackageBook, kind: str) -> list[str]:
    return [
        n.body
        for n in book.state.notice_outbox
        if isinstance(n, ClientNoticeEffect) and n.kind == kind
    ]


def staff_texts(book: PackageBook, kind: str) -> list[str]:
    return [
        n.message
        for n in book.state.notice_outbox
        if isinstance(n, StaffAlertEffect) and n.kind == kind
    ]


# --- confirmations name the spa, per kind ---------------------------------------------------


def test_confirmation_of_a_session_package_names_the_spa() -> None:
    book = book_of()
    redeem(book, 1)
    assert client_texts(book, "confirmation") == [
        "Glow Med Spa: Session 1 of 6 complete — 5 remaining (Laser Hair Removal (6))."
    ]


def test_confirmation_of_dollar_credit_is_in_dollars() -> None:
    book = book_of(units=150_000, kind=PackageKind.DOLLARS, name="Injectables Credit $1,500")
    redeem(book, 1, amount=42_500)
    assert client_texts(book, "confirmation") == [
        "Glow Med Spa: $425.00 redeemed from your Injectables Credit $1,500 — $1,075.00 "
        "remaining of $1,500.00."
    ]


def test_confirmation_of_a_shared_package_says_it_is_a_share() -> None:
    book = book_of(units=2, name="Couples Facial (4)", shared=True)
    redeem(book, 1)
    redeem(book, 2)
    assert client_texts(book, "confirmation") == [
        "Glow Med Spa: Session 1 of 2 complete — 1 remaining (your share of Couples Facial (4)).",
        "Glow Med Spa: Session 2 of 2 complete — 0 remaining (your share of Couples Facial (4))."
        " That was your last session: ask us about a renewal.",
    ]


def test_zero_balance_says_so_for_credit() -> None:
    book = book_of(units=10_000, kind=PackageKind.DOLLARS, name="Gift credit")
    redeem(book, 1, amount=10_000)
    [text] = client_texts(book, "confirmation")
    assert text.endswith("That was the last of your credit: ask us about a renewal.")
    assert "session" not in text


# --- balance alerts ------------------------------------------------------------------------


def test_two_and_one_left_name_the_spa_and_the_renewal() -> None:
    book = book_of()
    for n in range(5):
        redeem(book, n)
    assert client_texts(book, "two_left") == [
        "Glow Med Spa: you have 2 sessions left on your Laser Hair Removal (6)."
    ]
    assert client_texts(book, "one_left") == [
        f"Glow Med Spa: you have 1 session left on your Laser Hair Removal (6). "
        f"Renew now: {RENEWAL_LINK}"
    ]


def test_low_credit_is_in_dollars() -> None:
    book = book_of(units=150_000, kind=PackageKind.DOLLARS, name="Injectables Credit $1,500")
    redeem(book, 1, amount=125_000)
    assert client_texts(book, "low_balance") == [
        f"Glow Med Spa: $250.00 of credit left on your Injectables Credit $1,500. "
        f"Renew now: {RENEWAL_LINK}"
    ]


def test_staff_alert_on_a_two_session_share_states_what_is_used() -> None:
    """The 80% point of 2 sessions is first passed by the second (50%, then 100%): the alert
    said "used 80% … (0 sessions left)". It says what is used."""
    book = book_of(units=2, name="Couples Facial (4)", shared=True)
    redeem(book, 1)
    assert staff_texts(book, "consumed_80") == []
    redeem(book, 2)
    [alert] = staff_texts(book, "consumed_80")
    assert alert == (
        "Client ava has used 2 of 2 sessions (100%) of Couples Facial (4) (a share of a "
        "shared purchase), no sessions left: offer a renewal."
    )
    assert "80%" not in alert and "0 sessions" not in alert


def test_staff_alert_on_ten_sessions_at_eight_used() -> None:
    book = book_of(units=10, name="Series (10)")
    for n in range(8):
        redeem(book, n)
    assert staff_texts(book, "consumed_80") == [
        "Client ava has used 8 of 10 sessions (80%) of Series (10), 2 sessions left: "
        "offer a renewal."
    ]


def test_staff_alert_on_credit_is_in_dollars() -> None:
    book = book_of(units=150_000, kind=PackageKind.DOLLARS, name="Injectables Credit $1,500")
    redeem(book, 1, amount=125_000)
    assert staff_texts(book, "consumed_80") == [
        "Client ava has used $1,250.00 of $1,500.00 (83%) of Injectables Credit $1,500, "
        "$250.00 left: offer a renewal."
    ]


def test_booking_at_zero_alerts_staff_in_words_of_the_kind() -> None:
    book = book_of(units=1, name="Consult")
    redeem(book, 1)
    msg = AppointmentNotice(key="b1", appointment_id="appt-9", change="booked")
    visits.check_note(book, msg, SOLD)
    visits.note_appointment(book, msg, SOLD)
    assert staff_texts(book, "booking_at_zero") == [
        "Appointment appt-9 was booked against Consult for client ava, which has no sessions "
        "left (zero balance): collect payment before the visit."
    ]


# --- reminders, expiry, pace ---------------------------------------------------------------


def test_reminders_at_60_30_14_days_carry_the_balance_when_sent() -> None:
    book = book_of()
    redeem(book, 1)
    redeem(book, 2)
    expiry = SOLD + timedelta(days=365)
    for days in (60, 30, 14):
        timers.fire_due(book, expiry - timedelta(days=days) + timedelta(hours=12))
    assert client_texts(book, "reminder") == [
        "Glow Med Spa: you have 4 sessions left on your Laser Hair Removal (6), good through "
        "Jan 10, 2027.",
        "Glow Med Spa: you have 4 sessions left on your Laser Hair Removal (6), good through "
        f"Jan 10, 2027. Renew: {RENEWAL_LINK}",
        "Glow Med Spa: you have 4 sessions left on your Laser Hair Removal (6), good through "
        "Jan 10, 2027.",
    ]


def test_reminder_of_credit_is_in_dollars() -> None:
    book = book_of(units=150_000, kind=PackageKind.DOLLARS, name="Injectables Credit $1,500")
    redeem(book, 1, amount=42_500)
    timers.fire_due(book, SOLD + timedelta(days=365 - 59))
    assert client_texts(book, "reminder") == [
        "Glow Med Spa: you have $1,075.00 left on your Injectables Credit $1,500, good through "
        "Jan 10, 2027."
    ]


def test_backdated_sale_skips_reminders_already_due_when_its_run_starts() -> None:
    """The demo's VIP package: bought 345 days ago, expiring in 20 days, visits reported
    after the sale. Reminders due 40 and 10 days ago went out at once with "6 sessions left"
    and were logged ahead of the visits."""
    now = datetime(2026, 6, 1, 15, tzinfo=UTC)
    bought = now - timedelta(days=345)
    book = book_of(purchased_at=bought, started_at=now)
    assert (
        book.state.reminders == {key: "skipped" for key in book.state.reminders}
        and len(book.state.reminders) == 2
    )
    timers.fire_due(book, now)
    for n in range(4):
        redeem(book, n, now=now)
    assert client_texts(book, "reminder") == []
    timers.fire_due(book, bought + timedelta(days=365 - 14, hours=12))  # the 14-day one
    assert client_texts(book, "reminder") == [
        "Glow Med Spa: you have 2 sessions left on your Laser Hair Removal (6), good through "
        + texts.local_date(book.state.expires_at, "America/New_York")
        + "."
    ]


def test_expiry_and_vip_review_texts() -> None:
    book = book_of(units=150_000, kind=PackageKind.DOLLARS, name="Gift credit")
    redeem(book, 1, amount=50_000)
    timers.fire_due(book, SOLD + timedelta(days=366))
    assert client_texts(book, "expired") == [
        "Glow Med Spa: your Gift credit expired with $1,000.00 unused."
    ]
    vip = book_of(units=6, name="VIP HydraFacial (6)", vip_rollover_max=2)
    for n in range(4):
        redeem(vip, n)
    timers.fire_due(vip, SOLD + timedelta(days=366))
    assert staff_texts(vip, "expiry_review") == [
        "VIP HydraFacial (6) for client ava reached expiry with 2 sessions left (VIP rollover): "
        "extend or forfeit."
    ]


def test_pace_warning_of_a_paced_package() -> None:
    book = book_of(min_interval_days=28)
    timers.fire_due(book, SOLD + timedelta(days=300))
    [text] = client_texts(book, "pace")
    assert text == (
        "Glow Med Spa: 6 sessions of Laser Hair Removal (6) need about 28 days between visits; "
        "to use them all before Jan 10, 2027, book now."
    )
    assert staff_texts(book, "pace") == [
        "Client ava: 6 sessions of Laser Hair Removal (6) need about 28 days between visits; "
        "to use them all before Jan 10, 2027, book now."
    ]


# --- purchase, renewal, top-up, reversal, refund ---------------------------------------------


def test_thanks_for_a_purchase_and_for_a_renewal() -> None:
    assert client_texts(book_of(paid=True), "purchase") == [
        "Glow Med Spa: thank you! Your Laser Hair Removal (6) is ready: 6 sessions, good "
        "through Jan 10, 2027."
    ]
    assert client_texts(book_of(paid=True, renews="p0"), "renewal") == [
        "Glow Med Spa: thank you for renewing! Your Laser Hair Removal (6) is ready: "
        "6 sessions, good through Jan 10, 2027."
    ]


def test_top_up_and_reversal_in_the_package_unit() -> None:
    book = book_of(units=150_000, kind=PackageKind.DOLLARS, name="Gift credit")
    redeem(book, 1, amount=20_000)
    staff.add_units(book, AddUnitsRequest(key="t1", units=5_000, paid_cents=5_000), SOLD)
    visits.reverse(book, ReverseRequest(key="r1", appointment_id="a1", reason="error"), SOLD)
    assert client_texts(book, "top_up") == [
        "Glow Med Spa: $50.00 added to your Gift credit — $1,350.00 left."
    ]
    assert client_texts(book, "reversal") == [
        "Glow Med Spa: Correction: $200.00 returned to your Gift credit — $1,550.00 left."
    ]


def test_refund_text_names_the_spa_and_the_amount() -> None:
    book = book_of(paid=True)
    effect = RefundEffect(
        key="rf1", cancel_key="c1", amount_cents=40_000, units=4, value_cents=40_000, reason="x"
    )
    payments.refund_issued(book, effect, refund_id="re_1", amount=40_000, now=SOLD)
    assert client_texts(book, "refund") == [
        "Glow Med Spa: we refunded $400.00 for your Laser Hair Removal (6). It reaches your "
        "card in 5 to 10 business days."
    ]


def test_money_is_one_helper_with_exact_cents() -> None:
    assert texts.money(123_450) == "$1,234.50"
    assert texts.money(-500) == "-$5.00"
    assert texts.money(2**60 + 1) == "$11,529,215,046,068,469.77"  # no float rounding
    assert texts.plain_dollars(123_450) == "1234.50"
