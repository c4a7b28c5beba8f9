"""Moving in: a file of clients or open packages becomes an import job run by Temporal.

`submit` reads the file (off the event loop), stores the job with every row — the ones
refused on reading already carry their outcome and line — and starts the job's
`ImportWorkflow`, which applies the rest a batch at a time; `status` reads the job's
progress and its per-line report. The API and the CLI call this; it prints nothing.

A dry run is the same job with nothing written but the report: each row says what it
would become (created, updated, skipped, duplicate, refused).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

import asyncpg
from pydantic import Field
from temporalio.client import Client
from temporalio.service import RPCError

from activities.imports import (
    OUTCOMES,
    ImportFormat,
    ImportJob,
    ImportKind,
    ImportOptions,
    ImportStore,
    NewRow,
    RowResult,
)
from starter.ingress.client_csv import parse_clients
from starter.ingress.package_csv import parse_packages
from starter.packages import Invalid, NotFound
from workers.settings import Settings
from workflows.import_models import ImportInput, import_workflow_id
from workflows.imports import ImportWorkflow
from workflows.models import Model

MAX_REPORTED_LINES = 5000  # lines in one status answer; the rest by `offset`


class ImportStatus(Model):
    """A job as staff follow it: progress, counts by outcome, and the report by line."""

    job_id: str
    kind: ImportKind
    format: ImportFormat
    dry_run: bool
    status: str = Field(description="running, done or failed")
    detail: str | None = None
    file_name: str | None = None
    created_by: str
    created_at: datetime
    finished_at: datetime | None = None
    rows_total: int
    rows_done: int
    counts: dict[str, int] = Field(
        description="rows by outcome: created, updated, skipped, duplicate, refused (in a "
        "dry run: what each row would become)"
    )
    lines: list[RowResult] = Field(
        default_factory=list, description="processed rows, in file order"
    )

    @property
    def finished(self) -> bool:
        return self.status != "running"


def parse_pairs(values: list[str] | None, what: str) -> dict[str, str]:
    """ "field=Header" (or "Old name=code") values as a dict; `Invalid` names a bad one."""
    pairs: dict[str, str] = {}
    for value in values or []:
        name, sep, other = value.partition("=")
        if not sep or not name.strip() or not other.strip():
            raise Invalid(what, f"{value!r} is not NAME=VALUE")
        pairs[name.strip()] = other.strip()
    return pairs


class ImportService:
    def __init__(self, *, client: Client, pool: asyncpg.Pool, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._store = ImportStore(pool)

    @property
    def task_queue(self) -> str:
        return self._settings.task_queue

    async def submit(
        self,
        kind: ImportKind,
        data: bytes,
        *,
        actor: str,
        format: ImportFormat = "generic",
        dry_run: bool = False,
        file_name: str | None = None,
        options: ImportOptions | None = None,
        mapping: Mapping[str, str] | None = None,
        day_first: bool = False,
        batch_size: int = 50,
    ) -> ImportStatus:
        """Store the job and start it. Raises `Invalid` when the file cannot be read at all
        (too big, empty, no name or client column…): nothing is stored then."""
        if kind == "clients":
            parsed_clients = await asyncio.to_thread(
                parse_clients,
                data,
                format=format,
                country=self._settings.spa_country,
                mapping=mapping,
            )
            error, refused = parsed_clients.error, parsed_clients.refused
            rows = [NewRow(line=r.line, row=r.model_dump_json()) for r in parsed_clients.rows]
        else:
            parsed_packages = await asyncio.to_thread(
                parse_packages, data, format=format, mapping=mapping, day_first=day_first
            )
            error, refused = parsed_packages.error, parsed_packages.refused
            rows = [NewRow(line=r.line, row=r.model_dump_json()) for r in parsed_packages.rows]
        if error is not None:
            raise Invalid("file", f"line {error.line}: {error.message}")
        rows += [NewRow(line=r.line, outcome=r.outcome, message=r.message) for r in refused]
        job = ImportJob(
            job_id=f"{kind[:3]}_{uuid.uuid4().hex[:12]}",
            kind=kind,
            format=format,
            dry_run=dry_run,
            options=options or ImportOptions(),
            file_name=file_name,
            file_sha256=hashlib.sha256(data).hexdigest(),
            rows_total=len(rows),
            status="running",
            detail=None,
            created_by=actor,
            created_at=datetime.now(UTC),
            finished_at=None,
        )
        await self._store.create_job(job, rows)
        try:
            await self._client.start_workflow(
                ImportWorkflow.run,
                ImportInput(job_id=job.job_id, batch_size=batch_size),
                id=import_workflow_id(job.job_id),
                task_queue=self._settings.task_queue,
                static_summary=f"import {kind} ({format}{', dry run' if dry_run else ''}): "
                f"{len(rows)} rows",
            )
        except RPCError as err:  # Temporal away: the job says so instead of running forever
            await self._store.finish(job.job_id, "failed", f"not started: {err.message}"[:500])
            raise
        return await self.status(job.job_id, lines=False)

    async def recent(self, limit: int = 20) -> list[ImportStatus]:
        """The latest jobs, newest first, without their lines."""
        return [await self.status(j.job_id, lines=False) for j in await self._store.recent(limit)]

    async def status(
        self, job_id: str, *, lines: bool = True, problems_only: bool = False, offset: int = 0
    ) -> ImportStatus:
        job = await self._store.job(job_id)
        if job is None:
            raise NotFound(f"no import job {job_id!r}")
        progress = await self._store.progress(job_id)
        reported = (
            await self._store.lines(
                job_id, problems_only=problems_only, offset=offset, limit=MAX_REPORTED_LINES
            )
            if lines
            else []
        )
        return ImportStatus(
            job_id=job.job_id,
            kind=job.kind,
            format=job.format,
            dry_run=job.dry_run,
            status=job.status,
            detail=job.detail,
            file_name=job.file_name,
            created_by=job.created_by,
            created_at=job.created_at,
            finished_at=job.finished_at,
            rows_total=progress.rows_total,
            rows_done=progress.rows_done,
            counts={o: progress.counts.get(o, 0) for o in OUTCOMES},
            lines=reported,
        )

    async def wait(
        self, job_id: str, *, poll: float = 0.3, timeout: float | None = None
    ) -> ImportStatus:
        """Poll until the job finishes (the CLI's progress bar reads each answer)."""
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while True:
            status = await self.status(job_id, lines=False)
            if status.finished:
                return await self.status(job_id)
            if deadline is not None and asyncio.get_running_loop().time() > deadline:
                return status
            await asyncio.sleep(poll)
