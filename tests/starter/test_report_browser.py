"""The reconciliation page in a real browser (Debian's chromium, driven by Playwright), at a
desktop and a phone size, for the known week of `tests.activities.report_data`: what a
manager reads first, and that it fits. Screenshots go to tests/artifacts/reports/.
"""

from __future__ import annotations

import base64
import re
from email.message import Message
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, Page, expect
from temporalio.testing import ActivityEnvironment

from activities.messaging.email import SmtpMailer
from activities.reports import ReportActivities
from activities.repository import Role, StaffMember, StaffRepository
from tests.activities.report_data import NY, ny, seed_week
from tests.fakes.smtp import SmtpFake
from tests.starter.test_desk_browser import (  # noqa: F401 (fixtures)
    WAIT_MS,
    api_url,
    browser,
    chromium,
)
from workflows.reconcile_models import BuildReportInput, EmailReportInput

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "reports"
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
WEEK = "from=2026-03-02&to=2026-03-08"
CUSTOM = "from=2026-03-01&to=2026-03-20"
AS_OF = re.compile(r"balances as of \w{3}, \w{3} \d{1,2}, \d{4}, \d{1,2}:\d\d [AP]M E[SD]T\.")


async def fits(page: Page, width: int) -> None:
    """No sideways scrolling, and no date or amount broken across lines."""
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll} px wide in a {width} px viewport"
    broken = await page.evaluate(
        """[...document.querySelectorAll('span[style*="nowrap"]')]
             .filter(s => s.getClientRects().length > 1).map(s => s.textContent)"""
    )
    assert broken == []


@pytest.mark.timeout(180)
async def test_reconciliation_page_headline_first_fits_a_phone(
    chromium: Path,  # noqa: F811
    pool: asyncpg.Pool,
    api_url: str,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    await seed_week(pool)
    token = await StaffRepository(pool).add(
        StaffMember(staff_id="mgr-mona", name="Mona Manager", role=Role.MANAGER)
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for size, (width, height) in VIEWPORTS.items():
        context = await browser.new_context(
            viewport={"width": width, "height": height},
            extra_http_headers={"Authorization": f"Bearer {token}"},
        )
        page = await context.new_page()
        try:
            await page.goto(f"{api_url}/api/reports/reconciliation?format=html&{WEEK}")
            period = page.locator("#period")
            await expect(period).to_have_text(
                "Week of Mon, Mar 2 – Sun, Mar 8, 2026", timeout=WAIT_MS
            )
            await expect(page.locator("#as-of")).to_contain_text("America/New_York")
            assert AS_OF.search(" ".join((await page.locator("#as-of").inner_text()).split()))

            # The headline, worked out by hand in tests/activities/report_data.py.
            figures = {
                key: await page.locator(f"#{key}").inner_text()
                for key in ("liability", "sold", "consumed", "breakage", "overruns")
            }
            assert figures == {
                "liability": "$3,200.00",  # at the week's end: Monday's visit is next week's
                "sold": "$3,500.00",  # $3,300.00 of packages and a $200.00 top-up
                "consumed": "$550.00",
                "breakage": "$600.00",
                "overruns": "1",
            }
            changes = {
                key: " ".join((await page.locator(f'[data-change="{key}"]').inner_text()).split())
                for key in figures
            }
            assert changes == {
                "liability": "up $1,850.00 since Mon, Mar 2, when it was $1,350.00",
                "sold": "up $3,500.00 from $0.00 the previous week",
                "consumed": "up $550.00 from $0.00 the previous week",
                "breakage": "up $600.00 from $0.00 the previous week",
                "overruns": "up 1 from 0 the previous week",
            }
            await expect(page.locator('[data-headline="consumed"]')).to_contain_text(
                "2 sessions, $250.00 of credit"
            )

            # Headline first, then the chart, then the details.
            overruns_box = await page.locator("#overruns").bounding_box()
            chart_box = await page.locator("svg#chart").bounding_box()
            details_box = await page.get_by_test_id("details-sold").bounding_box()
            assert overruns_box and chart_box and details_box
            assert overruns_box["y"] < chart_box["y"] < details_box["y"]
            # The web page's chart is matplotlib's SVG, inline, sized to the column.
            assert 300 < chart_box["width"] <= min(width, 640) and chart_box["height"] > 100
            await expect(page.locator("svg#chart")).to_have_attribute(
                "aria-label", "Unused value of open packages by category"
            )

            # The dollar package is in dollars, never "0 sessions".
            injectables = page.get_by_test_id("categories").locator("tr", has_text="injectables")
            await expect(injectables).to_contain_text("$1,250.00 credit")
            await expect(injectables).not_to_contain_text("session")
            await expect(page.locator("body")).not_to_contain_text("Section")
            await expect(page.get_by_test_id("details-overruns")).to_contain_text(
                "refused: zero balance"
            )
            await expect(page.get_by_test_id("details-review")).to_contain_text(
                "open: refused, zero balance"
            )
            await fits(page, width)
            await page.screenshot(path=str(ARTIFACTS / f"week-{size}.png"), full_page=True)

            # Any other range is not a week, and its comparison is the same number of days.
            await page.goto(f"{api_url}/api/reports/reconciliation?format=html&{CUSTOM}")
            await expect(period).to_have_text("Sun, Mar 1 – Fri, Mar 20, 2026", timeout=WAIT_MS)
            assert "week" not in (await page.locator("body").inner_text()).lower()
            await expect(page.locator('[data-change="sold"]')).to_contain_text(
                "the previous 20 days"
            )
            await fits(page, width)
            await page.screenshot(path=str(ARTIFACTS / f"custom-{size}.png"), full_page=True)
        finally:
            await context.close()


@pytest.mark.timeout(180)
async def test_a_manager_opens_last_weeks_report_from_the_desk_on_a_phone(
    chromium: Path,  # noqa: F811
    pool: asyncpg.Pool,
    api_url: str,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    """The report API wants a token in a header, which a browser tab cannot send: the desk
    opens last week's page for a manager (front desk has no such link), and it fits."""
    staff = StaffRepository(pool)
    manager = await staff.add(StaffMember(staff_id="mgr-max", name="Max", role=Role.MANAGER))
    desk = await staff.add(StaffMember(staff_id="desk-di", name="Di", role=Role.FRONT_DESK))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    try:
        await page.goto(f"{api_url}/desk")
        await page.get_by_test_id("token-input").fill(desk)
        await page.get_by_test_id("signin-button").click()
        await expect(page.get_by_test_id("whoami-name")).to_contain_text("Di")
        await expect(page.get_by_test_id("report-link")).to_be_hidden()
        await page.get_by_test_id("signout").click()
        await page.get_by_test_id("token-input").fill(manager)
        await page.get_by_test_id("signin-button").click()
        await expect(page.get_by_test_id("whoami-name")).to_contain_text("Max")
        async with context.expect_page(timeout=WAIT_MS) as opened:
            await page.get_by_test_id("report-link").click()
        report = await opened.value
        await expect(report.locator("#period")).to_contain_text("Week of", timeout=WAIT_MS)
        await expect(report.locator("#liability")).to_be_visible()
        # A spa with nothing open yet: said in words, no table of headers over no rows.
        await expect(report.get_by_text("No open packages: nothing unused.")).to_be_visible()
        await expect(report.get_by_test_id("categories")).to_have_count(0)
        await expect(page.get_by_test_id("status")).to_have_text(
            "Last week's reconciliation report opens in a new tab."
        )
        # Its own page: the token is not in its address, and front desk is refused it.
        assert report.url == f"{api_url}/reports/reconciliation"
        refused = await page.request.post(f"{api_url}/reports/reconciliation", form={"token": desk})
        assert refused.status == 403
        assert "Only a manager" in await refused.text()
        await fits(report, 390)
        await fits(page, 390)
        await report.screenshot(path=str(ARTIFACTS / "from-desk-phone.png"), full_page=True)
        await page.screenshot(path=str(ARTIFACTS / "desk-manager-phone.png"))
    finally:
        await context.close()


def as_a_mail_client_shows_it(mail: Message) -> str:
    """The HTML body with each `cid:` link replaced by its part's bytes, as a webmail
    client does (it serves the part under its own address); a link to a part the message
    lacks stays as it is, and the browser shows a broken image."""
    html_part = next(p for p in mail.walk() if p.get_content_type() == "text/html")
    html = html_part.get_payload(decode=True).decode()  # type: ignore[union-attr]
    for part in mail.walk():
        cid = (part["Content-ID"] or "").strip("<>")
        if cid:
            data = base64.b64encode(part.get_payload(decode=True)).decode()  # type: ignore[arg-type]
            html = html.replace(f"cid:{cid}", f"data:{part.get_content_type()};base64,{data}")
    return html


@pytest.mark.timeout(180)
async def test_the_emailed_report_shows_its_chart_as_an_image(
    chromium: Path,  # noqa: F811
    pool: asyncpg.Pool,
    smtp: SmtpFake,
    browser: Browser,  # noqa: F811
) -> None:
    """The Monday email as a mail client renders it: the chart is the message's PNG part
    (Gmail and Outlook drop inline SVG), loaded and drawn at the column's width."""
    await seed_week(pool)
    mailer = SmtpMailer(host=smtp.host, port=smtp.port, starttls=False, sender="spa@example.com")
    reports = ReportActivities(
        pool=pool, mailer=mailer, manager_email="owner@example.com", timezone=NY
    )
    env = ActivityEnvironment()
    await env.run(
        reports.build_reconciliation, BuildReportInput(report_id="w", as_of=ny(2026, 3, 11, 9))
    )
    await env.run(reports.email_report, EmailReportInput(report_id="w"))
    [mail] = smtp.sent_to("owner@example.com")
    html = as_a_mail_client_shows_it(mail)
    assert "cid:" not in html  # every image the body names is in the message

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for size, (width, height) in VIEWPORTS.items():
        context = await browser.new_context(viewport={"width": width, "height": height})
        page = await context.new_page()
        try:
            await page.set_content(html, wait_until="load")
            chart = page.locator("img#chart")
            await expect(chart).to_be_visible(timeout=WAIT_MS)
            natural = await chart.evaluate("i => [i.complete, i.naturalWidth, i.naturalHeight]")
            assert natural[0] is True and natural[1] == 1280 and natural[2] > 200
            box = await chart.bounding_box()
            assert box and 300 < box["width"] <= min(width, 640) and box["height"] > 100
            await fits(page, width)
            await page.screenshot(path=str(ARTIFACTS / f"email-{size}.png"), full_page=True)
        finally:
            await context.close()

    # Without its PNG part the same body shows a broken image: the check above can fail.
    broken = await browser.new_page()
    try:
        html_part = next(p for p in mail.walk() if p.get_content_type() == "text/html")
        await broken.set_content(
            html_part.get_payload(decode=True).decode(),  # type: ignore[union-attr]
            wait_until="load",
        )
        assert await broken.locator("img#chart").evaluate("i => i.naturalWidth") == 0
    finally:
        await broken.close()
