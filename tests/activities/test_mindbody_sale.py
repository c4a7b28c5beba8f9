"""A renewal paid through Stripe, sold in Mindbody too (checkoutshoppingcart against the
Mindbody stand-in, over real PostgreSQL): once per package, only for Stripe-paid packages
of a mapped type, refusals recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.writeback import SyncActivities, build_sync_activities
from activities.writeback.mindbody_sale import parse_payment, parse_pricing_options
from tests.activities.test_crm import add_client, link, package_sync, running, sync_row
from tests.fakes.mindbody import MindbodyFake
from workers.settings import Settings
from workflows.contracts import PackageSync, SyncResult

MB_CLIENT = "100015531"
OPTION = 10105
PRICE_CENTS = 180_000


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture
async def mindbody() -> AsyncIterator[MindbodyFake]:
    fake = MindbodyFake(staff_token="staff-token-1")
    fake.pricing_options[OPTION] = {"Id": OPTION, "Name": "Laser x6", "Price": 1800.0}
    fake.custom_payment_methods.add(7)
    async with running(fake):
        yield fake


def sale_settings(mindbody: MindbodyFake, **values: Any) -> Settings:
    fields: dict[str, Any] = {
        "database_url": None,
        "mindbody_base_url": mindbody.base_url,
        "mindbody_api_key": SecretStr(mindbody.api_key),
        "mindbody_staff_token": SecretStr(mindbody.staff_token or ""),
        "mindbody_site_id": mindbody.site_id,
        "mindbody_renewal_pricing_options": f"laser6={OPTION}",
    }
    return Settings(**(fields | values))


@pytest.fixture
def selling(pool: asyncpg.Pool, http: httpx.AsyncClient, mindbody: MindbodyFake) -> SyncActivities:
    return build_sync_activities(sale_settings(mindbody), pool, http)


async def add_package(pool: asyncpg.Pool, *, payment_intent: str | None) -> None:
    sold = datetime.now(UTC)
    await pool.execute(
        """
        INSERT INTO packages (package_id, client_id, type_code, name, kind, status, remaining,
            purchased_units, paid_cents, unused_value_cents, purchased_at, expires_at, last_seq,
            payment_intent_id)
        VALUES ('pkg-1', 'c-ana', 'laser6', 'Laser hair removal x6', 'sessions', 'active', 6, 6,
            $1, $1, $2, $3, 1, $4)
        """,
        PRICE_CENTS,
        sold,
        sold + timedelta(days=365),
        payment_intent,
    )


async def write_back(activities: SyncActivities, sync: PackageSync) -> SyncResult:
    return await ActivityEnvironment().run(activities.write_back_booking, sync)


def sale_result(result: SyncResult) -> tuple[str, str] | None:
    found = [r for r in result.results if r.target == "mindbody_sale"]
    return (found[0].status, found[0].detail or "") if found else None


def sold(result: SyncResult) -> tuple[str, str]:
    found = sale_result(result)
    assert found is not None, result
    return found


async def test_a_stripe_renewal_is_sold_once_as_the_mapped_pricing_option(
    pool: asyncpg.Pool, mindbody: MindbodyFake, selling: SyncActivities
) -> None:
    await add_client(pool)
    await link(pool, "mindbody", MB_CLIENT)
    mindbody.add_client(MB_CLIENT)
    await add_package(pool, payment_intent="pi_123")

    first = await write_back(selling, package_sync(version=1, remaining=6))
    again = await write_back(selling, package_sync(version=1, remaining=6))  # a retry
    later = await write_back(selling, package_sync(version=2, remaining=5))  # a redemption

    assert sale_result(first) == (
        "updated",
        f"pricing option {OPTION} sold to Mindbody client {MB_CLIENT} (cart punchcard-pkg-1)",
    )
    assert "already synced" in sold(again)[1]
    assert sale_result(later) == ("updated", "sold in Mindbody before (cart punchcard-pkg-1)")
    [sale] = mindbody.sales
    assert sale == {
        "ClientId": MB_CLIENT,
        "CartId": "punchcard-pkg-1",
        "InStore": True,
        "SendEmail": False,
        "Test": False,
        "Items": [{"Item": {"Type": "Service", "Metadata": {"Id": OPTION}}, "Quantity": 1}],
        "Payments": [{"Type": "Comp", "Metadata": {"Amount": 1800.0}}],
    }
    assert [o["Id"] for o in mindbody.client_services[MB_CLIENT]] == [OPTION]
    [call] = [r for r in mindbody.requests if r["path"].endswith("checkoutshoppingcart")]
    assert call["headers"]["authorization"] == "staff-token-1"
    row = await sync_row(pool, "mindbody_sale")
    assert (row["status"], row["external_ref"]) == ("updated", "punchcard-pkg-1")


async def test_a_package_sold_at_the_desk_is_not_sold_again_in_mindbody(
    pool: asyncpg.Pool, mindbody: MindbodyFake, selling: SyncActivities
) -> None:
    await add_client(pool)
    await link(pool, "mindbody", MB_CLIENT)
    mindbody.add_client(MB_CLIENT)
    await add_package(pool, payment_intent=None)

    result = await write_back(selling, package_sync(version=1, remaining=6))

    assert sale_result(result) is None
    assert mindbody.sales == []


async def test_a_custom_payment_method_and_location_are_used_when_configured(
    pool: asyncpg.Pool, http: httpx.AsyncClient, mindbody: MindbodyFake
) -> None:
    await add_client(pool)
    await link(pool, "mindbody", MB_CLIENT)
    mindbody.add_client(MB_CLIENT)
    await add_package(pool, payment_intent="pi_123")
    settings = sale_settings(mindbody, mindbody_renewal_payment="custom:7", mindbody_location_id=1)

    await write_back(build_sync_activities(settings, pool, http), package_sync(remaining=6))

    [sale] = mindbody.sales
    assert sale["Payments"] == [{"Type": "Custom", "Metadata": {"Amount": 1800.0, "Id": 7}}]
    assert sale["LocationId"] == 1


async def test_a_price_mindbody_disagrees_with_is_recorded_not_retried(
    pool: asyncpg.Pool, mindbody: MindbodyFake, selling: SyncActivities
) -> None:
    await add_client(pool)
    await link(pool, "mindbody", MB_CLIENT)
    mindbody.add_client(MB_CLIENT)
    mindbody.pricing_options[OPTION]["Price"] = 1950.0
    await add_package(pool, payment_intent="pi_123")

    result = await write_back(selling, package_sync(remaining=6))

    status, detail = sold(result)
    assert status == "rejected" and "PaymentAmountMismatch" in detail
    assert mindbody.sales == []
    assert (await sync_row(pool, "mindbody_sale"))["status"] == "rejected"


async def test_mindbody_trouble_is_retried_and_then_sold_once(
    pool: asyncpg.Pool, mindbody: MindbodyFake, selling: SyncActivities
) -> None:
    await add_client(pool)
    await link(pool, "mindbody", MB_CLIENT)
    mindbody.add_client(MB_CLIENT)
    await add_package(pool, payment_intent="pi_123")
    mindbody.fail_next(1, 503)

    with pytest.raises(ApplicationError) as failed:
        await write_back(selling, package_sync(remaining=6))
    assert failed.value.type == "MindbodyUnavailable" and not failed.value.non_retryable

    result = await write_back(selling, package_sync(remaining=6))  # Temporal's retry
    assert sold(result)[0] == "updated"
    assert len(mindbody.sales) == 1


def test_settings_say_what_is_wrong() -> None:
    assert parse_pricing_options(" laser6=10105, peel4 = 7 ") == {"laser6": 10105, "peel4": 7}
    with pytest.raises(ValueError, match="type_code=<pricing option id>"):
        parse_pricing_options("laser6=Laser")
    assert parse_payment("Custom:12").custom_method_id == 12
    with pytest.raises(ValueError, match="comp or custom:<id>"):
        parse_payment("cash")


async def test_selling_without_the_staff_token_refuses_to_start(
    http: httpx.AsyncClient, mindbody: MindbodyFake
) -> None:
    settings = sale_settings(mindbody, mindbody_staff_token=None)

    with pytest.raises(ValueError, match="PUNCHCARD_MINDBODY_STAFF_TOKEN is required to sell"):
        build_sync_activities(settings, None, http)  # type: ignore[arg-type]
