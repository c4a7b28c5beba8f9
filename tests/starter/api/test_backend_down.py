"""PostgreSQL or Temporal away: every request that needs them is a 503 with Retry-After
(providers retry those), never a 500 or a traceback."""

from __future__ import annotations

import json
import socket
import tempfile
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from activities.repository import ClientLink, ClientLinkRepository
from starter.api.app import create_app
from tests.starter.api.conftest import ANA_BLVD
from tests.starter.api.payloads import boulevard_event, signed_boulevard
from tests.workflows.conftest import Spa
from workers.codec import data_converter_for
from workers.settings import Settings


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def unreachable_pool(dsn: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=0, max_size=2, timeout=2)
    assert pool is not None
    return pool


@pytest.fixture(params=["missing socket", "refused port"])
async def dead_database(request: pytest.FixtureRequest) -> AsyncIterator[asyncpg.Pool]:
    if request.param == "missing socket":  # a stopped local server: FileNotFoundError
        dsn = f"postgresql://postgres@/punchcard?host={tempfile.mkdtemp()}/gone"
    else:
        dsn = f"postgresql://postgres@127.0.0.1:{closed_port()}/punchcard"
    pool = await unreachable_pool(dsn)
    yield pool
    await pool.close()


async def answers(app_client: httpx.AsyncClient) -> list[httpx.Response]:
    body, headers = signed_boulevard(boulevard_event("APPOINTMENT_COMPLETED", "down-1"))
    return [
        await app_client.post("/webhooks/boulevard", content=body, headers=headers),
        await app_client.get("/api/clients?q=ana", headers={"Authorization": "Bearer pc_x"}),
        await app_client.get("/health"),
    ]


def assert_unavailable(response: httpx.Response, says: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()
    body = response.json()
    text = body.get("detail") or body.get("database") or ""
    assert says in json.dumps(body) and "Traceback" not in text, body


async def test_database_down_is_a_503_with_retry_after(
    settings: Settings, client: Client, dead_database: asyncpg.Pool
) -> None:
    app = create_app(settings, client=client, pool=dead_database)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        webhook, staff, health = await answers(http)
    assert_unavailable(webhook, "unavailable")
    assert_unavailable(staff, "unavailable")
    assert_unavailable(health, "unreachable")


async def test_temporal_down_is_a_503_with_retry_after(
    settings: Settings, pool: asyncpg.Pool, spa: Spa
) -> None:
    await ClientLinkRepository(pool).link(
        ClientLink(platform="boulevard", external_id=ANA_BLVD, client_id="c-ana")
    )
    gone = await Client.connect(
        f"127.0.0.1:{closed_port()}", lazy=True, data_converter=data_converter_for(settings)
    )
    app = create_app(settings, client=gone, pool=pool)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        webhook, _, health = await answers(http)
    assert_unavailable(health, "unreachable")
    assert_unavailable(webhook, "Temporal")
    row = await pool.fetchrow("SELECT status FROM inbound_events")
    assert row is None  # nothing recorded as accepted: the provider's retry will land it
