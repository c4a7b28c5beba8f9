"""The weekly reconciliation's contracts: workflow input/result, activity names and models,
and the timeouts and retry policies its activities run under.

Pure: imported by the workflow (passed through the sandbox) and by `activities.reports`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, Self

from pydantic import Field, model_validator

from workflows import policies
from workflows.calls import Contract
from workflows.models import Model

RECONCILE_WORKFLOW = "ReconciliationWorkflow"
RECONCILE_SCHEDULE_ID = "reconciliation"


RUN_TIMEOUT = timedelta(hours=16)  # longer than both activities' schedule-to-close


class ReconcileInput(Model):
    """One reconciliation run. Without a period: the last full week (Monday to Monday) in
    the spa's time zone, as of the run's start."""

    start: datetime | None = None
    end: datetime | None = Field(default=None, description="exclusive")
    email: bool = True
    requested_by: str = "schedule"

    @model_validator(mode="after")
    def _whole_period(self) -> Self:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither (the last full week)")
        if self.start is not None and self.end is not None:
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError("start and end need a time zone")
            if self.start >= self.end:
                raise ValueError("start must be before end")
        return self


class BuildReportInput(Model):
    report_id: str = Field(min_length=1, max_length=200)
    as_of: datetime
    start: datetime | None = None
    end: datetime | None = None
    requested_by: str = "schedule"


class ReportRef(Model):
    """The stored report, as the workflow (and the Temporal UI) sees it: figures, no PII."""

    report_id: str
    period_start: datetime
    period_end: datetime
    liability_cents: int
    ledger_difference_cents: int
    files: list[str] = Field(default_factory=list)


class EmailReportInput(Model):
    report_id: str


class EmailReportResult(Model):
    status: Literal["sent", "already_sent", "not_configured"]


class ReconcileResult(Model):
    report: ReportRef
    email: EmailReportResult | None = None


BUILD_RECONCILIATION = Contract(
    name="reports.build_reconciliation",
    arg=BuildReportInput,
    result=ReportRef,
    options=policies.REPORT_BUILD,
)
EMAIL_REPORT = Contract(
    name="reports.email_report",
    arg=EmailReportInput,
    result=EmailReportResult,
    options=policies.REPORT_EMAIL,
)
