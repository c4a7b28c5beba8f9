"""Salesforce on the real stack: a redemption at the desk lands the package fields on the
client's Salesforce Contact, and a session that times out between two visits is renewed
with exactly one write per redemption.

The Salesforce stand-in speaks the OAuth and REST wire formats; the API, workflows,
effects pipeline, Temporal and Postgres are the real ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from tests.conftest import eventually
from tests.fakes.salesforce import SalesforceFake
from tests.starter.api.conftest import Api
from tests.workflows.conftest import ANA, LASER, Spa
from workers.settings import Settings

EXTERNAL_ID = "Punchcard_Client_Id__c"


@pytest.fixture
async def salesforce() -> AsyncIterator[SalesforceFake]:
    fake = SalesforceFake()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def settings(settings: Settings, salesforce: SalesforceFake) -> Settings:
    return settings.model_copy(
        update={
            "crm_provider": "salesforce",
            "salesforce_login_url": salesforce.base_url,
            "salesforce_client_id": SecretStr(salesforce.client_id),
            "salesforce_client_secret": SecretStr(salesforce.client_secret),
        }
    )


async def redeem(api: Api, package_id: str, appointment: str, day: str) -> None:
    response = await api.http.post(
        f"/api/packages/{package_id}/complete",
        json={"appointment_id": appointment, "service_date": day, "request_id": appointment},
        headers=api.desk,
    )
    assert response.status_code == 200, response.text


def spa_today(settings: Settings) -> str:
    return datetime.now(ZoneInfo(settings.spa_timezone)).date().isoformat()


async def _fields(fake: SalesforceFake) -> dict[str, Any]:
    found = fake.by_external_id(EXTERNAL_ID, ANA.client_id)
    return found[0].fields if len(found) == 1 else {}


async def test_a_redemption_lands_on_the_salesforce_contact_and_survives_a_timed_out_session(
    api: Api, spa: Spa, salesforce: SalesforceFake, settings: Settings
) -> None:
    (package,) = await spa.sell(LASER.type_code)

    await redeem(api, package, "appt-sf-1", "2026-11-02")

    fields = await eventually(
        lambda: _fields(salesforce),
        lambda f: f.get("Punchcard_Sessions_Remaining__c") == LASER.units - 1,
    )
    await eventually(lambda: spa.service.state(package), lambda v: v.pending_effects == 0)
    # Created on first write (upsert by the Punchcard client id) with the client's name.
    assert (fields["FirstName"], fields["LastName"], fields["Email"]) == ("Ana", "Test", ANA.email)
    assert fields["Punchcard_Package_Name__c"] == LASER.name
    assert fields["Punchcard_Package_Status__c"] == "active"
    # When the desk recorded it, as a day in the spa's zone.
    assert fields["Punchcard_Last_Session__c"] == spa_today(settings)
    assert len(fields["Punchcard_Package_Expires__c"]) == 10  # the good-through day
    status = await spa.pool.fetchval(
        "SELECT status FROM integration_syncs WHERE target = 'salesforce' AND package_id = $1",
        package,
    )
    assert status == "updated"
    writes_before = len(salesforce.writes())
    tokens_before = len(salesforce.token_requests())

    # The org's session timeout passes before the next visit.
    salesforce.expire_tokens()
    await redeem(api, package, "appt-sf-2", "2026-11-09")

    fields = await eventually(
        lambda: _fields(salesforce),
        lambda f: f.get("Punchcard_Sessions_Remaining__c") == LASER.units - 2,
    )
    await eventually(lambda: spa.service.state(package), lambda v: v.pending_effects == 0)
    assert len(salesforce.token_requests()) == tokens_before + 1  # renewed once
    assert len(salesforce.writes()) == writes_before + 1  # one upsert for the visit
    assert len(salesforce.by_external_id(EXTERNAL_ID, ANA.client_id)) == 1
