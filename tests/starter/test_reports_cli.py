"""`punchcard report …` against the real stack: the reconciliation printed and written, run
through the worker with --email, and the overrun audit of an export file."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from temporalio.worker import Worker

from activities.reports.tokens import ReportTokenStore
from tests.fakes.smtp import SmtpFake
from tests.starter.test_cli import Cli, env_for, one_line_error
from workers.settings import Settings


def today() -> date:
    return datetime.now(UTC).astimezone(ZoneInfo("America/New_York")).date()


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The worker writes report files under the test's directory, not ./.punchcard."""
    return settings.model_copy(update={"reports_dir": tmp_path / "worker-reports"})


@pytest.fixture
async def shop(settings: Settings, tmp_path: Path, worker: Worker) -> Cli:
    """Ana bought 6 laser sessions for $1,800 and used one, all through the CLI."""
    env = env_for(settings, tmp_path / "data")
    if settings.codec_keys is not None:  # payloads are encrypted as the worker's are
        env["PUNCHCARD_CODEC_KEYS"] = settings.codec_keys.get_secret_value()
    cli = Cli(env)
    await cli.ok("client", "add", "--id", "ana", "--name", "Ana Test", "--phone", "+15555550111")
    await cli.ok(
        "type", "add", "laser6", "--name", "Laser (6)", "--units", "6", "--price", "1,800",
        "--category", "laser",
    )  # fmt: skip
    purchase = f"p-{uuid.uuid4().hex[:8]}"  # workflow ids outlive a test's database
    await cli.ok("sell", "ana", "laser6", "--purchase-id", purchase)
    await cli.ok("complete", purchase, "--appointment", "a1")
    return cli


async def test_reconcile_prints_the_summary_and_writes_csv_and_html(
    shop: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first, last = str(today() - timedelta(days=1)), str(today())

    printed = await shop.ok("report", "reconcile", "--from", first, "--to", last, "--out", str(out))

    assert "Reconciliation, " in printed and "(America/New_York)" in printed
    assert "Week" not in printed  # two days are not a week
    assert "Package liability (deferred revenue): $1,500.00" in printed
    assert "Packages sold: 1 ($1,800.00)" in printed
    assert "Total package liability today (deferred revenue): $1,500.00" in printed
    assert "from the ledger $1,500.00: agrees" in printed
    stem = f"reconciliation-{first}-to-{last}"
    written = out / f"{stem}.csv"
    rows = list(csv.DictReader(io.StringIO(written.read_text())))
    assert any(r["measure"] == "sessions consumed (net)" and r["sessions"] == "1" for r in rows)
    assert 'id="liability"' in (out / f"{stem}.html").read_text()


async def test_reconcile_with_email_runs_through_the_worker(shop: Cli, smtp: SmtpFake) -> None:
    printed = await shop.ok("report", "reconcile", "--from", str(today()), "--email")
    assert "stored as reconciliation-on-demand-" in printed
    assert "liability $1,500.00; email: sent" in printed
    [mail] = smtp.sent_to("manager@example.com")  # no manager address set: the staff one
    assert "reconciliation" in str(mail["Subject"])


async def test_reconcile_refuses_an_end_without_a_start(shop: Cli) -> None:
    line = one_line_error(await shop("report", "reconcile", "--to", "2026-03-08"))
    assert "start date" in line
    line = one_line_error(await shop("report", "reconcile", "--from", "March"))
    assert line == "--from wants a date like 2027-03-31, not 'March'"


async def test_overrun_audit_of_an_export_file(shop: Cli, tmp_path: Path) -> None:
    day = today()
    rows = [f"A{n},ana,laser,{day - timedelta(days=n + 1)},Completed" for n in range(7)]
    rows += [f"B1,ghost,laser,{day},Completed", "B2,ana,laser,someday,Completed"]
    export = tmp_path / "export.csv"
    export.write_text("Appointment ID,Client ID,Service,Date,Status\n" + "\n".join(rows) + "\n")

    printed = await shop.ok("report", "overruns", str(export), "--out", str(tmp_path / "a"))

    line = next(ln for ln in printed.splitlines() if ln.startswith("ana "))
    assert line.split() == ["ana", "Ana", "Test", "laser", "7", "6", "1", "$300.00"]
    assert "1 clients over by 1 sessions, $300.00" in printed
    assert "unknown client 'ghost': lines 9" in printed
    assert "line 10: date 'someday' is not a date" in printed
    [written] = list((tmp_path / "a").glob("overruns-*.csv"))
    assert "ana,Ana Test,laser,7,6,1,300.00,300.00,overrun" in written.read_text()


async def test_reconcile_of_one_location_and_by_location(shop: Cli, tmp_path: Path) -> None:
    await shop.ok(
        "locations", "add", "soho", "--name", "Glow SoHo", "--timezone", "America/New_York"
    )
    await shop.ok(
        "locations", "add", "venice", "--name", "Glow Venice", "--timezone", "America/Los_Angeles"
    )
    first, last = str(today() - timedelta(days=2)), str(today() + timedelta(days=2))
    out = str(tmp_path / "out")
    whole = await shop.ok("report", "reconcile", "--from", first, "--to", last, "--out", out)
    assert "By location:" in whole
    assert "  Glow SoHo: liability $1,500.00, sold $1,800.00" in whole  # sold before: the default
    assert "  Glow Venice: liability $0.00, sold $0.00" in whole
    venice = await shop.ok(
        "report", "reconcile", "--from", first, "--to", last, "--out", out, "--location", "venice"
    )
    assert "(America/Los_Angeles)" in venice and "Location venice (Glow Venice)" in venice
    assert "Packages sold: 0 ($0.00)" in venice and "By location" not in venice
    assert (tmp_path / "out" / f"reconciliation-{first}-to-{last}-venice.csv").exists()
    assert (
        one_line_error(await shop("report", "reconcile", "--location", "atlantis"))
        == "no location 'atlantis'"
    )


async def test_report_tokens_are_made_listed_and_revoked_from_the_cli(
    settings: Settings, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    cli = Cli(env_for(settings, tmp_path / "data"))
    made = (await cli.ok("report", "token", "add", "Power BI, finance")).splitlines()
    token = made[1]
    assert token.startswith("pcr_")
    store = ReportTokenStore(pool)
    assert (await store.verify(token)) is not None
    token_id = made[0].split()[2]
    listed = await cli.ok("report", "token", "list")
    assert token_id in listed and "Power BI, finance" in listed and token not in listed
    assert "live" in listed
    assert f"{token_id} (Power BI, finance) revoked" in await cli.ok(
        "report", "token", "revoke", token_id
    )
    assert (await store.verify(token)) is None
    assert "revoked" in await cli.ok("report", "token", "list")
    assert "no report token 'rt_nope'" in one_line_error(
        await cli("report", "token", "revoke", "rt_nope")
    )
