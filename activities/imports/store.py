"""Import jobs in Postgres: the job, its rows with their outcomes, and the import keys.

A row is processed once: its outcome is written only while it has none, so a batch done
again after a crash (the activity retried, the worker restarted) leaves the first outcome.
The import keys tie the old system's ids to what they became, across jobs: a second
import of the same file finds every key and changes nothing.
"""

from __future__ import annotations

import builtins
from datetime import datetime

import asyncpg
from pydantic import Field

from activities.imports.models import (
    OUTCOMES,
    ImportFormat,
    ImportKind,
    ImportOptions,
    JobStatus,
    Outcome,
    RowResult,
)
from activities.repository.base import Row

_JOB_COLUMNS = (
    "job_id, kind, format, dry_run, options, file_name, file_sha256, rows_total, status, "
    "detail, created_by, created_at, finished_at"
)


class ImportJob(Row):
    job_id: str
    kind: ImportKind
    format: ImportFormat
    dry_run: bool
    options: ImportOptions
    file_name: str | None
    file_sha256: str
    rows_total: int
    status: JobStatus
    detail: str | None
    created_by: str
    created_at: datetime
    finished_at: datetime | None


class JobProgress(Row):
    rows_total: int
    rows_done: int
    counts: dict[str, int] = Field(description="rows by outcome so far")


class PendingRow(Row):
    line: int
    row: str  # the parsed row as JSON


class KeyOwner(Row):
    target_id: str
    job_id: str
    line: int


class NewRow(Row):
    """A row as the job is created: parsed (`row`), or refused on reading (`outcome`)."""

    line: int
    row: str | None = None
    outcome: Outcome | None = None
    message: str | None = None


class ImportStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_job(self, job: ImportJob, rows: builtins.list[NewRow]) -> None:
        """The job and all its rows, in one transaction (a job is never half there)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"""
                INSERT INTO import_jobs ({_JOB_COLUMNS})
                VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11, $12, $13)
                """,
                job.job_id,
                job.kind,
                job.format,
                job.dry_run,
                job.options.model_dump_json(),
                job.file_name,
                job.file_sha256,
                job.rows_total,
                job.status,
                job.detail,
                job.created_by,
                job.created_at,
                job.finished_at,
            )
            await conn.copy_records_to_table(
                "import_rows",
                columns=["job_id", "line", "row", "outcome", "message", "done_at"],
                records=[
                    (
                        job.job_id,
                        r.line,
                        r.row,
                        r.outcome,
                        r.message,
                        None if r.outcome is None else job.created_at,
                    )
                    for r in rows
                ],
            )

    async def job(self, job_id: str) -> ImportJob | None:
        row = await self._pool.fetchrow(
            f"SELECT {_JOB_COLUMNS} FROM import_jobs WHERE job_id = $1", job_id
        )
        if row is None:
            return None
        values = dict(row)
        values["options"] = ImportOptions.model_validate_json(values["options"])
        return ImportJob.model_validate(values)

    async def pending(self, job_id: str, limit: int) -> builtins.list[PendingRow]:
        """The next rows without an outcome, in file order."""
        rows = await self._pool.fetch(
            """
            SELECT line, row::text AS row FROM import_rows
            WHERE job_id = $1 AND outcome IS NULL
            ORDER BY line LIMIT $2
            """,
            job_id,
            limit,
        )
        return [PendingRow.model_validate(dict(r)) for r in rows]

    async def record(
        self,
        job_id: str,
        results: builtins.list[RowResult],
        conn: asyncpg.pool.PoolConnectionProxy | None = None,
    ) -> int:
        """Write outcomes of rows that have none yet; returns how many were written."""
        if not results:
            return 0
        status = await (conn or self._pool).execute(
            """
            UPDATE import_rows r SET outcome = x.outcome, message = x.message, ref = x.ref,
                done_at = now()
            FROM unnest($2::int[], $3::text[], $4::text[], $5::text[])
                AS x(line, outcome, message, ref)
            WHERE r.job_id = $1 AND r.line = x.line AND r.outcome IS NULL
            """,
            job_id,
            [r.line for r in results],
            [r.outcome for r in results],
            [r.message for r in results],
            [r.ref for r in results],
        )
        return int(status.split()[-1])

    async def line_for(self, job_id: str, ref: str) -> int | None:
        """The first line of the job that became or matched `ref` (not a duplicate)."""
        line: int | None = await self._pool.fetchval(
            """
            SELECT min(line) FROM import_rows
            WHERE job_id = $1 AND ref = $2 AND outcome IN ('created', 'updated', 'skipped')
            """,
            job_id,
            ref,
        )
        return line

    async def progress(self, job_id: str) -> JobProgress:
        rows = await self._pool.fetch(
            """
            SELECT outcome, count(*) AS n FROM import_rows WHERE job_id = $1 GROUP BY outcome
            """,
            job_id,
        )
        counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        total = done = 0
        for r in rows:
            total += int(r["n"])
            if r["outcome"] is not None:
                counts[str(r["outcome"])] = int(r["n"])
                done += int(r["n"])
        return JobProgress(rows_total=total, rows_done=done, counts=counts)

    async def lines(
        self, job_id: str, *, problems_only: bool = False, offset: int = 0, limit: int = 1000
    ) -> builtins.list[RowResult]:
        """Processed rows in file order (only duplicates and refusals with `problems_only`)."""
        rows = await self._pool.fetch(
            """
            SELECT line, outcome, message, ref FROM import_rows
            WHERE job_id = $1 AND outcome IS NOT NULL
              AND (NOT $2 OR outcome IN ('duplicate', 'refused'))
            ORDER BY line OFFSET $3 LIMIT $4
            """,
            job_id,
            problems_only,
            offset,
            limit,
        )
        return [RowResult.model_validate(dict(r)) for r in rows]

    async def finish(self, job_id: str, status: JobStatus, detail: str | None) -> None:
        await self._pool.execute(
            """
            UPDATE import_jobs SET status = $2, detail = $3, finished_at = now()
            WHERE job_id = $1 AND finished_at IS NULL
            """,
            job_id,
            status,
            detail,
        )

    async def recent(self, limit: int = 20) -> builtins.list[ImportJob]:
        rows = await self._pool.fetch(
            f"SELECT {_JOB_COLUMNS} FROM import_jobs ORDER BY created_at DESC LIMIT $1", limit
        )
        jobs = []
        for row in rows:
            values = dict(row)
            values["options"] = ImportOptions.model_validate_json(values["options"])
            jobs.append(ImportJob.model_validate(values))
        return jobs

    # --- import keys -------------------------------------------------------------------

    async def owners(self, kind: str, keys: builtins.list[str]) -> dict[str, KeyOwner]:
        """Who already holds each of `keys` (absent: nobody)."""
        rows = await self._pool.fetch(
            """
            SELECT source_key, target_id, job_id, line FROM import_keys
            WHERE kind = $1 AND source_key = ANY($2::text[])
            """,
            kind,
            keys,
        )
        return {
            str(r["source_key"]): KeyOwner(
                target_id=r["target_id"], job_id=r["job_id"], line=r["line"]
            )
            for r in rows
        }

    async def claim(
        self,
        kind: str,
        key: str,
        *,
        target_id: str,
        job_id: str,
        line: int,
        conn: asyncpg.pool.PoolConnectionProxy | None = None,
    ) -> KeyOwner:
        """Take `key` for this job's row, or find who holds it already."""
        row = await (conn or self._pool).fetchrow(
            """
            WITH claimed AS (
                INSERT INTO import_keys (kind, source_key, target_id, job_id, line)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (kind, source_key) DO NOTHING
                RETURNING target_id, job_id, line
            )
            SELECT target_id, job_id, line FROM claimed
            UNION ALL
            SELECT target_id, job_id, line FROM import_keys WHERE kind = $1 AND source_key = $2
            LIMIT 1
            """,
            kind,
            key,
            target_id,
            job_id,
            line,
        )
        if row is None:  # another job's claim committed after this statement's snapshot
            row = await (conn or self._pool).fetchrow(
                "SELECT target_id, job_id, line FROM import_keys "
                "WHERE kind = $1 AND source_key = $2",
                kind,
                key,
            )
        assert row is not None
        return KeyOwner.model_validate(dict(row))

    async def release(self, kind: str, key: str, job_id: str) -> None:
        """Give back a key this job took for a row that could not be brought in."""
        await self._pool.execute(
            "DELETE FROM import_keys WHERE kind = $1 AND source_key = $2 AND job_id = $3",
            kind,
            key,
            job_id,
        )
