"""Date arithmetic for expiry, reminders and pace, without Temporal and without waiting."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflows import schedule, texts
from workflows.models import PackageKind, ReminderSpec, default_reminders

NY = "America/New_York"


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 3, 15), 12, date(2027, 3, 15)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 12, 1), 1, date(2027, 1, 1)),
    ],
)
def test_add_months_clamps_to_month_end(start: date, months: int, expected: date) -> None:
    assert schedule.add_months(start, months) == expected


def test_expiry_is_the_local_midnight_after_the_last_good_day() -> None:
    # 23:30 in New York on Nov 21 is already Nov 22 in UTC: the spa's date counts.
    sold = datetime(2026, 11, 22, 4, 30, tzinfo=UTC)
    expires = schedule.expiry_instant(sold, 12, NY)
    assert expires == datetime(2027, 11, 22, 0, 0, tzinfo=ZoneInfo(NY))
    assert texts.local_date(expires, NY) == "Nov 21, 2027"


def test_reminders_land_at_the_spa_sending_hour_across_dst() -> None:
    expires = datetime(2027, 4, 1, 0, 0, tzinfo=ZoneInfo(NY))  # EDT
    sixty, thirty, fourteen = default_reminders()
    at = schedule.reminder_instant(expires, sixty, NY, 10)
    assert at == datetime(2027, 1, 31, 10, 0, tzinfo=ZoneInfo(NY))  # EST, still 10:00 local
    assert at.astimezone(UTC).hour == 15
    assert schedule.reminder_instant(expires, thirty, NY, 10).astimezone(UTC).hour == 15
    after_dst = schedule.reminder_instant(expires, fourteen, NY, 10)
    assert after_dst.date() == date(2027, 3, 18)
    assert after_dst.astimezone(UTC).hour == 14  # EDT from March 14


def test_exact_offsets_without_a_sending_hour() -> None:
    expires = datetime(2027, 1, 1, tzinfo=UTC)
    spec = ReminderSpec(label="30d", before=timedelta(seconds=5))
    assert schedule.reminder_instant(expires, spec, NY, None) == expires - timedelta(seconds=5)


def test_reminder_keys_change_with_the_expiry() -> None:
    spec = default_reminders()[1]
    first = datetime(2027, 1, 1, tzinfo=UTC)
    assert schedule.reminder_key(spec, first) != schedule.reminder_key(
        spec, first + timedelta(days=30)
    )


def test_pace_deadline_leaves_one_interval_of_slack() -> None:
    expires = datetime(2027, 6, 1, tzinfo=UTC)
    assert schedule.pace_deadline(expires, 4, 28) == expires - timedelta(days=112)


def test_amounts_read_naturally() -> None:
    assert texts.amount(PackageKind.SESSIONS, 1) == "1 session"
    assert texts.amount(PackageKind.SESSIONS, 3) == "3 sessions"
    assert texts.amount(PackageKind.DOLLARS, 123_456) == "$1,234.56"
    assert texts.money(-500) == "-$5.00"
