"""Reports on demand, shared by the CLI and the API: the reconciliation for a period, and
the overrun audit of an uploaded export (parsed like the CSV import, then stored)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from activities.reports import (
    AuditProblem,
    AuditVisit,
    OverrunAudit,
    OverrunAuditor,
    Period,
    ReportStore,
    days_period,
    last_full_week,
    overruns_csv,
)
from starter.ingress.csv_import import parse_csv
from starter.packages import PunchcardError
from workflows.visit_models import Platform, VisitChange

EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)


class ReportRejected(PunchcardError):
    """The request cannot make a report (bad period, unreadable file); str() says why."""


_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\.\.|/)(\d{4}-\d{2}-\d{2})$")


def feed_period(text: str | None, *, timezone: str, now: datetime | None = None) -> Period:
    """A feed's `?period=`: absent or `last-week` (the last full week, Monday to Sunday),
    an ISO week `2026-W10`, or days `2026-03-02..2026-03-08` (inclusive; `/` works too)."""
    if text is None or text == "last-week":
        return report_period(None, None, timezone=timezone, now=now)
    if week := _ISO_WEEK.match(text):
        try:
            monday = date.fromisocalendar(int(week[1]), int(week[2]), 1)
        except ValueError as err:
            raise ReportRejected(f"no such week: {text}") from err
        return report_period(monday, monday + timedelta(days=6), timezone=timezone, now=now)
    if days := _RANGE.match(text):
        try:
            first, last = date.fromisoformat(days[1]), date.fromisoformat(days[2])
        except ValueError as err:
            raise ReportRejected(f"no such day in {text}") from err
        return report_period(first, last, timezone=timezone, now=now)
    raise ReportRejected(
        f"period {text!r}: give last-week, an ISO week (2026-W10) or days (2026-03-02..2026-03-08)"
    )


def report_period(
    first: date | None, last: date | None, *, timezone: str, now: datetime | None = None
) -> Period:
    """Whole local days `first` to `last` inclusive; neither: the last full week (Monday to
    Sunday); `first` alone: through today."""
    now = now or datetime.now(UTC)
    if first is None and last is None:
        return last_full_week(now, timezone)
    if first is None:
        raise ReportRejected("give a start date with the end date, or neither for last week")
    end = last if last is not None else now.astimezone(ZoneInfo(timezone)).date()
    if end < first:
        raise ReportRejected(f"the period ends ({end}) before it starts ({first})")
    if first < EARLIEST or end > LATEST:
        raise ReportRejected(f"dates must be between {EARLIEST} and {LATEST}")
    return days_period(first, end, timezone)


async def audit_export(
    data: bytes | str,
    *,
    pool: asyncpg.Pool,
    platform: str,
    timezone: str,
    actor: str,
    now: datetime | None = None,
) -> OverrunAudit:
    """Audit an export of completed appointments and store the result (the weekly
    reconciliation shows the latest audit).

    Raises:
        ReportRejected: the file has no readable rows at all (empty, or a header without
            the columns an export needs); the message names the problem.
    """
    now = now or datetime.now(UTC)
    parsed = parse_csv(data, platform=Platform(platform), timezone=timezone, now=now, actor=actor)
    errors = [AuditProblem(line=e.line, message=e.message) for e in parsed.errors]
    if not parsed.rows and not parsed.skipped and errors:
        raise ReportRejected(f"line {errors[0].line}: {errors[0].message}")
    visits = [
        AuditVisit(
            line=row.line,
            platform=row.event.platform.value,
            appointment_id=row.event.appointment_id,
            client_ref=row.client_ref,
            client_ref_kind=row.client_ref_kind.value,
            service_key=row.event.service_key,
            service_name=row.event.service_name,
            service_date=row.event.service_date or row.event.occurred_at.date(),
        )
        for row in parsed.rows
        if row.event.change is VisitChange.COMPLETED
    ]
    audit = await OverrunAuditor(pool).audit(
        visits,
        report_id=f"overruns-{now:%Y%m%d}-{uuid.uuid4().hex[:8]}",
        platform=platform,
        timezone=timezone,
        now=now,
        errors=errors,
        skipped_rows=len(parsed.skipped) + len(parsed.rows) - len(visits),
    )
    window = days_period(audit.window_start, audit.window_end, timezone)
    await ReportStore(pool).save(
        report_id=audit.report_id,
        kind="overrun_audit",
        period_start=window.start,
        period_end=window.end,
        generated_at=audit.generated_at,
        generated_by=actor,
        summary=audit.model_dump_json(),
        csv=overruns_csv(audit),
        html=None,
    )
    return audit
