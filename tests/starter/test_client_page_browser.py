"""The client's own page in headless Chromium at a phone's viewport (390x844), with
JavaScript off: the link from her confirmation text, her numbers, no sideways scroll, her
SMS choice as a plain form post, and a revoked and an expired link showing nothing.

The stack is real (Temporal, PostgreSQL, a worker, the API under uvicorn); the text
arrives at the Twilio stand-in. The screenshot is saved for a person to look at.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import eventually
from tests.fakes.twilio import TwilioFake
from tests.starter.test_desk_browser import (  # noqa: F401 (fixtures)
    WAIT_MS,
    api_url,
    browser,
    chromium,
    redeem_earlier,
    seeded,
    wait_remaining,
)
from tests.workflows.conftest import ANA, Spa
from workers.settings import Settings

PUBLIC = "https://punchcard.example"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "client-page"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"api_public_url": PUBLIC})


async def _async(value: Any) -> Any:
    return value


async def no_sideways_scroll(page: Page) -> None:
    widths = await page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"scrolls sideways: {widths}"


@pytest.mark.timeout(240)
async def test_client_page_on_a_phone(
    seeded: Spa,  # noqa: F811
    settings: Settings,
    pool: asyncpg.Pool,
    api_url: str,  # noqa: F811
    browser: Browser,  # noqa: F811
    twilio: TwilioFake,
) -> None:
    spa = seeded
    today = datetime.now(ZoneInfo(settings.spa_timezone)).date()
    [laser] = await spa.sell("laser6", ANA.client_id)
    [credit] = await spa.sell("credit1500", ANA.client_id)
    await redeem_earlier(spa, laser, "ana-1", today - timedelta(days=9))
    await redeem_earlier(spa, laser, "ana-2", today - timedelta(days=2))
    await wait_remaining(spa, laser, 4)
    bodies = await eventually(
        lambda: _async(twilio.sent_to(ANA.phone or "")),
        lambda sent: sum(PUBLIC + "/me/" in b for b in sent) >= 2,
    )
    links = {m for b in bodies for m in re.findall(re.escape(PUBLIC) + r"/me/[\w-]+", b)}
    (link,) = links
    url = api_url + link.removeprefix(PUBLIC)

    context = await browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        java_script_enabled=False,
    )
    page = await context.new_page()
    response = await page.goto(url)
    assert response is not None and response.status == 200
    await expect(page.get_by_role("heading", level=1)).to_have_text("Hi Ana")
    assert await page.locator("html").get_attribute("lang") == "en"
    assert await page.get_by_role("main").count() == 1
    laser_card = page.get_by_role("region", name="Laser hair removal, 6 sessions")
    await expect(laser_card).to_contain_text("4 sessions left")
    await expect(laser_card).to_contain_text("of 6 sessions")
    await expect(laser_card).to_contain_text("Good through")
    credit_card = page.get_by_role("region", name="Injectables credit")
    await expect(credit_card).to_contain_text("$1,500.00 left")
    visits = page.locator("ul.visits li")
    await expect(visits).to_have_count(2)
    for back in (2, 9):
        day = today - timedelta(days=back)
        await expect(visits.filter(has_text=f"{day:%b} {day.day}, {day.year}")).to_have_count(1)
    await no_sideways_scroll(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "phone-390.png"), full_page=True)
    desktop = await browser.new_context(viewport={"width": 1280, "height": 800})
    wide = await desktop.new_page()
    await wide.goto(url)
    await expect(wide.get_by_role("region", name="Injectables credit")).to_contain_text(
        "$1,500.00 left"
    )
    await no_sideways_scroll(wide)
    await wide.screenshot(path=str(ARTIFACTS / "desktop-1280.png"), full_page=True)
    await desktop.close()

    # Stop texts: a form post, no script; then back in.
    await page.get_by_role("button", name="Stop texts").click()
    await expect(page.get_by_role("status")).to_contain_text("will not text you")
    assert await pool.fetchval("SELECT sms_opt_out FROM clients WHERE client_id = $1", "c-ana")
    await page.get_by_role("button", name="Send me texts again").click()
    await expect(page.get_by_role("status")).to_contain_text("text you again")
    assert not await pool.fetchval("SELECT sms_opt_out FROM clients WHERE client_id = $1", "c-ana")

    # Revoked: nothing of hers, a way forward.
    await pool.execute(
        "UPDATE client_page_links SET revoked_at = now() WHERE client_id = $1", "c-ana"
    )
    response = await page.goto(url)
    assert response is not None and response.status == 410
    await expect(page.get_by_role("heading", level=1)).to_have_text("This link was withdrawn")
    await expect(page.locator("body")).to_contain_text("new link")
    await expect(page.locator("body")).not_to_contain_text("Ana")
    await expect(page.locator("body")).not_to_contain_text("sessions left")
    await no_sideways_scroll(page)
    await page.screenshot(path=str(ARTIFACTS / "phone-390-revoked.png"), full_page=True)

    # Expired.
    await pool.execute(
        "UPDATE client_page_links SET revoked_at = NULL, expires_at = now() - interval '1 s' "
        "WHERE client_id = $1",
        "c-ana",
    )
    response = await page.goto(url)
    assert response is not None and response.status == 410
    await expect(page.get_by_role("heading", level=1)).to_have_text("This link has expired")
    await expect(page.locator("body")).not_to_contain_text("Ana")
    await context.close()
    assert credit  # sold, and shown above
