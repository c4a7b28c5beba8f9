"""One import job: its rows applied a batch at a time, until none waits.

A row's outcome is written with its effects, so the workflow keeps no list of rows: each
batch asks for the next rows without an outcome. A worker restart midway resumes at the
batch that was running (the activity is retried; the rows it finished are not done
again). Past `batches_per_run` the run continues as new, carrying the count, so a file
of any size keeps a short history.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import workflows.import_models as im
    from workflows.calls import call


@workflow.defn(name=im.IMPORT_WORKFLOW)
class ImportWorkflow:
    def __init__(self) -> None:
        self._processed = 0

    @workflow.run
    async def run(self, input: im.ImportInput) -> im.ImportOutcome:
        self._processed = input.processed
        try:
            for _ in range(input.batches_per_run):
                batch = await call(
                    im.PROCESS_BATCH,
                    im.BatchInput(job_id=input.job_id, limit=input.batch_size),
                    summary=f"rows after {self._processed}",
                )
                self._processed += batch.processed
                if not batch.more:
                    break
            else:
                workflow.continue_as_new(input.model_copy(update={"processed": self._processed}))
        except ActivityError as err:
            detail = f"stopped after {self._processed} rows: {err.cause or err}"[:500]
            await call(
                im.FINISH_JOB, im.FinishInput(job_id=input.job_id, status="failed", detail=detail)
            )
            return im.ImportOutcome(job_id=input.job_id, processed=self._processed, status="failed")
        await call(im.FINISH_JOB, im.FinishInput(job_id=input.job_id, status="done"))
        return im.ImportOutcome(job_id=input.job_id, processed=self._processed, status="done")

    @workflow.query(name="processed")
    def processed(self) -> int:
        return self._processed
