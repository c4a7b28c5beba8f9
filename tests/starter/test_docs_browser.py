"""/docs and /redoc in real headless Chromium with every other host cut off.

FastAPI's default pages load Swagger UI and ReDoc from a CDN (and ReDoc's fonts from
Google Fonts), so behind a firewall they are blank. Here every request the browser makes
to a host other than the API's is aborted and recorded: the pages must still render the
operation list, and must not even try another host. What the pages' Content-Security-Policy
refuses before any request is recorded too: only ReDoc's footer logo, which its bundle
always asks cdn.redoc.ly for. The same server and browser as the desk test (a real
Temporal dev server, PostgreSQL and uvicorn on a free port).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Locator, Page, Request, Response, Route, expect

from tests.starter.test_desk_browser import WAIT_MS, api_url, browser, chromium

__all__ = ["api_url", "browser", "chromium"]  # fixtures shared with the desk test

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
REDOC_FOOTER_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
RECORD_REFUSALS = """
window.__refused = [];
document.addEventListener("securitypolicyviolation", (e) => window.__refused.push(e.blockedURI));
"""


def swagger_tag(page: Page) -> Locator:
    return page.locator("#operations-tag-webhooks")


def redoc_tag(page: Page) -> Locator:
    return page.get_by_role("menuitem", name="webhooks", exact=True)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("path", "operations", "may_refuse"),
    [("/docs", swagger_tag, set()), ("/redoc", redoc_tag, {REDOC_FOOTER_LOGO})],
    ids=["swagger-ui", "redoc"],
)
async def test_docs_render_with_no_other_host(
    api_url: str,
    browser: Browser,
    tmp_path: Path,
    path: str,
    operations: object,
    may_refuse: set[str],
) -> None:
    assert callable(operations)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    elsewhere: list[str] = []
    failed: list[str] = []
    problems: list[str] = []

    async def only_this_host(route: Route, request: Request) -> None:
        if urlsplit(request.url).hostname in LOCAL_HOSTS:
            await route.continue_()
        else:
            elsewhere.append(request.url)
            await route.abort("blockedbyclient")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    await context.route("**/*", only_this_host)
    await context.add_init_script(RECORD_REFUSALS)
    page = await context.new_page()
    page.on("response", on_response)
    page.on("pageerror", lambda err: problems.append(str(err)))
    try:
        await page.goto(f"{api_url}{path}")
        await expect(operations(page)).to_be_visible(timeout=WAIT_MS)
        await page.wait_for_load_state("networkidle")
        icon = await page.locator('link[rel~="icon"]').first.get_attribute("href")
        assert icon is not None and icon.startswith("/"), icon
        assert (await context.request.get(f"{api_url}{icon}")).status == 200
        refused = set(await page.evaluate("window.__refused"))
        await page.screenshot(path=str(tmp_path / f"{path.strip('/')}.png"), full_page=False)
    finally:
        await context.close()
    assert elsewhere == []
    assert refused <= may_refuse
    assert all(urlsplit(url).hostname not in LOCAL_HOSTS for url in refused)
    assert failed == []
    assert problems == []


async def test_desk_and_browsers_find_a_favicon(api_url: str, browser: Browser) -> None:
    context = await browser.new_context()
    try:
        for url in ("/favicon.ico", "/desk/favicon.svg"):
            answer = await context.request.get(f"{api_url}{url}")
            assert answer.status == 200, url
            assert answer.headers["content-type"].startswith("image/svg+xml")
            assert (await answer.text()).startswith("<svg")
        page = await context.new_page()
        await page.goto(f"{api_url}/desk")
        icon = await page.locator('link[rel~="icon"]').get_attribute("href")
        assert icon == "/desk/favicon.svg"
    finally:
        await context.close()
