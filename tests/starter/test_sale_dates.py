"""Purchase and expiry days of a sale, as instants: the arithmetic, apart from Temporal."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from starter.packages import Invalid
from starter.sale_dates import sale_dates
from workflows import schedule

ZONE = "America/New_York"
# 2026-12-07 21:00 in New York: already the 8th in UTC.
NOW = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)


def test_no_days_sell_now_with_the_types_expiry() -> None:
    dates = sale_dates(purchased_on=None, expires_on=None, timezone=ZONE, now=NOW)
    assert (dates.purchased_at, dates.expires_at, dates.backdated) == (None, None, False)


def test_today_in_the_spas_zone_is_not_backdated() -> None:
    dates = sale_dates(purchased_on=date(2026, 12, 7), expires_on=None, timezone=ZONE, now=NOW)
    assert dates.purchased_at is None and not dates.backdated


def test_a_past_day_starts_at_its_local_midnight_and_ends_after_the_last_good_day() -> None:
    dates = sale_dates(
        purchased_on=date(2026, 4, 12), expires_on=date(2027, 4, 11), timezone=ZONE, now=NOW
    )
    assert dates.backdated
    assert dates.purchased_at == datetime(2026, 4, 12, 4, 0, tzinfo=UTC)  # 00:00 EDT
    assert dates.expires_at is not None
    assert schedule.good_through(dates.expires_at, ZONE) == date(2027, 4, 11)


def test_a_purchase_on_a_day_that_skips_midnight_starts_when_the_day_does() -> None:
    # Santiago skipped 2026-09-06 00:00 (clocks went to 01:00).
    dates = sale_dates(
        purchased_on=date(2026, 9, 6), expires_on=None, timezone="America/Santiago", now=NOW
    )
    assert dates.purchased_at is not None
    assert dates.purchased_at.astimezone(schedule.zone("America/Santiago")).date() == date(
        2026, 9, 6
    )


@pytest.mark.parametrize(
    ("purchased_on", "expires_on", "message"),
    [
        (date(2026, 12, 8), None, "purchased_on: 2026-12-08 is after today (2026-12-07)"),
        (None, date(2026, 12, 6), "expires_on: 2026-12-06 has passed: a sale cannot start expired"),
        (
            date(2026, 5, 1),
            date(2026, 4, 30),
            "expires_on: 2026-04-30 is before purchased_on (2026-05-01)",
        ),
    ],
)
def test_impossible_days_are_refused_by_field(
    purchased_on: date | None, expires_on: date | None, message: str
) -> None:
    with pytest.raises(Invalid) as refused:
        sale_dates(purchased_on=purchased_on, expires_on=expires_on, timezone=ZONE, now=NOW)
    assert str(refused.value) == message


def test_the_last_good_day_may_be_today() -> None:
    dates = sale_dates(purchased_on=None, expires_on=date(2026, 12, 7), timezone=ZONE, now=NOW)
    assert dates.expires_at == datetime(2026, 12, 8, 5, 0, tzinfo=UTC)
