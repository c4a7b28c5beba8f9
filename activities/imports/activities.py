"""The import job's activities: apply the next batch of rows, then mark the job finished.

Rows of a batch are applied a few at a time (package rows start workflows, which wait on
Temporal), and their outcomes written together; created and updated client rows are
written with their effects. A batch retried after a crash applies only rows still
without an outcome.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

import workflows.import_models as im
from activities.imports.clients import ClientImporter
from activities.imports.models import ClientRow, PackageRow, RowResult
from activities.imports.packages import PackageImporter
from activities.imports.store import ImportJob, ImportStore, PendingRow
from activities.sales import SalePolicy
from workflows.policies import BAD_CONFIGURATION

CONCURRENCY = 8  # rows of a batch in flight at once


class ImportActivities:
    def __init__(
        self, *, pool: asyncpg.Pool, client: Client, sales: SalePolicy, task_queue: str
    ) -> None:
        self._store = ImportStore(pool)
        self._clients = ClientImporter(pool, self._store)
        self._packages = PackageImporter(
            pool=pool, client=client, store=self._store, sales=sales, task_queue=task_queue
        )

    @activity.defn(name=im.PROCESS_BATCH.name)
    async def process_batch(self, input: im.BatchInput) -> im.BatchResult:
        job = await self._store.job(input.job_id)
        if job is None:
            raise ApplicationError(f"no import job {input.job_id!r}", type=BAD_CONFIGURATION)
        rows = await self._store.pending(job.job_id, input.limit)
        if not rows:
            return im.BatchResult(processed=0, more=False)
        now = datetime.now(UTC)
        # Clients one at a time, in file order: a row sees what the rows before it became.
        gate = asyncio.Semaphore(CONCURRENCY if job.kind == "packages" else 1)
        seen: dict[str, int] = {}

        async def one(pending: PendingRow) -> RowResult:
            async with gate:
                result = await self._apply(job, pending, now, seen)
            activity.heartbeat(pending.line)
            return result

        results = await asyncio.gather(*(one(r) for r in rows))
        started = [r.ref for r in results if r.outcome == "created" and r.ref]
        if job.kind == "packages" and started and not job.dry_run:
            await self._packages.wait_recorded(started)
        await self._store.record(job.job_id, list(results))
        activity.logger.info("import %s: %s rows applied", job.job_id, len(results))
        return im.BatchResult(processed=len(results), more=len(rows) == input.limit)

    async def _apply(
        self, job: ImportJob, pending: PendingRow, now: datetime, seen: dict[str, int]
    ) -> RowResult:
        if job.kind == "clients":
            return await self._clients.apply(job, ClientRow.model_validate_json(pending.row), seen)
        return await self._packages.apply(job, PackageRow.model_validate_json(pending.row), now=now)

    @activity.defn(name=im.FINISH_JOB.name)
    async def finish(self, input: im.FinishInput) -> im.FinishResult:
        await self._store.finish(input.job_id, input.status, input.detail)
        return im.FinishResult()
