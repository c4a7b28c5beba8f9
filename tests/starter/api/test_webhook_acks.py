"""When a booking-platform webhook is answered: a completion, no-show or late cancel once
its visit settled it (so the answer says what became of it), within a bound; booking
chatter at once; and with no worker running, still 2xx after the bound, the event durable."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import httpx
from temporalio.client import Client

from activities.repository import (
    ClientLink,
    ClientLinkRepository,
    ClientRepository,
    LedgerReader,
    PackageTypeRepository,
    ServiceCatalog,
    ServiceMapping,
)
from starter.packages import PackageService, SaleRequest
from tests.conftest import eventually
from tests.starter.api.conftest import ANA_BLVD, Api, app_http
from tests.starter.api.payloads import boulevard_event, signed_boulevard
from tests.workflows.conftest import ANA, LASER, Spa
from workers.settings import Settings
from workers.shutdown import running
from workers.worker import build_worker, graceful_shutdown


async def post(http: httpx.AsyncClient, payload: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """The 200 answer and how long it took."""
    body, headers = signed_boulevard(payload)
    began = time.monotonic()
    response = await http.post("/webhooks/boulevard", content=body, headers=headers)
    took = time.monotonic() - began
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer, took


async def test_a_completion_is_answered_once_redeemed_and_says_on_which_package(
    api: Api, spa: Spa
) -> None:
    (package,) = await spa.sell("laser6")
    ack, _ = await post(api.http, boulevard_event("APPOINTMENT_COMPLETED", "ack-1"))
    # No waiting here: the answer came after the redemption.
    assert await spa.ledger.count_entries(package, "redemption") == 1
    assert ack["status"] == "accepted"
    assert ack["outcome"] == "redeemed" and ack["package_id"] == package
    assert f"redeemed on package {package}" in ack["detail"]


async def test_a_no_show_is_answered_once_recorded(api: Api, spa: Spa) -> None:
    (package,) = await spa.sell("laser6")
    ack, _ = await post(
        api.http, boulevard_event("APPOINTMENT_CANCELLED", "ack-ns", reason="NO_SHOW")
    )
    assert await spa.ledger.count_entries(package, "no_show") == 1
    assert (ack["status"], ack["outcome"], ack["package_id"]) == ("accepted", "recorded", package)


async def test_booking_chatter_is_answered_without_waiting(api: Api, spa: Spa) -> None:
    await spa.sell("laser6")
    ack, _ = await post(api.http, boulevard_event("APPOINTMENT_CREATED", "ack-book"))
    assert ack["status"] == "accepted" and ack["outcome"] is None
    assert ack["detail"] == "booked for appointment urn:blvd:Appointment:ack-book is recorded"


async def test_a_completion_that_goes_to_review_is_answered_without_waiting_the_bound(
    api: Api, spa: Spa, settings: Settings, client: Client
) -> None:
    await spa.sell("laser6")
    patient = settings.model_copy(update={"webhook_settle_seconds": 25.0})
    async with app_http(patient, client, spa.pool) as http:
        ack, took = await post(
            http, boulevard_event("APPOINTMENT_COMPLETED", "ack-rv", service="Mystery Glow")
        )
        assert ack["outcome"] == "in_review" and ack["package_id"] is None
        assert "waiting in the review queue" in ack["detail"] and "Mystery Glow" in ack["detail"]
        assert took < 15, took  # the run stays open in review: the queue ended the wait
        # The platform sends the completion again under a new key: already in review.
        again, took = await post(
            http, boulevard_event("APPOINTMENT_COMPLETED", "ack-rv", service="Mystery Glow")
        )
        assert again["outcome"] == "in_review" and took < 15, (again, took)


async def test_with_settle_seconds_zero_a_completion_is_answered_at_once(
    api: Api, spa: Spa, settings: Settings, client: Client
) -> None:
    (package,) = await spa.sell("laser6")
    hasty = settings.model_copy(update={"webhook_settle_seconds": 0.0})
    async with app_http(hasty, client, spa.pool) as http:
        ack, _ = await post(http, boulevard_event("APPOINTMENT_COMPLETED", "ack-0"))
    assert ack["status"] == "accepted" and ack["outcome"] is None
    assert ack["detail"] == "completed for appointment urn:blvd:Appointment:ack-0 is recorded"
    await eventually(lambda: spa.ledger.count_entries(package, "redemption"), lambda n: n == 1)


async def test_with_no_worker_a_completion_is_answered_after_the_bound_and_kept(
    settings: Settings, client: Client, pool: asyncpg.Pool
) -> None:
    await ClientRepository(pool).upsert(ANA)
    await PackageTypeRepository(pool).upsert(LASER)
    await ClientLinkRepository(pool).link(
        ClientLink(platform="boulevard", external_id=ANA_BLVD, client_id=ANA.client_id)
    )
    await ServiceCatalog(pool).upsert(
        ServiceMapping(platform="*", service_key="Laser Hair Removal - Underarm", category="laser")
    )
    service = PackageService(client=client, pool=pool, settings=settings)
    sale = SaleRequest(client_id=ANA.client_id, type_code=LASER.type_code)
    async with (
        build_worker(settings, client) as worker,
        running(worker, graceful=graceful_shutdown(settings)),
    ):
        (package,) = (await service.sell(sale)).package_ids
        assert await service.wait_recorded(package)
    # The worker is gone: the hand-off still works, the wait ends at its bound.
    bounded = settings.model_copy(update={"webhook_settle_seconds": 1.0})
    async with app_http(bounded, client, pool) as http:
        ack, took = await post(http, boulevard_event("APPOINTMENT_COMPLETED", "ack-down"))
    assert ack["status"] == "accepted" and ack["outcome"] is None
    assert "not settled within 1 s" in ack["detail"]
    assert 1.0 <= took < 6, took
    ledger = LedgerReader(pool)
    assert await ledger.count_entries(package, "redemption") == 0
    # A worker again: the event was kept, and the abandoned wait did the run no harm.
    async with (
        build_worker(settings, client) as worker,
        running(worker, graceful=graceful_shutdown(settings)),
    ):
        await eventually(lambda: ledger.count_entries(package, "redemption"), lambda n: n == 1)
