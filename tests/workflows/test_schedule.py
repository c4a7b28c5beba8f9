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


# --- good through a day ↔ ends at the next local midnight ---------------------------------

LONDON, AUCKLAND, HONOLULU = "Europe/London", "Pacific/Auckland", "Pacific/Honolulu"
HAVANA = "America/Havana"  # skips 00:00 when DST starts: that midnight does not exist


def local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(timezone))


@pytest.mark.parametrize(
    ("last_day", "timezone", "ends_utc"),
    [
        # The two DST days in New York: 23 and 25 hours long.
        (date(2027, 3, 13), NY, datetime(2027, 3, 14, 5, 0, tzinfo=UTC)),  # EST midnight
        (date(2027, 3, 14), NY, datetime(2027, 3, 15, 4, 0, tzinfo=UTC)),  # EDT midnight
        (date(2027, 11, 6), NY, datetime(2027, 11, 7, 4, 0, tzinfo=UTC)),
        (date(2027, 11, 7), NY, datetime(2027, 11, 8, 5, 0, tzinfo=UTC)),
        # London: midnight is 00:00 UTC in winter and 23:00 UTC the day before in summer.
        (date(2027, 3, 27), LONDON, datetime(2027, 3, 28, 0, 0, tzinfo=UTC)),
        (date(2027, 3, 28), LONDON, datetime(2027, 3, 28, 23, 0, tzinfo=UTC)),
        (date(2027, 10, 30), LONDON, datetime(2027, 10, 30, 23, 0, tzinfo=UTC)),
        (date(2027, 10, 31), LONDON, datetime(2027, 11, 1, 0, 0, tzinfo=UTC)),
        # Far from UTC: Auckland's midnight is the previous UTC day, Honolulu's mid-morning.
        (date(2027, 4, 30), AUCKLAND, datetime(2027, 4, 30, 12, 0, tzinfo=UTC)),  # NZST
        (date(2027, 12, 31), AUCKLAND, datetime(2027, 12, 31, 11, 0, tzinfo=UTC)),  # NZDT
        (date(2027, 4, 30), HONOLULU, datetime(2027, 5, 1, 10, 0, tzinfo=UTC)),
        # Month and year ends, the leap day.
        (date(2027, 1, 31), NY, datetime(2027, 2, 1, 5, 0, tzinfo=UTC)),
        (date(2027, 12, 31), HONOLULU, datetime(2028, 1, 1, 10, 0, tzinfo=UTC)),
        (date(2028, 2, 28), NY, datetime(2028, 2, 29, 5, 0, tzinfo=UTC)),
        (date(2028, 2, 29), AUCKLAND, datetime(2028, 2, 29, 11, 0, tzinfo=UTC)),
        # Havana jumps from 00:00 to 01:00: the end is the first instant of the next day.
        (date(2027, 3, 13), HAVANA, datetime(2027, 3, 14, 5, 0, tzinfo=UTC)),
    ],
)
def test_good_through_a_day_ends_at_the_next_local_midnight(
    last_day: date, timezone: str, ends_utc: datetime
) -> None:
    ends = schedule.ends_after(last_day, timezone)

    assert ends == ends_utc
    assert schedule.good_through(ends, timezone) == last_day
    assert schedule.good_through(ends_utc, timezone) == last_day  # the instant, whatever zone
    assert schedule.good_through(ends_utc, ZoneInfo(timezone)) == last_day
    assert texts.local_date(ends, timezone) == last_day.strftime("%b %d, %Y")


@pytest.mark.parametrize("timezone", [NY, LONDON, AUCKLAND, HONOLULU, HAVANA, "UTC"])
def test_every_day_round_trips_through_its_end(timezone: str) -> None:
    day = date(2027, 1, 1)
    while day <= date(2028, 12, 31):  # two years: every DST change, a leap day
        ends = schedule.ends_after(day, timezone)
        assert schedule.good_through(ends, timezone) == day
        assert schedule.ends_after(schedule.good_through(ends, timezone), timezone) == ends
        day += timedelta(days=1)


def test_an_end_at_exactly_local_midnight_is_good_through_the_day_before() -> None:
    midnight = local_midnight(date(2027, 5, 1), AUCKLAND)
    tick = timedelta(microseconds=1)

    assert schedule.good_through(midnight, AUCKLAND) == date(2027, 4, 30)
    assert schedule.good_through(midnight + tick, AUCKLAND) == date(2027, 5, 1)
    assert schedule.good_through(midnight - tick, AUCKLAND) == date(2027, 4, 30)
    # Any other end instant is good through its own local day.
    assert schedule.good_through(midnight + timedelta(hours=15), AUCKLAND) == date(2027, 5, 1)
    # The end's own local date would say May 1 in the spa's zone and Apr 30 in UTC: neither
    # is what the client is told where the day does not straddle the UTC date.
    honolulu_end = local_midnight(date(2027, 5, 1), HONOLULU)
    assert honolulu_end.astimezone(UTC).date() == date(2027, 5, 1)
    assert schedule.good_through(honolulu_end, HONOLULU) == date(2027, 4, 30)


def test_a_skipped_midnight_leaves_no_part_of_the_day_good() -> None:
    # Havana's Mar 14 2027 starts at 01:00: a package ending then was not usable on the 14th
    # (wall-clock arithmetic, "01:00 minus a second", would have said it was).
    ends = datetime(2027, 3, 14, 5, 0, tzinfo=UTC)
    assert ends.astimezone(ZoneInfo(HAVANA)).hour == 1
    assert schedule.good_through(ends, HAVANA) == date(2027, 3, 13)


def test_the_zone_decides_the_day_not_the_zone_of_the_instant() -> None:
    ends = datetime(2027, 5, 1, 0, 0, tzinfo=ZoneInfo(NY))
    assert schedule.good_through(ends, NY) == date(2027, 4, 30)
    assert schedule.good_through(ends, AUCKLAND) == date(2027, 5, 1)  # 16:00 there, May 1
    assert schedule.good_through(ends.astimezone(ZoneInfo(AUCKLAND)), NY) == date(2027, 4, 30)


def test_an_end_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a time zone"):
        schedule.good_through(datetime(2027, 5, 1), NY)


@pytest.mark.parametrize(
    ("sold", "months", "last_day"),
    [
        (datetime(2027, 2, 28, 17, 0, tzinfo=UTC), 12, date(2028, 2, 28)),
        (datetime(2028, 2, 29, 17, 0, tzinfo=UTC), 12, date(2029, 2, 28)),
        (datetime(2027, 8, 31, 17, 0, tzinfo=UTC), 6, date(2028, 2, 29)),
        # Sold at 20:00 UTC on Apr 30: already May 1 in Auckland, the spa's day counts.
        (datetime(2027, 4, 30, 20, 0, tzinfo=UTC), 1, date(2027, 6, 1)),
    ],
)
def test_expiry_instant_is_the_end_of_the_last_good_day(
    sold: datetime, months: int, last_day: date
) -> None:
    timezone = AUCKLAND if sold.hour == 20 else NY
    ends = schedule.expiry_instant(sold, months, timezone)
    assert ends == schedule.ends_after(last_day, timezone)
    assert schedule.good_through(ends, timezone) == last_day
