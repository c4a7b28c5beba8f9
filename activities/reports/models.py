"""The reports' models: the reconciliation and the overrun audit, as stored, rendered and
answered by the API. Money in cents, sessions in units; frozen, strict (`Model`)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from workflows import schedule
from workflows.models import Model

RefKind = Literal["id", "email", "phone"]


class Period(Model):
    start: datetime
    end: datetime = Field(description="exclusive")
    timezone: str

    @property
    def first_day(self) -> date:
        return self.start.astimezone(ZoneInfo(self.timezone)).date()

    @property
    def last_day(self) -> date:
        """The last local day inside the period (the end is exclusive)."""
        return schedule.good_through(self.end, self.timezone)

    def label(self) -> str:
        """ "2026-03-02 to 2026-03-08": for file names, subjects and the CSV."""
        return f"{self.first_day.isoformat()} to {self.last_day.isoformat()}"

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def is_week(self) -> bool:
        """Monday to Sunday: the weekly report's period."""
        return self.days == 7 and self.first_day.weekday() == 0

    def dates(self) -> str:
        """ "Mon, Mar 2 – Sun, Mar 8, 2026" (the year once when both days share it)."""
        first, last = self.first_day, self.last_day
        start = f"{first:%a}, {first:%b} {first.day}"
        end = f"{last:%a}, {last:%b} {last.day}, {last.year}"
        if first == last:
            return end
        return f"{start}{'' if first.year == last.year else f', {first.year}'} – {end}"

    def title(self) -> str:
        """ "Week of Mon, Mar 2 – Sun, Mar 8, 2026", or the days alone for any other range."""
        return f"Week of {self.dates()}" if self.is_week() else self.dates()

    def noun(self) -> str:
        """What the period is called in "the previous …": "week", or "20 days"."""
        if self.is_week():
            return "week"
        return "day" if self.days == 1 else f"{self.days} days"

    def before(self) -> Period:
        """The period of the same length just before this one."""
        return days_period(
            self.first_day - timedelta(days=self.days),
            self.first_day - timedelta(days=1),
            self.timezone,
        )


def last_full_week(as_of: datetime, timezone: str) -> Period:
    """Monday 00:00 to Monday 00:00 in the spa's zone, the week before `as_of`'s week."""
    zone = ZoneInfo(timezone)
    today = as_of.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    return days_period(monday - timedelta(days=7), monday - timedelta(days=1), timezone)


def days_period(first: date, last: date, timezone: str) -> Period:
    """Whole local days, `first` to `last` inclusive."""
    if last < first:
        raise ValueError(f"the period ends ({last}) before it starts ({first})")
    zone = ZoneInfo(timezone)
    return Period(
        start=datetime.combine(first, time(0), zone),
        end=schedule.ends_after(last, zone),
        timezone=timezone,
    )


class Sales(Model):
    packages: int = 0
    value_cents: int = 0
    sessions: int = 0  # sold on session packages
    credit_cents: int = 0  # face value of dollar packages sold
    top_ups: int = 0
    top_up_sessions: int = 0
    top_up_value_cents: int = 0


class Consumption(Model):
    sessions_redeemed: int = 0
    sessions_reversed: int = 0
    sessions_consumed: int = 0  # redeemed minus reversed
    credit_redeemed_cents: int = 0  # dollar packages, net of reversals
    consumed_value_cents: int = 0  # value of both, net of reversals (revenue earned)
    forfeits: int = 0  # no-shows / late cancels that consumed under the type's policy
    forfeit_sessions: int = 0
    forfeit_value_cents: int = 0
    over_balance: int = 0  # redemptions that left a balance below zero (enforce off)


class Expiries(Model):
    packages: int = 0  # expired in the period with something unused
    sessions: int = 0
    credit_cents: int = 0
    breakage_cents: int = 0  # value forfeited at expiry


class Cancellations(Model):
    packages: int = 0
    refund_due_cents: int = 0  # unused value at cancellation
    refunded_cents: int = 0  # refunds recorded from Stripe in the period
    restored: int = 0  # cancellations undone because Stripe refused the refund


class Migrated(Model):
    """Opening balances of packages brought in from the old system in the period: the
    liability taken over when the spa moved in, which is not a sale."""

    packages: int = 0
    value_cents: int = 0  # their unused value: the liability brought in
    sessions: int = 0  # sessions left on session packages
    credit_cents: int = 0  # credit left on dollar packages


class OpenBalances(Model):
    session_packages: int = 0
    sessions_remaining: int = 0
    credit_packages: int = 0
    credit_remaining_cents: int = 0


class CategoryValue(Model):
    category: str
    packages: int = 0
    sessions: int = 0
    credit_cents: int = 0
    unused_value_cents: int = 0


class Liability(Model):
    open_packages: int
    balance_cents: int = Field(description="sum of unused value over open packages")
    ledger_cents: int = Field(description="the same, recomputed from the ledger's value flows")
    difference_cents: int = Field(description="balance_cents - ledger_cents: 0 when they agree")
    at_end_cents: int | None = Field(
        default=None,
        description="the ledger's liability at the period's end (exclusive); the headline of "
        "a period already over, so its change from the start adds up with the period's flows",
    )


class ReviewBacklog(Model):
    open_items: int = 0
    oldest_at: datetime | None = None
    by_reason: dict[str, int] = Field(default_factory=dict)

    def oldest_age_hours(self, now: datetime) -> float | None:
        if self.oldest_at is None:
            return None
        return round((now - self.oldest_at).total_seconds() / 3600, 1)


class Overruns(Model):
    refused_visits: int = 0  # completed visits a package refused (zero balance, expired…)
    by_rule: dict[str, int] = Field(default_factory=dict)
    over_balance_redemptions: int = 0
    latest_audit: AuditSummary | None = None


class PreviousPeriod(Model):
    """The period figures of the period of the same length just before: the headline's
    "change from last period"."""

    period: Period
    sales: Sales
    consumption: Consumption
    expiries: Expiries
    refused_visits: int = 0
    liability_cents: int = Field(
        description="the liability at this period's start, from the ledger's value flows"
    )


class LocationRef(Model):
    location_id: str
    name: str
    timezone: str


class LocationFigures(Model):
    """One location's share of the report: its packages' flows in the period and what
    they owe (packages sold before locations existed count at the default location).
    Over every location, each figure sums to the report's."""

    location: LocationRef
    sales: Sales
    migrated: Migrated
    consumption: Consumption
    expiries: Expiries
    cancellations: Cancellations
    open: OpenBalances
    balance_cents: int = Field(description="unused value of its open packages, today")
    at_start_cents: int = Field(description="its liability in the ledger at the period's start")
    at_end_cents: int = Field(description="its liability in the ledger at the period's end")


class ReconciliationReport(Model):
    period: Period
    generated_at: datetime
    sales: Sales
    consumption: Consumption
    expiries: Expiries
    cancellations: Cancellations
    migrated: Migrated = Field(default_factory=Migrated)  # absent from older stored reports
    open: OpenBalances
    categories: list[CategoryValue]
    liability: Liability
    review: ReviewBacklog
    overruns: Overruns
    previous: PreviousPeriod | None = None  # None in reports stored before it was kept
    location: LocationRef | None = Field(
        default=None,
        description="the one location this report is of (its packages only; the review queue "
        "and refused visits stay the whole spa's); None: every location",
    )
    locations: list[LocationFigures] = Field(
        default_factory=list,
        description="the figures by location, when the spa has several; empty otherwise",
    )


# --- the overrun audit ---------------------------------------------------------------------


class AuditVisit(Model):
    """One completed appointment of the export, as the CSV parser read it."""

    line: int
    platform: str
    appointment_id: str
    client_ref: str
    client_ref_kind: RefKind = "id"
    service_key: str | None = None
    service_name: str | None = None
    service_date: date


class AuditProblem(Model):
    line: int
    message: str


class OverrunLine(Model):
    client_id: str
    client_name: str
    category: str
    visits: int
    available: int = Field(description="sessions the client had for these visits")
    excess: int
    session_value_cents: int = Field(description="paid / sessions bought, over those packages")
    value_cents: int


class NoPackageLine(Model):
    """Visits in a category for which the client held no session package in the window:
    paid at the visit, or never charged; the export cannot say which."""

    client_id: str
    client_name: str
    category: str
    visits: int


class UnknownClient(Model):
    reference: str
    visits: int
    lines: list[int]


class UnknownService(Model):
    service: str
    visits: int
    lines: list[int]


class AuditSummary(Model):
    """What the weekly reconciliation shows of the latest audit."""

    report_id: str
    generated_at: datetime
    window_start: date
    window_end: date
    clients: int
    excess_sessions: int
    value_cents: int
    unknown_clients: int
    unknown_services: int
    without_package: int = 0


class OverrunAudit(Model):
    report_id: str
    generated_at: datetime
    platform: str
    window_start: date
    window_end: date
    visits_read: int = Field(description="completed visits in the export")
    counted: int = Field(description="visits compared with purchases")
    outside_window: int = 0
    not_package_services: int = 0
    paid_from_credit: int = 0
    skipped_rows: int = 0
    overruns: list[OverrunLine] = Field(default_factory=list)
    no_package: list[NoPackageLine] = Field(default_factory=list)
    unknown_clients: list[UnknownClient] = Field(default_factory=list)
    unknown_services: list[UnknownService] = Field(default_factory=list)
    errors: list[AuditProblem] = Field(default_factory=list)
    excess_sessions: int = 0
    value_cents: int = 0

    def summary(self) -> AuditSummary:
        return AuditSummary(
            report_id=self.report_id,
            generated_at=self.generated_at,
            window_start=self.window_start,
            window_end=self.window_end,
            clients=len({line.client_id for line in self.overruns}),
            excess_sessions=self.excess_sessions,
            value_cents=self.value_cents,
            unknown_clients=len(self.unknown_clients),
            unknown_services=len(self.unknown_services),
            without_package=len({line.client_id for line in self.no_package}),
        )
