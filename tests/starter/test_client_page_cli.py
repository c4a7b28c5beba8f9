"""`punchcard client page-link` / `revoke-page` against the real database."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from temporalio.worker import Worker

from activities.repository.client_pages import ClientPageLinks
from tests.starter.test_cli import Cli, env_for, one_line_error
from workers.settings import Settings

PUBLIC = "https://spa.example"


@pytest.fixture
def cli(settings: Settings, tmp_path: Path) -> Cli:
    return Cli(env_for(settings, tmp_path) | {"PUNCHCARD_API_PUBLIC_URL": PUBLIC})


async def test_page_link_then_revoke(cli: Cli, worker: Worker, pool: asyncpg.Pool) -> None:
    await cli.ok("client", "add", "--id", "ana", "--name", "Ana Test", "--phone", "+15555550111")
    link = (await cli.ok("client", "page-link", "ana")).strip()
    assert link.startswith(PUBLIC + "/me/")
    assert (await cli.ok("client", "page-link", "ana")).strip() == link  # the live one
    token = link.removeprefix(PUBLIC + "/me/")
    pages = ClientPageLinks(pool, public_url=PUBLIC)
    assert (await pages.open(token)).state == "open"

    assert "1 page link(s) revoked" in await cli.ok("client", "revoke-page", "ana")
    assert (await pages.open(token)).state == "revoked"
    assert (await cli.ok("client", "page-link", "ana")).strip() != link

    assert "no client 'nobody'" in one_line_error(await cli("client", "revoke-page", "nobody"))
    off = await cli("client", "page-link", "ana", PUNCHCARD_API_PUBLIC_URL=None)
    assert "PUNCHCARD_API_PUBLIC_URL" in one_line_error(off)
