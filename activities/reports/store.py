"""Generated reports, kept in Postgres as they were sent: the summary, its CSV and HTML."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Literal

import asyncpg

from activities.reports.models import OverrunAudit
from activities.repository.base import Row

ReportKind = Literal["reconciliation", "overrun_audit"]

_COLUMNS = (
    "report_id, kind, period_start, period_end, generated_at, generated_by, summary, csv, "
    "html, email_status, emailed_at, sheets_status"
)


class StoredReport(Row):
    report_id: str
    kind: ReportKind
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    generated_by: str
    summary: str  # the report model as JSON
    csv: str
    html: str | None
    email_status: str | None
    emailed_at: datetime | None
    sheets_status: str | None = None  # the Google Sheet: published | failed | not_configured


class ReportStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def save(
        self,
        *,
        report_id: str,
        kind: ReportKind,
        period_start: datetime,
        period_end: datetime,
        generated_at: datetime,
        generated_by: str,
        summary: str,
        csv: str,
        html: str | None,
    ) -> None:
        """Store a report; saving the same id again (an activity retry) replaces its
        content but keeps whether it was emailed."""
        await self._pool.execute(
            """
            INSERT INTO reports (report_id, kind, period_start, period_end, generated_at,
                generated_by, summary, csv, html)
            VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9)
            ON CONFLICT (report_id) DO UPDATE SET
                period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end,
                generated_at = EXCLUDED.generated_at, summary = EXCLUDED.summary,
                csv = EXCLUDED.csv, html = EXCLUDED.html
            """,
            report_id,
            kind,
            period_start,
            period_end,
            generated_at,
            generated_by,
            summary,
            csv,
            html,
        )

    async def get(self, report_id: str) -> StoredReport | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM reports WHERE report_id = $1", report_id
        )
        return None if row is None else StoredReport.model_validate(dict(row))

    async def list(
        self, kind: ReportKind | None = None, limit: int = 50
    ) -> builtins.list[StoredReport]:
        rows = await self._pool.fetch(
            f"""
            SELECT {_COLUMNS} FROM reports WHERE $1::text IS NULL OR kind = $1
            ORDER BY generated_at DESC LIMIT $2
            """,
            kind,
            limit,
        )
        return [StoredReport.model_validate(dict(r)) for r in rows]

    async def latest_audit(self) -> OverrunAudit | None:
        """The newest overrun audit (the feeds' and the sheet's overrun list)."""
        summary = await self._pool.fetchval(
            "SELECT summary::text FROM reports WHERE kind = 'overrun_audit' "
            "ORDER BY generated_at DESC LIMIT 1"
        )
        return None if summary is None else OverrunAudit.model_validate_json(summary)

    async def mark_published(self, report_id: str, status: str, detail: str | None) -> None:
        """Where the report stands with the Google Sheet: published, failed (why), or
        not_configured."""
        await self._pool.execute(
            "UPDATE reports SET sheets_status = $2, sheets_detail = $3, sheets_at = now() "
            "WHERE report_id = $1",
            report_id,
            status,
            detail,
        )

    async def mark_emailed(self, report_id: str, status: str) -> None:
        await self._pool.execute(
            "UPDATE reports SET email_status = $2, emailed_at = now() WHERE report_id = $1",
            report_id,
            status,
        )
