"""The front-desk page in a real browser: Debian's chromium, driven by Playwright.

The whole stack is real — Temporal dev server, PostgreSQL, a worker, the API served by
uvicorn on a free port — and the page is used the way the desk uses it: sign in with a
staff token, find the client by phone and by name, complete a visit and watch the count
drop, double-click without counting twice, reverse a visit with a reason, and stop at a
zero balance. Skipped only when chromium is missing outside CI (`make browser` installs
it); under CI a missing browser fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    Route,
    async_playwright,
    expect,
)
from temporalio.client import Client

from activities.repository import (
    ClientRepository,
    LedgerReader,
    PackageTypeRepository,
    Role,
    StaffMember,
    StaffRepository,
)
from starter.api.app import create_app
from starter.api.routes import desk
from starter.packages import PackageService
from tests.conftest import eventually
from tests.workflows.conftest import ANA, BEN, CARA, TYPES, Spa
from workers.settings import Settings
from workflows.models import FreezeRequest, RedeemRequest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "desk"


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"Debian's chromium is not installed at {CHROMIUM} (`make browser` installs it)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; under CI the desk browser test must run, not skip")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
async def seeded(pool: asyncpg.Pool, client: Client, settings: Settings, worker: object) -> Spa:
    clients, types = ClientRepository(pool), PackageTypeRepository(pool)
    for record in (ANA, BEN, CARA):
        await clients.upsert(record)
    for package_type in TYPES:
        await types.upsert(package_type)
    return Spa(
        service=PackageService(client=client, pool=pool, settings=settings),
        pool=pool,
        ledger=LedgerReader(pool),
    )


class _Server(uvicorn.Server):
    """Leaves the test process's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@pytest.fixture
async def api_url(settings: Settings, client: Client, pool: asyncpg.Pool) -> AsyncIterator[str]:
    async with serving(create_app(settings, client=client, pool=pool)) as url:
        yield url


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """The app under uvicorn on a free port, for as long as the block runs."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", ws="none", http="h11", access_log=False
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while not server.started:
            if task.done():
                task.result()
                raise AssertionError("the API stopped before it started")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the API did not start within 20s")
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


async def redeem_earlier(spa: Spa, package_id: str, key: str, day: date) -> None:
    """A visit completed on an earlier day, as a booking platform would report it: not
    today (in the spa's zone), so the desk's completion today is not a second visit."""
    await spa.service.send(
        package_id,
        RedeemRequest(
            key=key,
            appointment_id=f"appt-{key}",
            service_date=day,
            actor="seed",
        ),
    )


async def wait_remaining(spa: Spa, package_id: str, remaining: int) -> None:
    async def balance() -> int | None:
        row = await spa.ledger.balance(package_id)
        return None if row is None else row.remaining

    await eventually(balance, lambda found: found == remaining)


def card(page: Page, package_id: str) -> Locator:
    return page.locator(f'[data-testid="package-card"][data-package-id="{package_id}"]')


async def find(page: Page, text: str, client_name: str) -> None:
    await page.get_by_test_id("search-input").fill(text)
    await page.get_by_test_id("search-button").click()
    await expect(page.get_by_test_id("client-name")).to_have_text(client_name, timeout=WAIT_MS)


@pytest.mark.timeout(240)
async def test_front_desk_completes_reverses_and_stops_at_zero(
    chromium: Path,
    seeded: Spa,
    settings: Settings,
    pool: asyncpg.Pool,
    api_url: str,
    browser: Browser,
) -> None:
    spa = seeded
    today = datetime.now(ZoneInfo(settings.spa_timezone)).date()
    [laser] = await spa.sell("laser6", ANA.client_id)
    [credit] = await spa.sell("credit1500", ANA.client_id)
    [empty] = await spa.sell("duo2", BEN.client_id)
    await redeem_earlier(spa, empty, "ben-1", today - timedelta(days=4))
    await redeem_earlier(spa, empty, "ben-2", today - timedelta(days=3))
    [soon] = await spa.sell("paced6", BEN.client_id, expires_in=timedelta(days=20))
    [last_one] = await spa.sell("duo2", CARA.client_id)
    await redeem_earlier(spa, last_one, "cara-1", today - timedelta(days=4))
    await wait_remaining(spa, empty, 0)
    await wait_remaining(spa, last_one, 1)
    token = await StaffRepository(pool).add(
        StaffMember(staff_id="desk-dana", name="Dana Desk", role=Role.FRONT_DESK)
    )
    ledger = LedgerReader(pool)

    async def redemptions() -> int:
        return await ledger.count_entries(laser, "redemption")

    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Every completion the page sends, and those answered: a fact to wait on, not a sleep.
    completions_sent: list[str] = []
    completions_answered: list[str] = []

    def is_completion(url: str, method: str) -> bool:
        return method == "POST" and url.endswith("/complete")

    page.on(
        "request",
        lambda r: completions_sent.append(r.url) if is_completion(r.url, r.method) else None,
    )
    page.on(
        "requestfinished",
        lambda r: completions_answered.append(r.url) if is_completion(r.url, r.method) else None,
    )

    def on_console(message: ConsoleMessage) -> None:
        # Refusals (401, 409) are answers the page shows in words; anything else is a bug.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda err: problems.append(str(err)))
    status = page.get_by_test_id("status")
    try:
        await page.goto(f"{api_url}/desk")

        # A wrong token is refused in words; the right one signs in.
        await page.get_by_test_id("token-input").fill("pc_not-a-real-token")
        await page.get_by_test_id("signin-button").click()
        await expect(status).to_contain_text("unknown or revoked staff token", timeout=WAIT_MS)
        await page.get_by_test_id("token-input").fill(token)
        await page.get_by_test_id("signin-button").click()
        await expect(page.get_by_test_id("whoami-name")).to_contain_text("Dana Desk")

        # Find Ana by her phone as a person types it, then by name.
        await find(page, "(555) 555-0101", "Ana Test")
        await find(page, "ana", "Ana Test")
        ana = card(page, laser)
        remaining = ana.get_by_test_id("remaining")
        # Whose package it is stays on the card, next to its actions.
        await expect(ana.get_by_test_id("card-client")).to_have_text("Ana Test · +1 555-555-0101")

        # A search with no match empties the panel: no card, no Complete of the last client.
        await page.get_by_test_id("search-input").fill("nobody-by-this-name")
        await page.get_by_test_id("search-button").click()
        await expect(page.get_by_test_id("no-results")).to_be_visible(timeout=WAIT_MS)
        await expect(page.get_by_test_id("client-view")).to_be_hidden()
        await expect(page.get_by_test_id("package-card")).to_have_count(0)
        await expect(page.get_by_test_id("complete")).to_have_count(0)
        await page.screenshot(path=str(ARTIFACTS / "failed-search-1280.png"), full_page=True)

        # Client A, then client B: nothing of A remains under B's name.
        await find(page, "ana", "Ana Test")
        await expect(ana).to_have_count(1)
        await find(page, "Ben", "Ben Test")
        await expect(
            page.locator('[data-testid="package-card"][data-client-id="c-ana"]')
        ).to_have_count(0)
        await expect(ana).to_have_count(0)
        await find(page, "ana", "Ana Test")
        await expect(remaining).to_have_text("6 sessions left")
        await expect(ana.get_by_test_id("expiry")).to_contain_text("Good through")

        # Complete asks first, naming whose visit it is; "Cancel" records nothing.
        complete = ana.get_by_test_id("complete")
        question = ana.get_by_test_id("ask")
        await complete.click()
        await expect(question).to_be_visible()
        await expect(question.get_by_test_id("ask-text")).to_have_text(
            "Complete a visit for Ana Test (+1 555-555-0101) on Laser hair removal, 6 sessions?"
        )
        await question.get_by_test_id("ask-no").click()
        await expect(question).to_be_hidden()
        await expect(remaining).to_have_text("6 sessions left")
        assert completions_sent == []
        # Yes: the count drops, the desk says it in staff words with the client's name.
        await complete.click()
        await question.get_by_test_id("ask-yes").click()
        await expect(remaining).to_have_text("5 sessions left", timeout=WAIT_MS)
        await expect(status).to_have_text(
            "Ana Test: session recorded on Laser hair removal, 6 sessions, 5 sessions left"
        )
        await expect(question).to_be_hidden()
        await expect(complete).to_be_enabled()
        assert await eventually(redemptions, lambda n: n == 1) == 1

        # Double-clicks: one request each, and the package asks before a second visit today;
        # while it asks, Complete and No-show cannot be pressed.
        await complete.dblclick()
        await question.get_by_test_id("ask-yes").dblclick()
        same_day = ana.get_by_test_id("same-day")
        await expect(same_day).to_be_visible(timeout=WAIT_MS)
        await expect(status).to_contain_text("already had a visit completed today")
        await expect(status).to_contain_text("Ana Test's Laser hair removal")
        await expect(complete).to_be_disabled()
        await expect(ana.get_by_test_id("no-show")).to_be_disabled()
        await expect(remaining).to_have_text("5 sessions left")
        await same_day.get_by_test_id("same-day-confirm").dblclick()
        await expect(remaining).to_have_text("4 sessions left", timeout=WAIT_MS)
        await expect(status).to_have_text(
            "Ana Test: session recorded on Laser hair removal, 6 sessions, 4 sessions left"
        )
        await expect(same_day).to_be_hidden()
        await expect(complete).to_be_enabled()
        # Both double-clicks sent one request each, and every request sent was answered.
        await expect(ana).to_have_attribute("aria-busy", "false")
        assert await eventually(
            lambda: asyncio.sleep(0, len(completions_answered)),
            lambda n: n == len(completions_sent),
        ) == len(completions_sent)
        assert len(completions_sent) == 3, completions_sent  # yes, yes, "second visit"
        assert await eventually(redemptions, lambda n: n >= 2) == 2
        await expect(remaining).to_have_text("4 sessions left")

        # History: reverse the latest visit, with a reason, and the session comes back.
        await ana.get_by_test_id("history").click()
        panel = ana.get_by_test_id("history-panel")
        visits = panel.locator('[data-testid="history-line"][data-kind="redemption"]')
        await expect(visits).to_have_count(2, timeout=WAIT_MS)
        await expect(panel.get_by_test_id("reverse")).to_have_count(2)
        await visits.first.get_by_test_id("reverse").click()
        form = panel.get_by_test_id("reverse-form")
        await form.get_by_test_id("reverse-confirm").click()
        await expect(status).to_contain_text("Give a reason for the reversal")
        await form.get_by_test_id("reverse-reason").fill("completed twice by mistake")
        await form.get_by_test_id("reverse-confirm").dblclick()
        await expect(remaining).to_have_text("5 sessions left", timeout=WAIT_MS)
        await expect(status).to_have_text(
            "Session returned to Ana Test's Laser hair removal, 6 sessions, 5 sessions left"
        )
        reversal = panel.locator('[data-testid="history-line"][data-kind="reversal"]')
        await expect(reversal).to_have_count(1, timeout=WAIT_MS)
        await expect(reversal).to_contain_text("completed twice by mistake")
        await expect(panel.get_by_test_id("reverse")).to_have_count(1)
        assert await ledger.count_entries(laser, "reversal") == 1
        assert await redemptions() == 2
        await page.screenshot(path=str(ARTIFACTS / "history-1280.png"), full_page=True)

        # Zero balance: a red stop, and Complete cannot be pressed.
        await find(page, "Ben", "Ben Test")
        ben = card(page, empty)
        await expect(ben.get_by_test_id("remaining")).to_have_text("0 sessions left")
        await expect(ben.get_by_test_id("collect-payment")).to_be_visible()
        await expect(ben.get_by_test_id("collect-payment")).to_contain_text("Collect payment")
        await expect(ben.get_by_test_id("complete")).to_be_disabled()
        # ...and the ways to collect: a renewal link to pay on the phone (the spa's renewal
        # page here, Stripe is not configured), or sell the package again.
        collect = ben.get_by_test_id("collect-actions")
        await expect(collect).to_be_visible()
        await expect(collect.get_by_test_id("top-up")).to_be_hidden()  # sessions, front desk
        await collect.get_by_test_id("renewal-link").click()
        link_url = collect.get_by_test_id("renewal-link-url")
        await expect(link_url).to_have_text(f"https://spa.example/renew/{empty}", timeout=WAIT_MS)
        await expect(collect.get_by_test_id("open-link")).to_have_attribute(
            "href", f"https://spa.example/renew/{empty}"
        )
        await expect(collect.get_by_test_id("renewal-link-for")).to_contain_text(
            "Renewal of Facial duo for Ben Test: $300.00"
        )
        await expect(status).to_contain_text("Renewal link for Ben Test's Facial duo")
        await collect.get_by_test_id("copy-link").click()
        await expect(status).to_have_text("Renewal link for Ben Test copied.")
        # Ben's other package is fine to use, with its warnings as badges.
        hurry = card(page, soon)
        await expect(hurry.get_by_test_id("remaining")).to_have_text("6 sessions left")
        await expect(hurry.get_by_test_id("collect-payment")).to_be_hidden()
        await expect(hurry.get_by_test_id("complete")).to_be_enabled()
        badges = hurry.get_by_test_id("warning")
        await expect(badges.and_(page.locator('[data-code="expiring_soon"]'))).to_contain_text(
            "Expires in"
        )
        await expect(badges.and_(page.locator('[data-code="pace"]'))).to_contain_text("Pace alert")
        await page.screenshot(path=str(ARTIFACTS / "warnings-1280.png"), full_page=True)

        # Sell the same package again: asked first, then a new card with its sessions.
        await collect.get_by_test_id("sell").click()
        await expect(ben.get_by_test_id("ask-text")).to_have_text(
            "Sell a new Facial duo to Ben Test (+1 555-555-0102)? Take the payment first."
        )
        await ben.get_by_test_id("ask-yes").click()
        await expect(status).to_have_text(
            "Ben Test: new Facial duo sold, 2 sessions left.", timeout=WAIT_MS
        )
        fresh = page.locator(
            '[data-testid="package-card"][data-client-id="c-ben"][data-remaining="2"]'
        )
        await expect(fresh).to_have_count(1)
        await expect(fresh.get_by_test_id("package-name")).to_have_text("Facial duo")
        assert len(await LedgerReader(pool).balances_for_client(BEN.client_id)) == 3

        # Another desk takes Cara's last session while her card is open: the refusal is
        # said in words and the card turns into the stop.
        await find(page, "5555550103", "Cara Test")
        cara = card(page, last_one)
        await expect(cara.get_by_test_id("remaining")).to_have_text("1 session left")
        await expect(cara.get_by_test_id("collect-payment")).to_be_hidden()
        await redeem_earlier(spa, last_one, "cara-2", today - timedelta(days=2))
        await cara.get_by_test_id("complete").click()
        await cara.get_by_test_id("ask-yes").click()
        await expect(status).to_contain_text("refused (ZeroBalance)", timeout=WAIT_MS)
        await expect(status).to_contain_text("collect payment")
        await expect(cara.get_by_test_id("collect-payment")).to_be_visible(timeout=WAIT_MS)
        await expect(cara.get_by_test_id("complete")).to_be_disabled()
        assert await ledger.count_entries(last_one, "redemption") == 2
        await page.screenshot(path=str(ARTIFACTS / "zero-balance-1280.png"), full_page=True)

        # Back at Ana: a dollar package takes an amount; a no-show is recorded, not counted.
        await find(page, "Ana", "Ana Test")
        await expect(remaining).to_have_text("5 sessions left")
        wallet = card(page, credit)
        await expect(wallet.get_by_test_id("remaining")).to_have_text("$1,500.00 left of $1,500.00")
        await wallet.get_by_test_id("complete").click()
        await expect(status).to_contain_text("Enter the amount")
        await wallet.get_by_test_id("amount-input").fill("120")
        await wallet.get_by_test_id("complete").click()
        await expect(wallet.get_by_test_id("ask-text")).to_have_text(
            "Complete a visit for Ana Test (+1 555-555-0101) on Injectables credit, $120.00?"
        )
        await wallet.get_by_test_id("ask-yes").click()
        await expect(wallet.get_by_test_id("remaining")).to_have_text(
            "$1,380.00 left of $1,500.00", timeout=WAIT_MS
        )
        await expect(status).to_have_text(
            "Ana Test: $120.00 recorded on Injectables credit, $1,380.00 left of $1,500.00"
        )
        # No-show asks first; nothing is recorded until staff say yes.
        await ana.get_by_test_id("no-show").click()
        await expect(ana.get_by_test_id("ask-text")).to_contain_text(
            "Record a no-show for Ana Test (+1 555-555-0101) on Laser hair removal, 6 sessions?"
        )
        assert await ledger.count_entries(laser, "no_show") == 0
        await ana.get_by_test_id("ask-yes").click()
        await expect(status).to_have_text(
            "Ana Test: no-show recorded on Laser hair removal, 6 sessions, no session taken"
            " — 5 sessions left",
            timeout=WAIT_MS,
        )
        assert await eventually(lambda: ledger.count_entries(laser, "no_show"), bool) == 1
        await expect(remaining).to_have_text("5 sessions left")
        assert problems == []
    finally:
        await page.screenshot(path=str(ARTIFACTS / "last-1280.png"), full_page=True)
        await page.close()


async def redeem_amount_earlier(spa: Spa, package_id: str, key: str, day: date, cents: int) -> None:
    await spa.service.send(
        package_id,
        RedeemRequest(
            key=key,
            appointment_id=f"appt-{key}",
            service_date=day,
            amount_cents=cents,
            actor="seed",
        ),
    )


SIZES = {"desktop": (1280, 900), "phone": (390, 844), "tablet": (820, 1180)}


@pytest.mark.timeout(240)
async def test_desk_fits_phone_and_tablet_with_history_shared_and_collect_actions(
    chromium: Path,
    seeded: Spa,
    settings: Settings,
    pool: asyncpg.Pool,
    api_url: str,
    browser: Browser,
) -> None:
    """At 390×844 and 820×1180 nothing scrolls sideways, with everything a busy card shows:
    history open, a shared package, warnings, the zero-balance actions and a renewal link.
    A manager also tops up a dollar package at zero. Screenshots go to tests/artifacts."""
    spa = seeded
    zone = ZoneInfo(settings.spa_timezone)
    today = datetime.now(zone).date()
    month_ago, yesterday = today - timedelta(days=31), today - timedelta(days=1)
    [laser] = await spa.sell("laser6", ANA.client_id)
    await redeem_earlier(spa, laser, "ana-old", month_ago)
    await redeem_earlier(spa, laser, "ana-new", yesterday)
    [shared, _bens] = await spa.sell("couples4", ANA.client_id, shared_with=[BEN.client_id])
    [paced] = await spa.sell("paced6", ANA.client_id, expires_in=timedelta(days=20))
    [credit] = await spa.sell("credit1500", ANA.client_id)
    await redeem_amount_earlier(spa, credit, "ana-credit", yesterday, 150_000)
    await wait_remaining(spa, laser, 4)
    await wait_remaining(spa, credit, 0)
    await eventually(lambda: spa.ledger.balance(_bens), lambda r: r is not None)
    token = await StaffRepository(pool).add(
        StaffMember(staff_id="mgr-mia", name="Mia Manager", role=Role.MANAGER)
    )
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(str(err)))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    status = page.get_by_test_id("status")
    try:
        await page.goto(f"{api_url}/desk")
        await page.get_by_test_id("token-input").fill(token)
        await page.get_by_test_id("signin-button").click()
        await expect(page.get_by_test_id("whoami-name")).to_contain_text("Mia Manager")
        await find(page, "Ana", "Ana Test")

        # The shared package says who shares it; the paced one carries its warnings.
        await expect(card(page, shared).get_by_test_id("shared-with")).to_have_text(
            "Shared with Ben Test"
        )
        await expect(card(page, laser).get_by_test_id("shared-with")).to_be_hidden()
        await expect(card(page, paced).get_by_test_id("warning")).to_have_count(2)

        # History: the visits read as the days they happened (a month apart), not today.
        ana = card(page, laser)
        await ana.get_by_test_id("history").click()
        visits = ana.locator('[data-testid="history-line"][data-kind="redemption"]')
        await expect(visits).to_have_count(2, timeout=WAIT_MS)

        def shown(day: date) -> str:
            text = f"{day:%a}, {day:%b} {day.day}"
            return text if day.year == datetime.now().year else f"{text}, {day.year}"

        days = visits.get_by_test_id("history-day")
        await expect(days).to_have_text([shown(yesterday), shown(month_ago)])
        abbreviation = datetime.now(zone).tzname() or ""
        recorded = visits.first.get_by_test_id("history-recorded")
        await expect(recorded).to_contain_text(f"recorded {today:%b} {today.day}, {today.year}")
        await expect(recorded).to_contain_text(abbreviation)

        # The dollar package at zero: a manager may top it up (and still send a link).
        wallet = card(page, credit)
        collect = wallet.get_by_test_id("collect-actions")
        await expect(collect).to_be_visible()
        await collect.get_by_test_id("renewal-link").click()
        await expect(collect.get_by_test_id("renewal-link-url")).to_have_text(
            f"https://spa.example/renew/{credit}", timeout=WAIT_MS
        )

        for name, (width, height) in SIZES.items():
            await page.set_viewport_size({"width": width, "height": height})
            await expect(collect.get_by_test_id("renewal-link-box")).to_be_visible()
            await expect(ana.get_by_test_id("history-panel")).to_be_visible()
            wide = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert wide[0] <= wide[1], f"{name}: the page is {wide[0]}px wide in {wide[1]}px"
            await page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)

        await page.set_viewport_size({"width": 1280, "height": 900})
        await collect.get_by_test_id("top-up").click()
        await wallet.get_by_test_id("top-up-amount").fill("200")
        await wallet.get_by_test_id("top-up-paid").fill("180")
        await wallet.get_by_test_id("top-up-confirm").click()
        await expect(wallet.get_by_test_id("remaining")).to_have_text(
            "$200.00 left of $1,700.00", timeout=WAIT_MS
        )
        await expect(status).to_have_text(
            "Ana Test: $200.00 added to Injectables credit, $200.00 left of $1,700.00"
        )
        await expect(collect).to_be_hidden()
        assert await eventually(lambda: spa.ledger.count_entries(credit, "top_up"), bool) == 1
        assert problems == []
    finally:
        await page.close()


class Held:
    """Requests of the page held back until released: a search or an action answered late.

    `hold(part)` holds the next request whose URL contains `part`; `seen(part)` waits until
    the page has sent it; `release(page, part)` lets it through and returns once its answer
    is in the page and the page's script has run on it (see `settled`).
    """

    def __init__(self) -> None:
        self._release: dict[str, asyncio.Event] = {}
        self._seen: dict[str, asyncio.Event] = {}

    def hold(self, part: str) -> None:
        self._release[part] = asyncio.Event()
        self._seen[part] = asyncio.Event()

    async def route(self, route: Route) -> None:
        for part, release in list(self._release.items()):
            if part in route.request.url and not self._seen[part].is_set():
                self._seen[part].set()
                await release.wait()
                break
        await route.continue_()

    async def seen(self, part: str) -> None:
        await asyncio.wait_for(self._seen[part].wait(), WAIT_MS / 1000)

    async def release(self, page: Page, part: str) -> None:
        async with page.expect_request_finished(lambda r: part in r.url, timeout=WAIT_MS):
            self._release.pop(part).set()
        await settled(page)


async def settled(page: Page) -> None:
    """The page's queued tasks have run: an answer already received has been acted on (its
    body was read before this round trip was asked for), so what it did, or did not do, shows."""
    await page.evaluate("() => new Promise((r) => setTimeout(() => setTimeout(r)))")


@pytest.mark.timeout(240)
async def test_no_answer_lands_under_another_client(
    chromium: Path,
    seeded: Spa,
    settings: Settings,
    pool: asyncpg.Pool,
    api_url: str,
    browser: Browser,
) -> None:
    """Whatever answers late — a search, the client chosen first, a completion — nothing of
    one client shows under another, and a completion is told with the name of its client.
    Signing out leaves nothing of the last client for the next person at the desk."""
    spa = seeded
    [laser] = await spa.sell("laser6", ANA.client_id)
    [duo] = await spa.sell("duo2", BEN.client_id)
    [cara_laser] = await spa.sell("laser6", CARA.client_id)
    await eventually(lambda: spa.ledger.balance(cara_laser), lambda r: r is not None)
    staff = StaffRepository(pool)
    token = await staff.add(
        StaffMember(staff_id="desk-dora", name="Dora Desk", role=Role.FRONT_DESK)
    )
    other = await staff.add(
        StaffMember(staff_id="desk-eli", name="Eli Evening", role=Role.FRONT_DESK)
    )
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    held = Held()
    await page.route("**/api/**", held.route)
    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(str(err)))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    status = page.get_by_test_id("status")
    name = page.get_by_test_id("client-name")
    ana_cards = page.locator('[data-testid="package-card"][data-client-id="c-ana"]')
    try:
        await page.goto(f"{api_url}/desk")
        await page.get_by_test_id("token-input").fill(token)
        await page.get_by_test_id("signin-button").click()
        await expect(page.get_by_test_id("whoami-name")).to_contain_text("Dora Desk")

        # A search answered after the next one: its client never shows.
        held.hold("/api/clients?q=ana")
        await page.get_by_test_id("search-input").fill("ana")
        await page.get_by_test_id("search-button").click()
        await held.seen("/api/clients?q=ana")
        await find(page, "Ben", "Ben Test")
        await held.release(page, "/api/clients?q=ana")
        await expect(name).to_have_text("Ben Test")
        await expect(ana_cards).to_have_count(0)

        # Two clients found; the first one chosen answers after the second: the second stays.
        await page.get_by_test_id("search-input").fill("test")
        await page.get_by_test_id("search-button").click()
        await expect(page.get_by_test_id("result")).to_have_count(3, timeout=WAIT_MS)
        held.hold("/api/clients/c-ana")
        await page.locator('[data-testid="result"][data-client-id="c-ana"]').click()
        await held.seen("/api/clients/c-ana")
        await page.locator('[data-testid="result"][data-client-id="c-cara"]').click()
        await expect(name).to_have_text("Cara Test", timeout=WAIT_MS)
        await held.release(page, "/api/clients/c-ana")
        await expect(name).to_have_text("Cara Test")
        await expect(ana_cards).to_have_count(0)
        await expect(card(page, cara_laser)).to_have_count(1)
        await expect(page.locator("[data-testid=result].chosen")).to_have_attribute(
            "data-client-id", "c-cara"
        )

        # Ana's completion answers while Ben is on screen: it is told as Ana's, Ben's card
        # is left as it was, and no card of Ana's comes back.
        await find(page, "ana", "Ana Test")
        held.hold(f"/api/packages/{laser}/complete")
        await card(page, laser).get_by_test_id("complete").click()
        await card(page, laser).get_by_test_id("ask-yes").click()
        await held.seen(f"/api/packages/{laser}/complete")
        await find(page, "Ben", "Ben Test")
        await held.release(page, f"/api/packages/{laser}/complete")
        await expect(status).to_have_text(
            "Ana Test: session recorded on Laser hair removal, 6 sessions, 5 sessions left",
            timeout=WAIT_MS,
        )
        await expect(name).to_have_text("Ben Test")
        await expect(ana_cards).to_have_count(0)
        await expect(card(page, duo).get_by_test_id("remaining")).to_have_text("2 sessions left")
        await expect(card(page, duo)).to_have_attribute("aria-busy", "false")
        assert await spa.ledger.count_entries(duo, "redemption") == 0
        await page.screenshot(path=str(ARTIFACTS / "late-answer-1280.png"), full_page=True)

        # Signing out and in again (another person at the desk): no client left on screen.
        await find(page, "ana", "Ana Test")
        await page.get_by_test_id("signout").click()
        await page.get_by_test_id("token-input").fill(other)
        await page.get_by_test_id("signin-button").click()
        await expect(page.get_by_test_id("whoami-name")).to_contain_text("Eli Evening")
        await expect(page.get_by_test_id("client-view")).to_be_hidden()
        await expect(page.get_by_test_id("package-card")).to_have_count(0)
        await expect(page.get_by_test_id("result")).to_have_count(0)
        await expect(page.get_by_test_id("search-input")).to_have_value("")
        assert problems == []
    finally:
        await page.screenshot(path=str(ARTIFACTS / "signed-in-again-1280.png"), full_page=True)
        await page.close()


@pytest.mark.timeout(180)
async def test_no_renewal_link_without_a_payment_page(
    chromium: Path,
    seeded: Spa,
    settings: Settings,
    client: Client,
    pool: asyncpg.Pool,
    browser: Browser,
) -> None:
    """Out of the box (no Stripe, the placeholder renewal page under `.invalid`) the desk
    says there is no payment page and offers Sell, instead of a link that cannot open."""
    spa = seeded
    today = datetime.now(ZoneInfo(settings.spa_timezone)).date()
    [empty] = await spa.sell("duo2", BEN.client_id)
    await redeem_earlier(spa, empty, "ben-1", today - timedelta(days=4))
    await redeem_earlier(spa, empty, "ben-2", today - timedelta(days=3))
    await wait_remaining(spa, empty, 0)
    token = await StaffRepository(pool).add(
        StaffMember(staff_id="desk-dora", name="Dora Desk", role=Role.FRONT_DESK)
    )
    shipped = settings.model_copy(
        update={"renewal_url": Settings.model_fields["renewal_url"].default}
    )
    async with serving(create_app(shipped, client=client, pool=pool)) as url:
        page = await browser.new_page(viewport={"width": 390, "height": 844})
        try:
            await page.goto(f"{url}/desk")
            await page.get_by_test_id("token-input").fill(token)
            await page.get_by_test_id("signin-button").click()
            await find(page, "Ben", "Ben Test")
            collect = card(page, empty).get_by_test_id("collect-actions")
            await collect.get_by_test_id("renewal-link").click()
            await expect(page.get_by_test_id("status")).to_contain_text(
                "No renewal link: no payment page is set up", timeout=WAIT_MS
            )
            await expect(page.get_by_test_id("status")).to_contain_text("sell the package")
            await expect(collect.get_by_test_id("renewal-link-box")).to_be_hidden()
            await expect(collect.get_by_test_id("sell")).to_be_enabled()
            await page.screenshot(path=str(ARTIFACTS / "no-payment-page-390.png"), full_page=True)
        finally:
            await page.close()


async def test_selling_a_shared_package_again_sells_it_to_everyone_who_shares_it(
    chromium: Path,
    seeded: Spa,
    settings: Settings,
    pool: asyncpg.Pool,
    api_url: str,
    browser: Browser,
) -> None:
    """A couples package on its last session, sold again at the desk: both partners get
    their share of the new purchase, as they did of the first (not one of them all of it)."""
    spa = seeded
    today = datetime.now(ZoneInfo(settings.spa_timezone)).date()
    [anas, _bens] = await spa.sell("couples4", ANA.client_id, shared_with=[BEN.client_id])
    await redeem_earlier(spa, anas, "ana-couples-1", today - timedelta(days=2))
    await wait_remaining(spa, anas, 1)
    token = await StaffRepository(pool).add(
        StaffMember(staff_id="desk-dee", name="Dee Desk", role=Role.FRONT_DESK)
    )
    page = await browser.new_page(viewport={"width": 390, "height": 844})
    try:
        await page.goto(f"{api_url}/desk")
        await page.get_by_test_id("token-input").fill(token)
        await page.get_by_test_id("signin-button").click()
        await find(page, "Ana", "Ana Test")
        shared = card(page, anas)
        await shared.get_by_test_id("collect-actions").get_by_test_id("sell").click()
        await expect(shared.get_by_test_id("ask-text")).to_have_text(
            "Sell a new Couples facial 4-pack to Ana Test (+1 555-555-0101), shared with Ben Test? "
            "Take the payment first."
        )
        await shared.get_by_test_id("ask-yes").click()
        await expect(page.get_by_test_id("status")).to_have_text(
            "Ana Test: new Couples facial 4-pack sold, shared with Ben Test, 2 sessions left.",
            timeout=WAIT_MS,
        )
        # Each partner now holds the old share and a new one of 2 sessions (4 split in two).
        ana_left = [b.remaining for b in await spa.ledger.balances_for_client(ANA.client_id)]
        bens_rows = await eventually(
            lambda: spa.ledger.balances_for_client(BEN.client_id), lambda rows: len(rows) == 2
        )
        ben_left = [b.remaining for b in bens_rows]
        assert (sorted(ana_left), sorted(ben_left)) == ([1, 2], [2, 2])
    finally:
        await page.close()


async def test_only_the_desk_files_are_served() -> None:
    app = FastAPI()
    app.include_router(desk.router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://desk.test") as http:
        page = await http.get("/desk")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert 'data-testid="search-input"' in page.text
        script = await http.get("/desk/desk.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        style = await http.get("/desk/desk.css")
        assert style.status_code == 200
        assert style.headers["content-type"].startswith("text/css")
        for path in (
            "/desk/index.html",
            "/desk/..%2Froutes%2Fdesk.py",
            "/desk/%2E%2E%2Fapp.py",
            "/desk/../app.py",
            "/desk/nope.js",
        ):
            assert (await http.get(path)).status_code == 404, path
        assert "/desk" not in app.openapi()["paths"]


async def test_a_frozen_package_reads_frozen_at_the_desk(
    chromium: Path,
    seeded: Spa,
    settings: Settings,
    client: Client,
    pool: asyncpg.Pool,
    browser: Browser,
) -> None:
    """A manager froze Ben's package for 30 days: the desk says until when, on a phone and
    on a desktop, so nobody tries to redeem it."""
    spa = seeded
    today = datetime.now(ZoneInfo(settings.spa_timezone)).date()
    [frozen] = await spa.sell("duo2", BEN.client_id)
    until = today + timedelta(days=29)
    await spa.service.send(
        frozen, FreezeRequest(key="freeze-ben", until=until, reason="medical leave", actor="mgr")
    )
    await eventually(
        lambda: spa.ledger.balance(frozen),
        lambda row: row is not None and row.frozen_through == until,
    )
    token = await StaffRepository(pool).add(
        StaffMember(staff_id="desk-fay", name="Fay Desk", role=Role.FRONT_DESK)
    )
    async with serving(create_app(settings, client=client, pool=pool)) as url:
        for width, height in ((1280, 800), (390, 844)):
            page = await browser.new_page(viewport={"width": width, "height": height})
            try:
                await page.goto(f"{url}/desk")
                await page.get_by_test_id("token-input").fill(token)
                await page.get_by_test_id("signin-button").click()
                await find(page, "Ben", "Ben Test")
                await expect(card(page, frozen)).to_contain_text(
                    f"Frozen until {until:%b} {until.day}, {until.year}", timeout=WAIT_MS
                )
                await page.screenshot(path=str(ARTIFACTS / f"frozen-{width}.png"), full_page=True)
            finally:
                await page.close()
