"""The API on the real stack: the ASGI app in-process (httpx), a worker, provider secrets,
and one staff token per role."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client

from activities.repository import (
    ClientLink,
    ClientLinkRepository,
    Role,
    ServiceCatalog,
    ServiceMapping,
    StaffMember,
    StaffRepository,
)
from starter.api.app import create_app
from tests.fakes.mindbody import MindbodyFake
from tests.workflows.conftest import Spa, spa  # noqa: F401 (fixture)
from workers.settings import Settings

BOULEVARD_SECRET = "blvd-test-secret"
MINDBODY_KEY = "test-signature-key"
STRIPE_SECRET = "whsec_test_secret"
ANA_BLVD = "urn:blvd:Client:8e8e8e8e-0000-4000-8000-000000000020"
ANA_MINDBODY = "100015531"


@pytest.fixture
async def mindbody_api() -> AsyncIterator[MindbodyFake]:
    fake = MindbodyFake()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def settings(settings: Settings, mindbody_api: MindbodyFake) -> Settings:
    return settings.model_copy(
        update={
            "boulevard_webhook_secret": SecretStr(BOULEVARD_SECRET),
            "boulevard_signature_encoding": "hex",
            "mindbody_signature_key": SecretStr(MINDBODY_KEY),
            "mindbody_base_url": mindbody_api.base_url,
            "mindbody_api_key": SecretStr(mindbody_api.api_key),
            "stripe_webhook_secret": SecretStr(STRIPE_SECRET),
            "api_public_url": "https://punchcard.example",
        }
    )


@contextlib.asynccontextmanager
async def app_http(
    settings: Settings, client: Client, pool: asyncpg.Pool
) -> AsyncIterator[httpx.AsyncClient]:
    """The real ASGI app with these settings, in-process (its lifespan runs)."""
    app = create_app(settings, client=client, pool=pool)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://punchcard.example"
        ) as http,
    ):
        yield http


@dataclass
class Api:
    http: httpx.AsyncClient
    desk: dict[str, str]
    manager: dict[str, str]


@pytest.fixture
async def api(
    settings: Settings,
    client: Client,
    pool: asyncpg.Pool,
    spa: Spa,  # noqa: F811
) -> AsyncIterator[Api]:
    staff = StaffRepository(pool)
    desk = await staff.add(StaffMember(staff_id="fd", name="Front Desk", role=Role.FRONT_DESK))
    manager = await staff.add(StaffMember(staff_id="mgr", name="Manager", role=Role.MANAGER))
    links = ClientLinkRepository(pool)
    await links.link(ClientLink(platform="boulevard", external_id=ANA_BLVD, client_id="c-ana"))
    await links.link(ClientLink(platform="mindbody", external_id=ANA_MINDBODY, client_id="c-ana"))
    catalog = ServiceCatalog(pool)
    for name, category in (
        ("Laser Hair Removal - Underarm", "laser"),
        ("Laser - Full Face", "laser"),
        ("Signature Facial", "facial"),
    ):
        await catalog.upsert(ServiceMapping(platform="*", service_key=name, category=category))
    # Mindbody's Public API names the session type by id only.
    await catalog.upsert(ServiceMapping(platform="mindbody", service_key="12", category="laser"))
    async with app_http(settings, client, pool) as http:
        yield Api(
            http=http,
            desk={"Authorization": f"Bearer {desk}"},
            manager={"Authorization": f"Bearer {manager}"},
        )
