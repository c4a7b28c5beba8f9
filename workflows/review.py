"""Review-queue escalation, run by a Temporal Schedule: items older than a day alert the manager."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import workflows.visit_models as vm
    from workflows.calls import call


@workflow.defn(name="ReviewEscalationWorkflow")
class ReviewEscalationWorkflow:
    @workflow.run
    async def run(self, input: vm.EscalateInput) -> vm.EscalateResult:
        return await call(vm.ESCALATE_REVIEWS, input, summary="escalate old review items")
