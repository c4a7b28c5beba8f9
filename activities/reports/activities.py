"""The reconciliation's activities: build and store the report, then email it to the manager.

The email activity also writes the reconciliation to the Google Sheet when one is
configured (`SheetsPublisher`): after each reconciliation, without a step of its own in
the workflow. Each half is done once per report (`email_status`, `sheets_status`), so a
retry for one never repeats the other, and neither waits for the other: a mail-server
outage does not hold the sheet back, nor a Sheets outage the email.

Failures:
    ApplicationError(type=BAD_CONFIGURATION, non-retryable) — a stored report is missing
        (the build step must run first) or the period is impossible.
    SmtpError — from the mailer: retryable while the mail server is away.
    ProviderError "GoogleSheetsUnavailable" — retryable (429/5xx/network); the sheet's
        permanent refusals (not shared, no such spreadsheet) are recorded as `failed` and
        logged, not raised: the week's email is not failed for a sheet.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.messaging.email import Attachment, SmtpMailer
from activities.provider_errors import ProviderError
from activities.reports.chart import chart_png
from activities.reports.models import Period, ReconciliationReport, last_full_week
from activities.reports.reconciliation import build_report
from activities.reports.render import (
    CHART_CID,
    headline_liability_cents,
    money,
    reconciliation_csv,
    reconciliation_html,
    reconciliation_text,
)
from activities.reports.sheets import SheetsPublisher
from activities.reports.store import ReportStore, StoredReport
from activities.reports.tables import report_tables
from workflows import reconcile_models as rm
from workflows.policies import BAD_CONFIGURATION


class ReportActivities:
    """Constructed by the worker with its pool, mailer and the spa's settings."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        mailer: SmtpMailer | None,
        manager_email: str | None,
        timezone: str,
        spa_name: str = "Punchcard",
        reports_dir: Path | None = None,
        sheets: SheetsPublisher | None = None,
    ) -> None:
        self._pool = pool
        self._store = ReportStore(pool)
        self._mailer = mailer
        self._manager_email = manager_email
        self._timezone = timezone
        self._spa_name = spa_name
        self._reports_dir = reports_dir
        self._sheets = sheets

    @activity.defn(name=rm.BUILD_RECONCILIATION.name)
    async def build_reconciliation(self, input: rm.BuildReportInput) -> rm.ReportRef:
        """Compute the report for the period (default: the last full week before `as_of`)
        and store it under `report_id`; a retry replaces the same stored report."""
        if input.start is not None and input.end is not None:
            period = Period(start=input.start, end=input.end, timezone=self._timezone)
        else:
            period = last_full_week(input.as_of, self._timezone)
        report = await build_report(self._pool, period)
        csv_text = reconciliation_csv(report)
        # The chart is drawn by matplotlib (CPU work): off the event loop.
        html = await asyncio.to_thread(reconciliation_html, report, spa_name=self._spa_name)
        await self._store.save(
            report_id=input.report_id,
            kind="reconciliation",
            period_start=period.start,
            period_end=period.end,
            generated_at=report.generated_at,
            generated_by=input.requested_by,
            summary=report.model_dump_json(),
            csv=csv_text,
            html=html,
        )
        files = self._write_files(input.report_id, report, csv_text, html)
        activity.logger.info(
            "reconciliation %s for %s stored (%s open packages)",
            input.report_id,
            period.label(),
            report.liability.open_packages,
        )
        return rm.ReportRef(
            report_id=input.report_id,
            period_start=period.start,
            period_end=period.end,
            liability_cents=headline_liability_cents(report),
            ledger_difference_cents=report.liability.difference_cents,
            files=files,
        )

    @activity.defn(name=rm.EMAIL_REPORT.name)
    async def email_report(self, input: rm.EmailReportInput) -> rm.EmailReportResult:
        """Email the stored report to the manager: the summary as text, the page as the
        HTML body with its chart as an inline PNG part (`cid:`; Gmail and Outlook drop
        inline SVG), the web page (SVG chart) and the CSV attached. Sent once per report:
        a rerun answers `already_sent`."""
        stored = await self._store.get(input.report_id)
        if stored is None:
            raise ApplicationError(
                f"report {input.report_id!r} is not stored",
                type=BAD_CONFIGURATION,
                non_retryable=True,
            )
        try:
            result = await self._email(input.report_id, stored)
        except ApplicationError:
            await self._publish(input.report_id, stored)  # the sheet does not wait for mail
            raise
        await self._publish(input.report_id, stored)
        return result

    async def _email(self, report_id: str, stored: StoredReport) -> rm.EmailReportResult:
        if stored.email_status == "sent":
            return rm.EmailReportResult(status="already_sent")
        if self._mailer is None or not self._manager_email:
            activity.logger.warning(
                "reconciliation %s not emailed: set PUNCHCARD_SMTP_HOST and "
                "PUNCHCARD_MANAGER_EMAIL",
                report_id,
            )
            await self._store.mark_emailed(report_id, "not_configured")
            return rm.EmailReportResult(status="not_configured")
        report = ReconciliationReport.model_validate_json(stored.summary)
        stem = _stem(report)
        body, png = await asyncio.to_thread(self._email_body, report)
        chart = [] if png is None else [Attachment(f"{stem}.png", png, "image/png", CHART_CID)]
        await self._mailer.send(
            self._manager_email,
            f"{self._spa_name}: reconciliation {report.period.label()}, liability "
            f"{money(headline_liability_cents(report))}",
            reconciliation_text(report),
            f"report/{report_id}",
            html=body,
            attachments=[
                *chart,
                Attachment(f"{stem}.csv", stored.csv.encode(), "text/csv"),
                Attachment(f"{stem}.html", (stored.html or "").encode(), "text/html"),
            ],
        )
        await self._store.mark_emailed(report_id, "sent")
        activity.logger.info("reconciliation %s emailed to the manager", report_id)
        return rm.EmailReportResult(status="sent")

    async def _publish(self, report_id: str, stored: StoredReport) -> None:
        """The reconciliation, liability by category and location, and the latest overrun
        list, each to its tab of the Google Sheet, replaced in place. Raises only what is
        worth a retry."""
        if stored.kind != "reconciliation" or stored.sheets_status == "published":
            return
        if self._sheets is None:
            if stored.sheets_status is None:
                await self._store.mark_published(report_id, "not_configured", None)
            return
        report = ReconciliationReport.model_validate_json(stored.summary)
        tables = await report_tables(self._pool, report)
        try:
            await self._sheets.publish(list(tables.values()))
        except ProviderError as err:
            if not err.non_retryable:
                raise
            await self._store.mark_published(report_id, "failed", err.message)
            activity.logger.error("reconciliation %s not written to the sheet: %s", report_id, err)
            return
        await self._store.mark_published(report_id, "published", None)
        activity.logger.info("reconciliation %s written to the Google Sheet", report_id)

    def _email_body(self, report: ReconciliationReport) -> tuple[str, bytes | None]:
        """The email's HTML (its chart a `cid:` image) and that chart's PNG (None: no
        categories, so no chart, and the HTML says so in words)."""
        html = reconciliation_html(report, spa_name=self._spa_name, chart="cid")
        return html, chart_png(report)

    def _write_files(
        self, report_id: str, report: ReconciliationReport, csv_text: str, html: str
    ) -> list[str]:
        """A copy on disk for people who look there; the database copy is the record, so a
        directory that cannot be written is logged, not fatal."""
        if self._reports_dir is None:
            return []
        stem = _stem(report)
        try:
            self._reports_dir.mkdir(parents=True, exist_ok=True)
            paths = [self._reports_dir / f"{stem}.csv", self._reports_dir / f"{stem}.html"]
            paths[0].write_text(csv_text, encoding="utf-8")
            paths[1].write_text(html, encoding="utf-8")
        except OSError as err:
            activity.logger.warning(
                "report %s not written to %s: %s", report_id, self._reports_dir, err
            )
            return []
        return [str(p) for p in paths]


def _stem(report: ReconciliationReport) -> str:
    return f"reconciliation-{report.period.first_day}-to-{report.period.last_day}"
