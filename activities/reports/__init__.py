"""Reports for managers and finance, read from the Postgres ledger with indexed SQL.

- `models`: the reports as data (`ReconciliationReport`, `OverrunAudit`, `Period`…)
- `reconciliation`: the weekly reconciliation's SQL (`build_report`)
- `overruns`: the overrun audit of a booking-platform export (`OverrunAuditor`)
- `matching`: visits matched to package sessions, one client at a time (`unserved`)
- `chart`: the chart drawn by matplotlib, PNG for the email and SVG for the web page
- `render`: CSV, self-contained HTML with the chart, and the plain-text summary
- `store`: generated reports kept in Postgres (`ReportStore`)
- `activities`: `ReportActivities`, run by the `ReconciliationWorkflow`
"""

from __future__ import annotations

from activities.reports.activities import ReportActivities
from activities.reports.matching import unserved
from activities.reports.models import (
    AuditProblem,
    AuditSummary,
    AuditVisit,
    NoPackageLine,
    OverrunAudit,
    OverrunLine,
    Period,
    ReconciliationReport,
    UnknownClient,
    UnknownService,
    days_period,
    last_full_week,
)
from activities.reports.overruns import OverrunAuditor
from activities.reports.reconciliation import build_report
from activities.reports.render import (
    overruns_csv,
    reconciliation_csv,
    reconciliation_html,
    reconciliation_text,
)
from activities.reports.store import ReportStore, StoredReport

__all__ = [
    "AuditProblem",
    "AuditSummary",
    "AuditVisit",
    "NoPackageLine",
    "OverrunAudit",
    "OverrunAuditor",
    "OverrunLine",
    "Period",
    "ReconciliationReport",
    "ReportActivities",
    "ReportStore",
    "StoredReport",
    "UnknownClient",
    "UnknownService",
    "build_report",
    "days_period",
    "last_full_week",
    "overruns_csv",
    "reconciliation_csv",
    "reconciliation_html",
    "reconciliation_text",
    "unserved",
]
