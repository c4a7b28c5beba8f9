"""Pure date arithmetic for expiry, reminders and pace; unit-tested apart from Temporal.

A package is *good through* a day in the spa's zone and *ends* at the next local midnight
(the exclusive end, `expires_at`). `good_through` and `ends_after` turn one into the other;
every date shown or sent for an expiry (texts, desk, CLI, CRM, booking notes, events,
reports) comes from them, never from the end instant's own date.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from workflows.models import ReminderSpec

_RESOLUTION = timedelta(microseconds=1)  # the last instant before an exclusive end


def zone(name: str | tzinfo) -> tzinfo:
    """The spa's zone (a name, or a zone already built). Workflows import this module passed
    through the sandbox, where ZoneInfo is the real class (the tz database is static data,
    read once and cached)."""
    return ZoneInfo(name) if isinstance(name, str) else name


def good_through(ends_at: datetime, timezone: str | tzinfo) -> date:
    """The last day, in the spa's zone, on which something ending at `ends_at` can be used.

    `ends_at` is exclusive: an end at exactly local midnight is good through the day before;
    an end at any other instant is good through its own local day. The arithmetic runs on
    absolute time, so DST changes (even one at midnight) cannot move the day.

    Raises:
        ValueError: `ends_at` has no time zone (its instant would depend on the machine).
    """
    if ends_at.utcoffset() is None:
        raise ValueError(f"ends_at {ends_at.isoformat()} needs a time zone")
    return (ends_at.astimezone(UTC) - _RESOLUTION).astimezone(zone(timezone)).date()


def ends_after(day: date, timezone: str | tzinfo) -> datetime:
    """The exclusive end of something good through `day`: the next local midnight.

    Where that midnight does not exist (a zone skipping 00:00 for DST) this is the first
    instant of the next day (01:00 there), so `good_through(ends_after(day, tz), tz) == day`
    always. The answer is in the spa's zone; a wall time that exists comes back unchanged.
    """
    tz = zone(timezone)
    midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    # Through UTC and back: a skipped midnight becomes the real instant it stands for (a
    # datetime inside a gap never compares equal across zones).
    return midnight.astimezone(UTC).astimezone(tz)


def add_months(day: date, months: int) -> date:
    """Calendar months, clamped to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def expiry_instant(purchased_at: datetime, months: int, timezone: str) -> datetime:
    """A package is good through its expiry date in the spa's zone: it ends at next midnight."""
    local_purchase = purchased_at.astimezone(zone(timezone)).date()
    return ends_after(add_months(local_purchase, months), timezone)


def reminder_instant(
    expires_at: datetime, spec: ReminderSpec, timezone: str, local_hour: int | None
) -> datetime:
    """When a reminder is due: `before` ahead of expiry, moved to the spa's sending hour.

    With `local_hour` None the offset is exact (used for short test offsets).
    """
    due = expires_at - spec.before
    if local_hour is None:
        return due
    tz = zone(timezone)
    local_day = due.astimezone(tz).date()
    return datetime.combine(local_day, time(local_hour), tzinfo=tz)


def reminder_key(spec: ReminderSpec, expires_at: datetime) -> str:
    """A reminder is once per label per expiry date: an extension schedules fresh ones."""
    return f"{spec.label}@{expires_at.isoformat()}"


def pace_deadline(expires_at: datetime, remaining: int, min_interval_days: int) -> datetime:
    """From this instant the remaining sessions no longer fit before expiry with one
    interval of slack (n sessions need n intervals), so the client should be warned."""
    return expires_at - timedelta(days=min_interval_days * remaining)
