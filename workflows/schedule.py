"""Pure date arithmetic for expiry, reminders and pace; unit-tested apart from Temporal."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from workflows.models import ReminderSpec


def zone(name: str) -> ZoneInfo:
    """The spa's zone. Workflows import this module passed through the sandbox, where
    ZoneInfo is the real class (the tz database is static data, read once and cached)."""
    return ZoneInfo(name)


def add_months(day: date, months: int) -> date:
    """Calendar months, clamped to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def expiry_instant(purchased_at: datetime, months: int, timezone: str) -> datetime:
    """A package is good through its expiry date in the spa's zone: it ends at next midnight."""
    tz = zone(timezone)
    local_purchase = purchased_at.astimezone(tz).date()
    last_day = add_months(local_purchase, months)
    return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=tz)


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
