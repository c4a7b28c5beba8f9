"""Import job contracts: the import workflow's input and outcome, and the `imports.*`
activities it calls.

A job's rows live in Postgres (`import_rows`), parsed when the file arrived; the workflow
carries only the job id and how far it got, so a file of any size keeps its history small.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from workflows import policies
from workflows.calls import Contract
from workflows.models import Model

IMPORT_WORKFLOW = "ImportWorkflow"
IMPORT_PREFIX = "import-"


def import_workflow_id(job_id: str) -> str:
    """One workflow per job: a second start of the same job is refused."""
    return f"{IMPORT_PREFIX}{job_id}"


class ImportInput(Model):
    job_id: str = Field(min_length=1, max_length=100)
    batch_size: int = Field(default=50, ge=1, le=500, description="rows per activity")
    batches_per_run: int = Field(
        default=100, ge=1, description="then continue-as-new, carrying the count"
    )
    processed: int = Field(default=0, ge=0, description="rows done by earlier runs")


class ImportOutcome(Model):
    job_id: str
    processed: int
    status: Literal["done", "failed"]


class BatchInput(Model):
    job_id: str
    limit: int = Field(ge=1, le=500)


class BatchResult(Model):
    processed: int = Field(ge=0, description="rows given an outcome by this batch")
    more: bool = Field(description="rows are still waiting")


class FinishInput(Model):
    job_id: str
    status: Literal["done", "failed"]
    detail: str | None = Field(default=None, max_length=500)


class FinishResult(Model):
    finished: bool = True


PROCESS_BATCH = Contract(
    name="imports.process_batch", arg=BatchInput, result=BatchResult, options=policies.IMPORT_BATCH
)
FINISH_JOB = Contract(
    name="imports.finish", arg=FinishInput, result=FinishResult, options=policies.IMPORT_BATCH
)
