"""Reports for managers and finance, read from the Postgres ledger with indexed SQL.

- `reconciliation`: the weekly reconciliation (`build_report`, `ReconciliationReport`,
  `last_full_week`, `days_period`)
- `overruns`: the overrun audit of a booking-platform export (`OverrunAuditor`)
- `render`: CSV, self-contained HTML with an SVG chart, and the plain-text summary
- `store`: generated reports kept in Postgres (`ReportStore`)
- `activities`: `ReportActivities`, run by the `ReconciliationWorkflow`
"""

from __future__ import annotations

from activities.reports.activities import ReportActivities
from activities.reports.overruns import (
    AuditProblem,
    AuditSummary,
    AuditVisit,
    OverrunAudit,
    OverrunAuditor,
    OverrunLine,
)
from activities.reports.reconciliation import (
    Period,
    ReconciliationReport,
    build_report,
    days_period,
    last_full_week,
)
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
    "OverrunAudit",
    "OverrunAuditor",
    "OverrunLine",
    "Period",
    "ReconciliationReport",
    "ReportActivities",
    "ReportStore",
    "StoredReport",
    "build_report",
    "days_period",
    "last_full_week",
    "overruns_csv",
    "reconciliation_csv",
    "reconciliation_html",
    "reconciliation_text",
]
