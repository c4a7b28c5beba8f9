"""The weekly reconciliation, run by a Temporal Schedule (and on demand): build the report
from the ledger and store it, then email it to the manager.

Two activities, one side effect each, so a mail-server outage retries the email only and
never rebuilds (or double-stores) the report. The report id is the workflow id, unique
per scheduled run, so an activity retry overwrites the same stored report.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import workflows.policies as policies
    import workflows.reconcile_models as rm


@workflow.defn(name=rm.RECONCILE_WORKFLOW)
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, input: rm.ReconcileInput) -> rm.ReconcileResult:
        build = rm.BuildReportInput(
            report_id=workflow.info().workflow_id,
            as_of=workflow.now(),
            start=input.start,
            end=input.end,
            requested_by=input.requested_by,
        )
        report: rm.ReportRef = await workflow.execute_activity(
            rm.BUILD_RECONCILIATION,
            build,
            result_type=rm.ReportRef,
            start_to_close_timeout=policies.REPORT_BUILD.start_to_close,
            schedule_to_close_timeout=policies.REPORT_BUILD.schedule_to_close,
            retry_policy=policies.REPORT_BUILD.retry,
        )
        workflow.logger.info(
            "reconciliation %s stored: ledger difference %s cents",
            report.report_id,
            report.ledger_difference_cents,
        )
        if not input.email:
            return rm.ReconcileResult(report=report)
        emailed: rm.EmailReportResult = await workflow.execute_activity(
            rm.EMAIL_REPORT,
            rm.EmailReportInput(report_id=report.report_id),
            result_type=rm.EmailReportResult,
            start_to_close_timeout=policies.REPORT_EMAIL.start_to_close,
            schedule_to_close_timeout=policies.REPORT_EMAIL.schedule_to_close,
            retry_policy=policies.REPORT_EMAIL.retry,
        )
        return rm.ReconcileResult(report=report, email=emailed)
