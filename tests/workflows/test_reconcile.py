"""The weekly reconciliation end to end: packages sold and used through their workflows, the
report built and stored by the worker, emailed to the manager; and its Temporal Schedule."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.worker import Replayer

from activities.reports import ReconciliationReport, ReportStore, last_full_week
from tests.conftest import eventually
from tests.fakes.google_sheets import GoogleSheetsFake
from tests.fakes.smtp import SmtpFake
from tests.workflows.conftest import ANA, BEN, CARA, Spa
from workers.schedules import REVIEW_SCHEDULE_ID, ensure_schedules
from workers.settings import Settings
from workflows.models import CancelRequest, RedeemRequest, ReverseRequest
from workflows.reconcile import ReconciliationWorkflow
from workflows.reconcile_models import RECONCILE_SCHEDULE_ID, ReconcileInput

MANAGER = "owner@example.com"
OPEN_LIABILITY = (
    "SELECT coalesce(sum(unused_value_cents), 0) FROM packages "
    "WHERE status IN ('active', 'in_review')"
)


@pytest.fixture
async def google() -> AsyncIterator[GoogleSheetsFake]:
    fake = GoogleSheetsFake()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def settings(settings: Settings, tmp_path: Path, google: GoogleSheetsFake) -> Settings:
    return settings.model_copy(
        update={
            "manager_email": MANAGER,
            "reports_dir": tmp_path / "reports",
            "google_sheets_spreadsheet_id": google.spreadsheet_id,
            "google_sheets_credentials_file": google.write_key_file(tmp_path / "key.json"),
            "google_sheets_base_url": google.base_url,
            "google_sheets_token_uri": google.token_uri,
        }
    )


async def test_the_run_stores_the_report_and_emails_the_manager(
    spa: Spa,
    pool: asyncpg.Pool,
    client: Client,
    settings: Settings,
    smtp: SmtpFake,
    google: GoogleSheetsFake,
) -> None:
    started = datetime.now(UTC)
    [laser] = await spa.sell("laser6", ANA.client_id)  # $1,800 for 6
    [credit] = await spa.sell("credit1500", BEN.client_id)  # $1,500 of credit
    [duo] = await spa.sell("duo2", CARA.client_id)  # $300 for 2
    for n in (1, 2):
        await spa.service.send(laser, RedeemRequest(key=f"v{n}", appointment_id=f"a{n}"))
    await spa.service.send(
        laser, ReverseRequest(key="r1", appointment_id="a2", reason="wrong client")
    )
    await spa.service.send(
        credit, RedeemRequest(key="v3", appointment_id="a3", amount_cents=40_000)
    )
    await spa.service.send(duo, CancelRequest(key="c1", reason="moved away"))
    await eventually(
        lambda: pool.fetchval("SELECT count(*) FROM ledger_entries"), lambda n: n == 3 + 4 + 1
    )

    handle = await client.start_workflow(
        ReconciliationWorkflow.run,
        ReconcileInput(start=started - timedelta(hours=1), end=started + timedelta(hours=1)),
        id=f"reconcile-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
    )
    result = await handle.result()
    # Deterministic: its own history replays on this code.
    await Replayer(
        workflows=[ReconciliationWorkflow], data_converter=client.data_converter
    ).replay_workflow(await handle.fetch_history())

    open_sum = await pool.fetchval(OPEN_LIABILITY)
    assert open_sum == 150_000 + 110_000  # 5 of 6 laser sessions, $1,100 of credit
    assert result.report.liability_cents == open_sum
    assert result.report.ledger_difference_cents == 0
    assert result.email is not None and result.email.status == "sent"

    stored = await ReportStore(pool).get(result.report.report_id)
    assert stored is not None and stored.email_status == "sent"
    report = ReconciliationReport.model_validate_json(stored.summary)
    assert (report.sales.packages, report.sales.value_cents) == (3, 360_000)
    assert (report.consumption.sessions_consumed, report.consumption.credit_redeemed_cents) == (
        1,
        40_000,
    )
    assert (report.cancellations.packages, report.cancellations.refund_due_cents) == (1, 30_000)
    assert report.liability.ledger_cents == open_sum
    assert [c.category for c in report.categories] == ["laser"]  # every test type is laser
    assert sorted(Path(f).suffix for f in result.report.files) == [".csv", ".html"]

    [mail] = smtp.sent_to(MANAGER)
    attached = {p.get_filename(): p for p in mail.walk() if p.get_filename()}
    [csv_name] = [name for name in attached if name and name.endswith(".csv")]
    payload = attached[csv_name].get_payload(decode=True)
    assert isinstance(payload, bytes)
    rows = {(r["section"], r["measure"]): r for r in csv.DictReader(io.StringIO(payload.decode()))}
    assert rows[("liability", "total liability (open packages)")]["amount"] == "2600.00"
    assert rows[("liability", "difference")]["detail"] == "agrees"
    [body_html] = [
        p for p in mail.walk() if p.get_content_type() == "text/html" and p.get_filename() is None
    ]
    html = body_html.get_payload(decode=True)
    # The chart is the message's PNG part, linked from the body by its Content-ID.
    [png] = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert isinstance(html, bytes) and f'src="cid:{png["Content-ID"].strip("<>")}"' in html.decode()

    # The worker wrote the same figures to the Google Sheet, one tab per report.
    assert list(google.tabs) == ["Sheet1", "Reconciliation", "Liability", "Overruns"]
    liability = {(r[3], r[4]): r[8] for r in google.tabs["Liability"][1:]}
    assert liability == {("category", "laser"): 2600, ("location", "all"): 2600}
    assert stored.sheets_status == "published"


async def test_the_weekly_schedule_reconciles_last_week(
    spa: Spa, pool: asyncpg.Pool, client: Client, settings: Settings
) -> None:
    await ensure_schedules(client, settings, pool)
    handle = client.get_schedule_handle(RECONCILE_SCHEDULE_ID)
    try:
        described = await handle.describe()
        spec = described.schedule.spec
        assert spec.time_zone_name == settings.spa_timezone == "America/New_York"
        assert spec.cron_expressions == ["0 7 * * MON"] or spec.calendars  # server may expand
        assert described.schedule.action.workflow == "ReconciliationWorkflow"  # type: ignore[attr-defined]

        # Staff paused it; a worker restart ensures the schedules again: it stays paused.
        await handle.pause(note="audit week")
        await ensure_schedules(client, settings, pool)
        assert (await handle.describe()).schedule.state.paused

        # Run it now, as the cron would: the report covers last week, Monday to Monday.
        await handle.trigger()
        reports = await eventually(
            lambda: ReportStore(pool).list("reconciliation"), lambda found: len(found) == 1
        )
        expected = last_full_week(datetime.now(UTC), settings.spa_timezone)
        assert (reports[0].period_start, reports[0].period_end) == (expected.start, expected.end)
        assert reports[0].report_id.startswith(RECONCILE_SCHEDULE_ID)
        stored = await eventually(
            lambda: ReportStore(pool).get(reports[0].report_id),
            lambda r: r is not None and r.email_status is not None,
        )
        assert stored is not None and stored.email_status == "sent"
    finally:
        await handle.delete()
        await client.get_schedule_handle(REVIEW_SCHEDULE_ID).delete()


async def test_a_half_given_period_is_refused_before_anything_runs() -> None:
    with pytest.raises(ValueError, match="both start and end"):
        ReconcileInput(start=datetime.now(UTC))
    with pytest.raises(ValueError, match="before end"):
        now = datetime.now(UTC)
        ReconcileInput(start=now, end=now - timedelta(days=1))
