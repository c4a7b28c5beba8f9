"""The reconciliation written to a Google Sheet (through the Sheets API v4 stand-in): one
tab per report, replaced in place run after run, the token from google-auth refreshed
when it expires, outages retried and a sheet not shared with the account recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.provider_errors import ProviderError
from activities.reports import ReportActivities, ReportStore
from activities.reports.models import OverrunAudit, OverrunLine
from activities.reports.sheets import SheetsPublisher, load_credentials
from tests.activities.report_data import NY, ny, seed_week
from tests.fakes.google_sheets import GoogleSheetsFake
from workers.settings import Settings
from workers.worker import build_sheets
from workflows.reconcile_models import BuildReportInput, EmailReportInput

AFTER = ny(2026, 3, 11, 9)
TABS = ["Sheet1", "Reconciliation", "Liability", "Overruns"]


@pytest.fixture
async def google() -> AsyncIterator[GoogleSheetsFake]:
    fake = GoogleSheetsFake()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def reports(
    pool: asyncpg.Pool, google: GoogleSheetsFake, tmp_path: Path
) -> AsyncIterator[ReportActivities]:
    key_file = google.write_key_file(tmp_path / "service-account.json")
    async with httpx.AsyncClient() as http:
        yield ReportActivities(
            pool=pool,
            mailer=None,
            manager_email=None,
            timezone=NY,
            sheets=SheetsPublisher(
                http=http,
                credentials=load_credentials(key_file, token_uri=google.token_uri),
                spreadsheet_id=google.spreadsheet_id,
                base_url=google.base_url,
            ),
        )


async def audit_with(pool: asyncpg.Pool, report_id: str, clients: int, day: int) -> None:
    """An overrun audit listing `clients` clients over by one laser session each."""
    audit = OverrunAudit(
        report_id=report_id,
        generated_at=datetime(2026, 3, day, 12, tzinfo=UTC),
        platform="csv",
        window_start=date(2026, 3, 1),
        window_end=date(2026, 3, 8),
        visits_read=5,
        counted=5,
        overruns=[
            OverrunLine(
                client_id=f"c-{n}",
                client_name=f"Client {n}",
                category="laser",
                visits=5,
                available=4,
                excess=1,
                session_value_cents=30_000,
                value_cents=30_000,
            )
            for n in range(clients)
        ],
    )
    await ReportStore(pool).save(
        report_id=report_id,
        kind="overrun_audit",
        period_start=audit.generated_at,
        period_end=audit.generated_at,
        generated_at=audit.generated_at,
        generated_by="test",
        summary=audit.model_dump_json(),
        csv="",
        html=None,
    )


async def reconcile(reports: ReportActivities, report_id: str) -> None:
    env = ActivityEnvironment()
    await env.run(reports.build_reconciliation, BuildReportInput(report_id=report_id, as_of=AFTER))
    await env.run(reports.email_report, EmailReportInput(report_id=report_id))


async def test_each_run_replaces_the_tabs_in_place(
    pool: asyncpg.Pool, google: GoogleSheetsFake, reports: ReportActivities
) -> None:
    await seed_week(pool)
    await audit_with(pool, "overruns-1", clients=3, day=10)
    await reconcile(reports, "weekly-1")

    assert list(google.tabs) == TABS  # one tab per report, added beside the sheet's own
    liability = google.tabs["Liability"]
    assert liability[0] == [
        "period_start",
        "period_end",
        "as_of",
        "dimension",
        "name",
        "open_packages",
        "sessions_left",
        "credit_left",
        "liability",
    ]
    by_category = {r[4]: r[8] for r in liability[1:] if r[3] == "category"}
    assert by_category == {"injectables": 1250, "laser": 1200, "facial": 400, "uncategorised": 50}
    recon = {(r[2], r[3]): r for r in google.tabs["Reconciliation"][1:]}
    assert recon[("liability", "total liability (open packages)")][6] == 2900
    assert recon[("sold", "packages sold")][:2] == ["2026-03-02", "2026-03-08"]
    assert len(google.tabs["Overruns"]) == 1 + 3
    assert (await ReportStore(pool).get("weekly-1")).sheets_status == "published"  # type: ignore[union-attr]
    first_size = {t: len(rows) for t, rows in google.tabs.items()}

    # The next run: a shorter overrun list, the same week otherwise. The tabs are the same
    # tabs, their rows replaced: nothing added, nothing left over from the last run.
    await audit_with(pool, "overruns-2", clients=1, day=11)
    await reconcile(reports, "weekly-2")
    assert list(google.tabs) == TABS
    assert len(google.calls("batchUpdate")) == 1  # tabs were added by the first run only
    assert google.tabs["Overruns"][1][0] == "overruns-2" and len(google.tabs["Overruns"]) == 2
    for tab in ("Reconciliation", "Liability"):
        assert len(google.tabs[tab]) == first_size[tab]
        rows = [tuple(r) for r in google.tabs[tab]]
        assert len(set(rows)) == len(rows)  # no row twice
    assert google.token_requests == 1  # the token lives an hour: fetched once

    # An activity retry of a published report does not write again.
    writes = len(google.calls("values:batchUpdate"))
    await ActivityEnvironment().run(reports.email_report, EmailReportInput(report_id="weekly-2"))
    assert len(google.calls("values:batchUpdate")) == writes


async def test_an_expired_token_is_refreshed_and_an_outage_retried(
    pool: asyncpg.Pool, google: GoogleSheetsFake, reports: ReportActivities
) -> None:
    await seed_week(pool)
    await reconcile(reports, "weekly-1")
    assert google.token_requests == 1

    # The token dies early: one 401, a fresh token, the write goes through once.
    google.expire_tokens()
    await reconcile(reports, "weekly-2")
    assert google.token_requests == 2
    assert (await ReportStore(pool).get("weekly-2")).sheets_status == "published"  # type: ignore[union-attr]

    # Sheets is down (503, Retry-After): a retryable failure, for Temporal to retry; the
    # retry writes the sheet.
    env = ActivityEnvironment()
    await env.run(reports.build_reconciliation, BuildReportInput(report_id="weekly-3", as_of=AFTER))
    google.fail_next("values:batchUpdate", 503, retry_after="7")
    with pytest.raises(ProviderError) as failed:
        await env.run(reports.email_report, EmailReportInput(report_id="weekly-3"))
    assert not failed.value.non_retryable and failed.value.type == "GoogleSheetsUnavailable"
    assert failed.value.next_retry_delay is not None
    assert failed.value.next_retry_delay.total_seconds() == 7
    assert (await ReportStore(pool).get("weekly-3")).sheets_status is None  # type: ignore[union-attr]
    await env.run(reports.email_report, EmailReportInput(report_id="weekly-3"))
    assert (await ReportStore(pool).get("weekly-3")).sheets_status == "published"  # type: ignore[union-attr]
    assert list(google.tabs) == TABS


async def test_a_sheet_not_shared_with_the_account_is_recorded_not_retried(
    pool: asyncpg.Pool, google: GoogleSheetsFake, reports: ReportActivities
) -> None:
    await seed_week(pool)
    google.fail_next("get", 403)
    await reconcile(reports, "weekly-1")  # the run completes: the email is not held back
    stored = await pool.fetchrow(
        "SELECT email_status, sheets_status, sheets_detail FROM reports WHERE report_id = $1",
        "weekly-1",
    )
    assert stored["email_status"] == "not_configured"
    assert stored["sheets_status"] == "failed"
    assert "share the sheet with the service account" in stored["sheets_detail"]
    assert list(google.tabs) == ["Sheet1"]


async def test_a_bad_key_is_a_configuration_error(
    pool: asyncpg.Pool, google: GoogleSheetsFake, tmp_path: Path
) -> None:
    """A key the token endpoint refuses (another account's) is for an operator, not a retry."""
    other = GoogleSheetsFake(client_email="someone-else@other.iam.gserviceaccount.com")
    key_file = other.write_key_file(tmp_path / "other.json")
    async with httpx.AsyncClient() as http:
        publisher = SheetsPublisher(
            http=http,
            credentials=load_credentials(key_file, token_uri=google.token_uri),
            spreadsheet_id=google.spreadsheet_id,
            base_url=google.base_url,
        )
        with pytest.raises(ProviderError) as failed:
            await publisher.publish([])
    assert failed.value.non_retryable and failed.value.type == "BadConfiguration"


def test_the_worker_publishes_only_with_both_settings(tmp_path: Path) -> None:
    """Neither set: no sheet. One without the other: refused at start, naming both."""
    http = httpx.AsyncClient()
    assert build_sheets(Settings(), http) is None
    with pytest.raises(ValueError, match="PUNCHCARD_GOOGLE_SHEETS_CREDENTIALS_FILE"):
        build_sheets(Settings(google_sheets_spreadsheet_id="abc"), http)
