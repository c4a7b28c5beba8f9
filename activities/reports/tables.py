"""The reports as flat tables for BI tools: one header, one record per row, numbers as
numbers (dollars with two decimals), dates as ISO dates. The same tables are the feeds'
CSV and JSON and the Google Sheet's tabs, so a Power BI model over the feed and a Looker
Studio dashboard over the sheet read the same columns.

- `reconciliation`: every figure of the reconciliation, one per row (section, measure)
- `liability`: unused value of the open packages today, by category and by location
  (each dimension sums to the report's liability)
- `overruns`: the latest overrun audit's clients who used more sessions than they bought
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import asyncpg

from activities.reports.models import OverrunAudit, ReconciliationReport
from activities.reports.render import csv_rows
from activities.reports.store import ReportStore

Value = str | int | Decimal | None


def dollars(cents: int | None) -> Decimal | None:
    """Cents as dollars with two decimals, exact (never a float on the way)."""
    return None if cents is None else Decimal(cents).scaleb(-2)


@dataclass(frozen=True)
class Table:
    name: str  # the feed's name: /feeds/{name}.csv
    title: str  # the sheet's tab
    columns: tuple[str, ...]
    rows: list[tuple[Value, ...]]

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.columns)
        writer.writerows(tuple("" if v is None else v for v in row) for row in self.rows)
        return out.getvalue()

    def records(self) -> list[dict[str, str | int | float | None]]:
        """Rows as JSON objects (dollars as JSON numbers)."""
        return [
            {
                c: float(v) if isinstance(v, Decimal) else v
                for c, v in zip(self.columns, row, strict=True)
            }
            for row in self.rows
        ]

    def values(self) -> list[list[str | int | float]]:
        """Header and rows for a spreadsheet (empty cells as "")."""
        body = [
            ["" if v is None else float(v) if isinstance(v, Decimal) else v for v in row]
            for row in self.rows
        ]
        return [list(self.columns), *body]


def _amount(cell: str | int | None) -> Value:
    return dollars(cell) if isinstance(cell, int) else cell


def _days(report: ReconciliationReport) -> tuple[str, str]:
    return report.period.first_day.isoformat(), report.period.last_day.isoformat()


def reconciliation_table(report: ReconciliationReport) -> Table:
    first, last = _days(report)
    rows: list[tuple[Value, ...]] = [
        (first, last, section, measure, count, sessions, _amount(amount), detail)
        for section, measure, count, sessions, amount, detail in csv_rows(report)
    ]
    columns = ("period_start", "period_end", "section", "measure", "count", "sessions")
    return Table("reconciliation", "Reconciliation", (*columns, "amount", "detail"), rows)


def liability_table(report: ReconciliationReport) -> Table:
    """Open packages today by category, then by location (a spa without locations set up:
    one row, "all")."""
    first, last = _days(report)
    as_of = report.generated_at.isoformat(timespec="seconds")
    rows: list[tuple[Value, ...]] = [
        (
            first,
            last,
            as_of,
            "category",
            c.category,
            c.packages,
            c.sessions,
            dollars(c.credit_cents),
            dollars(c.unused_value_cents),
        )
        for c in report.categories
    ]
    if report.locations:
        rows += [
            (
                first,
                last,
                as_of,
                "location",
                loc.location.name,
                loc.open.session_packages + loc.open.credit_packages,
                loc.open.sessions_remaining,
                dollars(loc.open.credit_remaining_cents),
                dollars(loc.balance_cents),
            )
            for loc in report.locations
        ]
    else:
        o = report.open
        rows.append(
            (
                first,
                last,
                as_of,
                "location",
                "all",
                o.session_packages + o.credit_packages,
                o.sessions_remaining,
                dollars(o.credit_remaining_cents),
                dollars(report.liability.balance_cents),
            )
        )
    columns = ("period_start", "period_end", "as_of", "dimension", "name", "open_packages")
    return Table(
        "liability", "Liability", (*columns, "sessions_left", "credit_left", "liability"), rows
    )


OVERRUN_TABLE_COLUMNS = (
    "audit_id",
    "window_start",
    "window_end",
    "client_id",
    "client_name",
    "category",
    "visits",
    "sessions_available",
    "excess",
    "session_value",
    "excess_value",
)


def overruns_table(audit: OverrunAudit | None) -> Table:
    """The latest audit's overruns (no audit yet: the header alone)."""
    rows: list[tuple[Value, ...]] = []
    if audit is not None:
        start: date = audit.window_start
        rows = [
            (
                audit.report_id,
                start.isoformat(),
                audit.window_end.isoformat(),
                o.client_id,
                o.client_name,
                o.category,
                o.visits,
                o.available,
                o.excess,
                dollars(o.session_value_cents),
                dollars(o.value_cents),
            )
            for o in audit.overruns
        ]
    return Table("overruns", "Overruns", OVERRUN_TABLE_COLUMNS, rows)


async def report_tables(pool: asyncpg.Pool, report: ReconciliationReport) -> dict[str, Table]:
    """The three BI tables of a reconciliation: its figures, liability by category and
    location, and the latest overrun audit's list."""
    audit = await ReportStore(pool).latest_audit()
    tables = (reconciliation_table(report), liability_table(report), overruns_table(audit))
    return {t.name: t for t in tables}
