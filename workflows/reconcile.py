"""The weekly reconciliation, run by a Temporal Schedule (and on demand): build the report
from the ledger and store it, then email it to the manager.

Two activities, one side effect each, so a mail-server outage retries the email only and
never rebuilds (or double-stores) the report. The report id is the workflow id, unique
per scheduled run, so an activity retry overwrites the same stored report.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import workflows.reconcile_models as rm
    from workflows.calls import call


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
        report = await call(rm.BUILD_RECONCILIATION, build, summary="build the reconciliation")
        workflow.logger.info(
            "reconciliation %s stored: ledger difference %s cents",
            report.report_id,
            report.ledger_difference_cents,
        )
        if not input.email:
            return rm.ReconcileResult(report=report)
        emailed = await call(
            rm.EMAIL_REPORT,
            rm.EmailReportInput(report_id=report.report_id),
            summary="email the reconciliation",
        )
        return rm.ReconcileResult(report=report, email=emailed)
