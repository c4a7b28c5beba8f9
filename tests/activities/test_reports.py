"""The reconciliation on a known week: every figure, the liability cross-check, the CSV and
HTML renderings, and the email activity."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.messaging.email import SmtpMailer
from activities.reports import (
    ReportActivities,
    ReportStore,
    build_report,
    days_period,
    last_full_week,
    reconciliation_csv,
    reconciliation_html,
    reconciliation_text,
)
from activities.reports.models import (
    Cancellations,
    Consumption,
    Expiries,
    Liability,
    OpenBalances,
    Overruns,
    Period,
    ReconciliationReport,
    ReviewBacklog,
    Sales,
)
from activities.reports.render import headlines
from tests.activities.report_data import NY, WEEK_END, WEEK_START, ny, seed_week
from tests.fakes.smtp import SmtpFake
from workflows.reconcile_models import BuildReportInput, EmailReportInput

AFTER = ny(2026, 3, 11, 9)  # when the report is made: the Wednesday after the week


@pytest.fixture
def week() -> Period:
    return Period(start=WEEK_START, end=WEEK_END, timezone=NY)


def test_last_full_week_runs_monday_to_monday_in_the_spas_zone() -> None:
    for as_of in (ny(2026, 3, 9, 7), ny(2026, 3, 11, 9), ny(2026, 3, 15, 23)):
        period = last_full_week(as_of, NY)
        assert (period.start, period.end) == (WEEK_START, WEEK_END)
        assert period.label() == "2026-03-02 to 2026-03-08"
    # Daylight saving time began on the 8th: the week is an hour short.
    assert WEEK_END.astimezone(UTC) - WEEK_START.astimezone(UTC) == timedelta(hours=167)
    # Sunday night local is already Monday in UTC, but still the same local week.
    late_sunday = ny(2026, 3, 8, 23).astimezone(UTC)
    assert last_full_week(late_sunday, NY).start == ny(2026, 2, 23, 0)
    assert days_period(ny(2026, 3, 2).date(), ny(2026, 3, 8).date(), NY).end == WEEK_END
    with pytest.raises(ValueError, match="ends"):
        days_period(ny(2026, 3, 8).date(), ny(2026, 3, 2).date(), NY)


async def test_every_figure_of_a_known_week(pool: asyncpg.Pool, week: Period) -> None:
    await seed_week(pool)

    report = await build_report(pool, week, now=AFTER)

    s = report.sales
    assert (s.packages, s.value_cents, s.sessions, s.credit_cents) == (2, 330_000, 6, 150_000)
    assert (s.top_ups, s.top_up_sessions, s.top_up_value_cents) == (1, 2, 20_000)
    c = report.consumption
    # p1: 2 visits, 1 reversed; p7: 1 over balance. The visit at WEEK_END is next week's.
    assert (c.sessions_redeemed, c.sessions_reversed, c.sessions_consumed) == (3, 1, 2)
    assert c.credit_redeemed_cents == 25_000
    assert c.consumed_value_cents == 30_000 + 30_000 - 30_000 + 0 + 25_000
    assert (c.forfeits, c.forfeit_sessions, c.forfeit_value_cents) == (1, 1, 10_000)
    assert c.over_balance == 1
    e = report.expiries
    assert (e.packages, e.sessions, e.credit_cents, e.breakage_cents) == (1, 2, 0, 60_000)
    x = report.cancellations
    assert (x.packages, x.refund_due_cents, x.refunded_cents, x.restored) == (1, 40_000, 40_000, 0)

    # Now: p1 (4 left, $1,200), p2 (4, $400), p4 ($1,250 credit), p6 (in review, 1, $50),
    # p7 (over balance: 0 counted, $0).
    o = report.open
    assert (o.session_packages, o.sessions_remaining) == (4, 9)
    assert (o.credit_packages, o.credit_remaining_cents) == (1, 125_000)
    by_category = {
        cat.category: (cat.packages, cat.sessions, cat.credit_cents, cat.unused_value_cents)
        for cat in report.categories
    }
    assert by_category == {
        "injectables": (1, 0, 125_000, 125_000),
        "laser": (2, 4, 0, 120_000),
        "facial": (1, 4, 0, 40_000),  # the facial/peel type counts under its first category
        "uncategorised": (1, 1, 0, 5_000),
    }
    assert report.categories[0].category == "injectables"  # largest first

    li = report.liability
    assert (li.open_packages, li.balance_cents, li.ledger_cents, li.difference_cents) == (
        5,
        290_000,
        290_000,
        0,
    )

    r = report.review
    assert r.open_items == 2 and r.oldest_at == ny(2026, 2, 20)
    assert r.by_reason == {"refused:ZeroBalance": 1, "no_match": 1}
    assert r.oldest_age_hours(AFTER) == 452.0  # 19 days less 3 hours, less the DST hour
    ov = report.overruns
    assert ov.refused_visits == 2 and ov.by_rule == {"ZeroBalance": 1, "PackageExpired": 1}
    assert ov.over_balance_redemptions == 1 and ov.latest_audit is None

    # The week before (23 Feb to 1 Mar): nothing sold, used or expired; one visit refused.
    # The ledger's liability at the week's start: p2 $300 + p3 $600 + p5 $400 + p6 $50.
    p = report.previous
    assert p is not None and p.period.label() == "2026-02-23 to 2026-03-01"
    assert (p.sales.value_cents, p.consumption.consumed_value_cents) == (0, 0)
    assert (p.expiries.breakage_cents, p.refused_visits) == (0, 1)
    assert p.liability_cents == 135_000

    # The week is over when the report is made: its headline is the ledger's liability at
    # the week's end, which the visit of the next Monday (p1, $300) has not touched, so the
    # change adds up with the week's flows: +$3,300 sold +$200 topped up -$550 used
    # -$100 forfeited -$600 expired -$400 cancelled = +$1,850.
    assert li.at_end_cents == 320_000 == p.liability_cents + 185_000
    [liability, *_] = headlines(report)
    assert (liability.figure, liability.delta[0]) == ("$3,200.00", "up $1,850.00")
    assert liability.detail == "at the end of Sun, Mar 8; today $2,900.00 on 5 open packages"
    # While the period runs, the headline is today's balance.
    running = await build_report(pool, week, now=ny(2026, 3, 6, 12))
    assert headlines(running)[0].figure == "$2,900.00"


async def test_liability_equals_the_sum_over_open_packages_and_a_drift_is_shown(
    pool: asyncpg.Pool, week: Period
) -> None:
    await seed_week(pool)
    open_sum = await pool.fetchval(
        "SELECT sum(unused_value_cents) FROM packages WHERE status IN ('active', 'in_review')"
    )
    report = await build_report(pool, week, now=AFTER)
    assert report.liability.balance_cents == open_sum
    assert "agrees" in reconciliation_text(report)

    # A balance row that drifted from its ledger (a bad hand edit) shows as a mismatch.
    await pool.execute("UPDATE packages SET unused_value_cents = 130000 WHERE package_id = 'p1'")
    drifted = await build_report(pool, week, now=AFTER)
    assert drifted.liability.balance_cents == 300_000
    assert drifted.liability.ledger_cents == 290_000
    assert drifted.liability.difference_cents == 10_000
    assert "MISMATCH: balances exceed the ledger by $100.00" in reconciliation_text(drifted)
    assert 'id="ledger-check"\n data-status="bad"' in reconciliation_html(drifted)


async def test_csv_reads_back_with_dollars_and_cents(pool: asyncpg.Pool, week: Period) -> None:
    await seed_week(pool)
    report = await build_report(pool, week, now=AFTER)

    rows = list(csv.DictReader(io.StringIO(reconciliation_csv(report))))
    assert list(rows[0]) == ["section", "measure", "count", "sessions", "amount", "detail"]
    cells = {(r["section"], r["measure"]): r for r in rows}
    sold = cells[("sold", "packages sold")]
    assert (sold["count"], sold["sessions"], sold["amount"]) == ("2", "6", "3300.00")
    assert cells[("consumed", "sessions consumed (net)")]["sessions"] == "2"
    assert cells[("expired", "expired with unused balance")]["amount"] == "600.00"
    assert cells[("unused by category", "laser")]["amount"] == "1200.00"
    assert cells[("unused by category", "injectables")]["detail"] == "credit remaining $1,250.00"
    assert cells[("liability", "total liability (open packages)")]["amount"] == "2900.00"
    assert cells[("liability", "recomputed from the ledger")]["amount"] == "2900.00"
    assert cells[("liability", "difference")]["detail"] == "agrees"
    assert cells[("overruns", "refused: ZeroBalance")]["count"] == "1"
    assert cells[("report", "period start")]["detail"] == "2026-03-02T00:00-05:00"
    assert cells[("report", "period end (exclusive)")]["detail"] == "2026-03-09T00:00-04:00"
    categories = [r["measure"] for r in rows if r["section"] == "unused by category"]
    amounts = [r["amount"] for r in rows if r["section"] == "unused by category"]
    assert sum(int(a.replace(".", "")) for a in amounts) == report.liability.balance_cents
    assert sorted(categories) == ["facial", "injectables", "laser", "uncategorised"]


async def test_html_is_self_contained_with_one_bar_per_category(
    pool: asyncpg.Pool, week: Period
) -> None:
    await seed_week(pool)
    report = await build_report(pool, week, now=AFTER)

    page = reconciliation_html(report, spa_name="Glow <Spa>", chart="bars")
    bars = re.findall(r'class="bar" data-category="([^"]+)" data-width="(\d+)"', page)
    assert [b[0] for b in bars] == ["injectables", "laser", "facial", "uncategorised"]
    widths = [int(b[1]) for b in bars]
    assert widths[0] == 100 and widths == sorted(widths, reverse=True) and widths[-1] == 4
    assert re.search(r'id="liability">\$3,200.00</div>', page)  # at the week's end
    assert "Glow &lt;Spa&gt;" in page  # text is escaped
    # What mail clients render: no scripts, no stylesheet, no SVG, nothing fetched.
    assert not re.search(r"<script|<link|<style|<svg|src=|https?://", page)

    # The email's page: its chart is the message's PNG part, nothing else is fetched.
    email = reconciliation_html(report, chart="cid")
    assert re.findall(r'src="([^"]+)"', email) == ["cid:reconciliation-chart@punchcard"]
    assert not re.search(r"<script|<link|<style|<svg|https?://(?!www\.w3)", email)
    # The web page: the same drawing as inline SVG, one label per category.
    web = reconciliation_html(report)
    [svg] = re.findall(r"<svg .*?</svg>", web, flags=re.DOTALL)
    assert 'id="chart"' in svg and 'width="100%"' in svg and "viewBox" in svg
    assert "<script" not in web and "src=" not in web


async def test_build_activity_stores_the_report_and_writes_files(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await seed_week(pool)
    reports = ReportActivities(
        pool=pool, mailer=None, manager_email=None, timezone=NY, reports_dir=tmp_path / "r"
    )
    ref = await ActivityEnvironment().run(
        reports.build_reconciliation, BuildReportInput(report_id="weekly-1", as_of=AFTER)
    )
    assert (ref.period_start, ref.period_end) == (WEEK_START, WEEK_END)
    assert (ref.liability_cents, ref.ledger_difference_cents) == (320_000, 0)  # at the end
    assert sorted(Path(f).name for f in ref.files) == [
        "reconciliation-2026-03-02-to-2026-03-08.csv",
        "reconciliation-2026-03-02-to-2026-03-08.html",
    ]
    stored = await ReportStore(pool).get("weekly-1")
    assert stored is not None and stored.kind == "reconciliation"
    assert Path(ref.files[0]).read_bytes().decode() == stored.csv  # noqa: ASYNC240
    assert 'id="liability">$3,200.00<' in (stored.html or "")

    # No mail server configured: recorded as such, not an error.
    result = await ActivityEnvironment().run(
        reports.email_report, EmailReportInput(report_id="weekly-1")
    )
    assert result.status == "not_configured"
    assert (await ReportStore(pool).get("weekly-1")).email_status == "not_configured"  # type: ignore[union-attr]


async def test_email_goes_to_the_manager_once_with_csv_and_html(
    pool: asyncpg.Pool, smtp: SmtpFake
) -> None:
    await seed_week(pool)
    mailer = SmtpMailer(host=smtp.host, port=smtp.port, starttls=False, sender="spa@example.com")
    reports = ReportActivities(
        pool=pool, mailer=mailer, manager_email="owner@example.com", timezone=NY
    )
    env = ActivityEnvironment()
    await env.run(reports.build_reconciliation, BuildReportInput(report_id="w", as_of=AFTER))

    assert (await env.run(reports.email_report, EmailReportInput(report_id="w"))).status == "sent"
    assert (await env.run(reports.email_report, EmailReportInput(report_id="w"))).status == (
        "already_sent"
    )
    [mail] = smtp.sent_to("owner@example.com")
    assert " ".join(str(mail["Subject"]).split()) == (
        "Punchcard: reconciliation 2026-03-02 to 2026-03-08, liability $3,200.00"
    )
    parts = {part.get_content_type(): part for part in mail.walk()}
    text = parts["text/plain"].get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "Package liability (deferred revenue): $3,200.00 (up $1,850.00" in text
    assert "Total package liability today (deferred revenue): $2,900.00" in text
    html_parts = [p for p in mail.walk() if p.get_content_type() == "text/html"]
    assert len(html_parts) == 2  # the body, and the page as a file
    # The body's chart is a PNG part beside it (multipart/related), named by its Content-ID;
    # the attached page keeps the SVG chart for a browser.
    [related] = [p for p in mail.walk() if p.get_content_type() == "multipart/related"]
    body, png = related.get_payload()  # type: ignore[misc]
    assert body.get_content_type() == "text/html" and png.get_content_type() == "image/png"
    cid = png["Content-ID"].strip("<>")
    body_html = body.get_payload(decode=True).decode()
    assert f'src="cid:{cid}"' in body_html and "<svg" not in body_html
    assert png.get_payload(decode=True).startswith(b"\x89PNG\r\n\x1a\n")
    assert "<svg" in html_parts[1].get_payload(decode=True).decode()
    attached = {
        p.get_filename(): p
        for p in mail.walk()
        if p.get_filename() and p.get_content_disposition() == "attachment"
    }
    assert set(attached) == {
        "reconciliation-2026-03-02-to-2026-03-08.csv",
        "reconciliation-2026-03-02-to-2026-03-08.html",
    }
    csv_text = attached["reconciliation-2026-03-02-to-2026-03-08.csv"].get_payload(decode=True)
    rows = list(csv.DictReader(io.StringIO(csv_text.decode())))  # type: ignore[union-attr]
    difference = next(r for r in rows if r["measure"] == "difference")
    assert (difference["amount"], difference["detail"]) == ("0.00", "agrees")


async def test_email_of_a_report_never_stored_fails_for_good(pool: asyncpg.Pool) -> None:
    reports = ReportActivities(pool=pool, mailer=None, manager_email=None, timezone=NY)
    with pytest.raises(Exception, match="not stored"):
        await ActivityEnvironment().run(reports.email_report, EmailReportInput(report_id="nope"))


def test_an_empty_spa_still_renders(week: Period) -> None:
    """Rendering needs no database: a report with nothing in it says so."""
    empty = ReconciliationReport(
        period=week,
        generated_at=datetime(2026, 3, 9, 12, tzinfo=UTC),
        sales=Sales(),
        consumption=Consumption(),
        expiries=Expiries(),
        cancellations=Cancellations(),
        open=OpenBalances(),
        categories=[],
        liability=Liability(open_packages=0, balance_cents=0, ledger_cents=0, difference_cents=0),
        review=ReviewBacklog(),
        overruns=Overruns(),
    )
    page = reconciliation_html(empty)
    assert "No open packages" in page and "<svg" not in page
    assert "$0.00" in reconciliation_text(empty)
