"""A spa group with a location in New York and one in Los Angeles: each package keeps its
location's zone, so its expiry is that location's midnight and its reminders are planned
for 10:00 there; it is findable by location in Temporal, set at start (no upsert)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.repository import LocationRecord, LocationRepository
from starter.clients import ClientChanges, ClientService
from starter.packages import NotFound, SaleRequest
from tests.workflows.conftest import ANA, BEN, Spa
from workflows import visibility
from workflows.ids import package_workflow_id

NY, LA = ZoneInfo("America/New_York"), ZoneInfo("America/Los_Angeles")
SOHO = LocationRecord(location_id="soho", name="Glow SoHo", timezone="America/New_York")
VENICE = LocationRecord(location_id="venice", name="Glow Venice", timezone="America/Los_Angeles")


async def two_locations(spa: Spa) -> None:
    repo = LocationRepository(spa.pool)
    assert await repo.insert(SOHO)  # the first: the default
    assert await repo.insert(VENICE)


async def sell_at(spa: Spa, client_id: str, location_id: str | None) -> str:
    result = await spa.service.sell(
        SaleRequest(client_id=client_id, type_code="laser6", location_id=location_id)
    )
    [package_id] = result.package_ids
    assert await spa.service.wait_recorded(package_id)
    return package_id


def local(at: datetime, zone: ZoneInfo) -> tuple[int, int]:
    moment = at.astimezone(zone)
    return moment.hour, moment.minute


async def test_reminders_at_ten_local_of_each_location(spa: Spa, client: Client) -> None:
    await two_locations(spa)
    soho = await sell_at(spa, ANA.client_id, "soho")
    venice = await sell_at(spa, BEN.client_id, "venice")
    unnamed = await sell_at(spa, BEN.client_id, None)  # the default location: SoHo

    for package_id, location_id, zone in (
        (soho, "soho", NY),
        (venice, "venice", LA),
        (unnamed, "soho", NY),
    ):
        view = await spa.service.state(package_id)
        expires_at = view.snapshot.expires_at
        assert expires_at is not None and local(expires_at, zone) == (0, 0)  # local midnight
        planned = view.planned_reminders
        assert sorted(key.split("@")[0] for key in planned) == ["14d", "30d", "60d"]
        assert {local(due, zone) for due in planned.values()} == {(10, 0)}, planned
        assert view.next_deadline == min(planned.values())

        row = await spa.ledger.balance(package_id)
        assert row is not None and row.location_id == location_id
        handle = client.get_workflow_handle(package_workflow_id(package_id))
        described = await handle.describe()
        assert described.typed_search_attributes.get(visibility.LOCATION) == location_id
        upserts = [
            e
            async for e in handle.fetch_history_events()
            if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
        ]
        assert upserts == []  # indexed at start: no command of its own

    # 10:00 in Los Angeles is 13:00 in New York: the two are not planned for the same hour.
    venice_due = (await spa.service.state(venice)).planned_reminders.values()
    assert {local(due, NY) for due in venice_due} == {(13, 0)}


async def test_a_spa_without_locations_sells_as_before(spa: Spa, client: Client) -> None:
    package_id = await sell_at(spa, ANA.client_id, None)
    row = await spa.ledger.balance(package_id)
    assert row is not None and row.location_id is None
    view = await spa.service.state(package_id)
    zone = ZoneInfo(spa.service.notice_policy().timezone)
    assert {local(due, zone) for due in view.planned_reminders.values()} == {(10, 0)}
    described = await client.get_workflow_handle(package_workflow_id(package_id)).describe()
    assert described.typed_search_attributes.get(visibility.LOCATION) is None
    # `main`, the location the settings imply, may be named and changes nothing.
    again = await sell_at(spa, ANA.client_id, "main")
    assert (await spa.ledger.balance(again)) is not None
    assert (await spa.ledger.balance(again)).location_id is None  # type: ignore[union-attr]


async def test_a_client_of_one_location_is_sold_there_and_reminded_at_its_hour(
    spa: Spa,
) -> None:
    """Ben lives by the Venice spa: a sale that names no location is Venice's, its
    reminders at 10:00 Los Angeles time; naming a location still wins."""
    await two_locations(spa)
    clients = ClientService(spa.pool)
    ben = await clients.update(BEN.client_id, ClientChanges(home_location_id="venice"))
    assert ben.home_location_id == "venice"

    unnamed = await sell_at(spa, BEN.client_id, None)
    named = await sell_at(spa, BEN.client_id, "soho")

    for package_id, location_id, zone in ((unnamed, "venice", LA), (named, "soho", NY)):
        row = await spa.ledger.balance(package_id)
        assert row is not None and row.location_id == location_id
        planned = (await spa.service.state(package_id)).planned_reminders
        assert {local(due, zone) for due in planned.values()} == {(10, 0)}, planned

    with pytest.raises(NotFound, match="no location 'nowhere'"):
        await clients.update(BEN.client_id, ClientChanges(home_location_id="nowhere"))
    cleared = await clients.update(BEN.client_id, ClientChanges(home_location_id=None))
    assert cleared.home_location_id is None
    default = await sell_at(spa, BEN.client_id, None)
    row = await spa.ledger.balance(default)
    assert row is not None and row.location_id == "soho"  # the default again
