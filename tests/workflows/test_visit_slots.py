"""More visits at once than the worker has workflow-task slots still all reach their
package: a visit waiting for the package's answer must not hold a slot the package needs."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client

from activities.repository import ServiceCatalog, ServiceMapping
from tests.conftest import eventually
from tests.workflows.conftest import Spa
from tests.workflows.test_visit_failures import completion, gateway, redemptions
from workers.settings import Settings

SLOTS = 2


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_max_concurrent_workflow_tasks": SLOTS})


async def test_a_burst_of_visits_wider_than_the_slots_all_redeem(
    spa: Spa, client: Client, settings: Settings
) -> None:
    await ServiceCatalog(spa.pool).upsert(
        ServiceMapping(platform="*", service_key="Laser hair removal", category="laser")
    )
    (package,) = await spa.sell("laser6")
    visits = gateway(client, settings)
    burst = 3 * SLOTS  # the six sessions of the package
    await asyncio.gather(
        *(
            visits.submit(completion(f"slots-{n}", service_name="Laser hair removal"))
            for n in range(burst)
        )
    )
    # A visit that handed over in a local activity held its slot while the package's update
    # waited for one: with every slot held by a visit, nothing moved again.
    assert await eventually(lambda: redemptions(spa, package), lambda n: n == burst) == burst
    balance = await spa.ledger.balance(package)
    assert balance is not None and balance.remaining == 0
