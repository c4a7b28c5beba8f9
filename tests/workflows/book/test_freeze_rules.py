"""Freeze date arithmetic and the book's freeze rules without a server (they take `now`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflows import schedule
from workflows.book import Refused, freeze, staff, timers, visits
from workflows.book.core import PackageBook
from workflows.models import (
    CancelRequest,
    CorrectExpiryRequest,
    FreezeRequest,
    NoticePolicy,
    PackageInput,
    PackageTerms,
    RedeemRequest,
    ReminderSpec,
    UnfreezeRequest,
)

SOLD = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def book_of(reminders: list[ReminderSpec] | None = None, **terms: object) -> PackageBook:
    notices = NoticePolicy(timezone="UTC", renewal_url="https://r/{package_id}", local_hour=None)
    if reminders is not None:
        notices = notices.model_copy(update={"reminders": reminders})
    return staff.open_book(
        PackageInput(
            package_id="p1",
            client_id="c1",
            terms=PackageTerms(type_code="t", name="Series", units=6, price_cents=60_000, **terms),  # type: ignore[arg-type]
            purchased_at=SOLD,
            expires_at=SOLD + 100 * DAY,
            notices=notices,
        )
    )


def freeze_for(book: PackageBook, days: int, now: datetime = SOLD) -> None:
    msg = FreezeRequest(key="f", until=now.date() + (days - 1) * DAY, reason="leave", actor="m")
    freeze.check_freeze(book, msg, now)
    freeze.freeze(book, msg, now)


def spec(label: str, days: int) -> ReminderSpec:
    return ReminderSpec(label=label, before=days * DAY)


def test_span_arithmetic_counts_today() -> None:
    assert freeze.frozen_days(date(2026, 3, 1), date(2026, 3, 30)) == 30
    assert freeze.days_given_back(date(2026, 3, 30), date(2026, 3, 1)) == 30
    assert freeze.days_given_back(date(2026, 3, 30), date(2026, 3, 11)) == 20
    assert freeze.days_given_back(date(2026, 3, 30), date(2026, 3, 31)) == 0


def test_moving_an_expiry_keeps_its_local_midnight_across_dst() -> None:
    zone = "America/New_York"
    ends = schedule.ends_after(date(2026, 3, 1), zone)  # DST starts Mar 8
    moved = freeze.move_expiry(ends, 30, zone)
    assert moved == schedule.ends_after(date(2026, 3, 31), zone)
    assert moved.astimezone(ZoneInfo(zone)).hour == 0
    assert freeze.move_expiry(moved, -30, zone) == ends


def test_a_freeze_moves_expiry_and_reminders_and_only_its_end_is_a_deadline() -> None:
    book = book_of()
    before = timers.planned_reminders(book)
    freeze_for(book, 30)
    assert book.state.expires_at == SOLD + 130 * DAY
    after = timers.planned_reminders(book)
    assert sorted(after.values()) == [due + 30 * DAY for due in sorted(before.values())]
    ends = schedule.ends_after(SOLD.date() + 29 * DAY, "UTC")
    assert timers.next_deadline(book) == ends
    with pytest.raises(Refused, match="frozen through Feb 08, 2026") as refused:
        visits.check_redeem(book, RedeemRequest(key="k", appointment_id="a"), SOLD + DAY)
    assert refused.value.type == "PackageFrozen"


def test_the_freeze_ends_by_itself_after_its_last_day() -> None:
    book = book_of()
    freeze_for(book, 30)
    ends = book.state.frozen_until
    assert ends is not None
    freeze.unfreeze_when_due(book, ends - timedelta(seconds=1))
    assert freeze.is_frozen(book)
    freeze.unfreeze_when_due(book, ends)
    assert not freeze.is_frozen(book)
    entry = book.state.entries[-1]
    assert (entry.kind, entry.actor, entry.units_delta) == ("unfreeze", "system", 0)
    assert entry.outcome == "unfrozen after 30 days"
    assert book.state.expires_at == SOLD + 130 * DAY  # the whole span was used
    visits.check_redeem(book, RedeemRequest(key="k", appointment_id="a"), ends)


def test_an_early_unfreeze_takes_back_the_days_not_used() -> None:
    book = book_of()
    freeze_for(book, 30)
    freeze.check_unfreeze(book, UnfreezeRequest(key="u"))
    answer = freeze.unfreeze(book, UnfreezeRequest(key="u", actor="m"), SOLD + 10 * DAY)
    assert answer.outcome == "unfrozen"
    assert book.state.expires_at == SOLD + 110 * DAY  # 10 days frozen, 20 given back
    assert timers.next_deadline(book) == min(timers.planned_reminders(book).values())
    with pytest.raises(Refused, match="is not frozen"):
        freeze.check_unfreeze(book, UnfreezeRequest(key="u2"))


def test_reminders_due_during_a_freeze_are_held_and_only_the_latest_goes_out() -> None:
    book = book_of(reminders=[spec("30d", 30), spec("20d", 20), spec("14d", 14)])
    freeze_for(book, 30)
    # A manager then corrects the expiry to day 45: the 30d and 20d reminders fall due
    # inside the freeze (days 15 and 25); the 14d one after it (day 31).
    fix = CorrectExpiryRequest(key="c", new_expires_at=SOLD + 45 * DAY, reason="typo")
    staff.correct_expiry(book, fix, SOLD + DAY)
    timers.fire_due(book, SOLD + 20 * DAY)
    assert not book.state.notice_outbox or all(
        n.kind != "reminder" for n in book.state.notice_outbox
    )
    end = book.state.frozen_until
    assert end is not None
    freeze.unfreeze_when_due(book, end)
    timers.fire_due(book, end)
    sent = {k.split("@")[0]: v for k, v in book.state.reminders.items() if "@" in k}
    assert sent.get("30d") == "skipped" and sent.get("20d") == "sent" and "14d" not in sent


def test_a_freeze_is_bounded_by_the_type() -> None:
    with pytest.raises(Refused, match="longer than the 7 days") as too_long:
        freeze_for(book_of(max_freeze_days=7), 8)
    assert too_long.value.type == "FreezeTooLong"
    with pytest.raises(Refused) as not_allowed:
        freeze_for(book_of(max_freeze_days=0), 1)
    assert not_allowed.value.type == "FreezeNotAllowed"
    with pytest.raises(Refused) as before_today:
        freeze_for(book_of(), 0)
    assert before_today.value.type == "BadFreeze"


def test_a_cancelled_frozen_package_is_not_unfrozen() -> None:
    book = book_of()
    freeze_for(book, 30)
    cancel = CancelRequest(key="c", reason="moved away")
    staff.check_cancel(book, cancel)
    staff.cancel(book, cancel, SOLD + DAY)
    with pytest.raises(Refused) as closed:
        freeze.check_unfreeze(book, UnfreezeRequest(key="u"))
    assert closed.value.type == "PackageClosed"
    assert timers.next_deadline(book) is None
