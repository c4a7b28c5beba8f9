"""Review-queue escalation, run by a Temporal Schedule: items older than a day alert the manager."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import workflows.policies as policies
    import workflows.visit_models as vm


@workflow.defn(name="ReviewEscalationWorkflow")
class ReviewEscalationWorkflow:
    @workflow.run
    async def run(self, input: vm.EscalateInput) -> vm.EscalateResult:
        options = policies.INTAKE
        result: vm.EscalateResult = await workflow.execute_activity(
            vm.ESCALATE_REVIEWS,
            input,
            result_type=vm.EscalateResult,
            start_to_close_timeout=options.start_to_close,
            retry_policy=options.retry,
        )
        return result
