"""Ops find packages in Temporal by client, status, remaining and good-through (issue 10.6).

Real dev server (attributes registered as `punchcard up` does), real PostgreSQL. Visibility
is eventually consistent: every list waits for the fact with `eventually`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecution

from activities.repository import ClientRecord, ClientRepository
from tests.conftest import eventually
from tests.workflows.conftest import Spa
from workflows import visibility
from workflows.ids import package_workflow_id
from workflows.models import RedeemRequest


async def _clients(spa: Spa, *names: str) -> list[str]:
    """Fresh client ids: the session's server is shared by every test."""
    ids = [f"{name}-{uuid.uuid4().hex[:8]}" for name in names]
    for client_id in ids:
        await ClientRepository(spa.pool).upsert(ClientRecord(client_id=client_id, name="Test"))
    return ids


async def _list(client: Client, query: str) -> list[WorkflowExecution]:
    return [wf async for wf in client.list_workflows(query)]


def _ids(found: list[WorkflowExecution]) -> set[str]:
    return {wf.id for wf in found}


async def test_ops_list_a_clients_active_packages_and_see_remaining_move(
    spa: Spa, client: Client
) -> None:
    x, y = await _clients(spa, "x", "y")
    [laser] = await spa.sell("laser6", x)
    [duo] = await spa.sell("duo2", x)
    [other] = await spa.sell("laser6", y)
    mine = {package_workflow_id(laser), package_workflow_id(duo)}

    query = f'PunchcardClientIds = "{x}" AND PunchcardStatus = "active"'
    found = await eventually(lambda: _list(client, query), lambda f: _ids(f) == mine)
    assert package_workflow_id(other) not in _ids(found)
    by_id = {wf.id: wf for wf in found}
    laser_attrs = by_id[package_workflow_id(laser)].typed_search_attributes
    assert laser_attrs.get(visibility.PACKAGE_TYPE) == "laser6"
    assert laser_attrs.get(visibility.REMAINING) == 6
    assert laser_attrs.get(visibility.LOCATION) is None  # until locations exist

    # The static summary names client, package and good-through (ids only: no PII).
    described = await client.get_workflow_handle(package_workflow_id(laser)).describe()
    summary = await described.static_summary()
    assert summary is not None and x in summary and "laser6" in summary
    assert "good through" in summary
    assert "Test" not in summary  # the client's name stays out of visibility

    await spa.service.send(laser, RedeemRequest(key="k1", appointment_id="a1"))
    five = f'PunchcardClientIds = "{x}" AND PunchcardRemaining = 5'
    await eventually(lambda: _list(client, five), lambda f: _ids(f) == {package_workflow_id(laser)})


async def test_expiring_this_week_by_good_through(spa: Spa, client: Client) -> None:
    [x] = await _clients(spa, "x")
    [soon] = await spa.sell("laser6", x, expires_in=timedelta(days=3))
    [later] = await spa.sell("laser6", x, expires_in=timedelta(days=200))
    week_end = (datetime.now(UTC) + timedelta(days=7)).date()
    query = (
        f'PunchcardClientIds = "{x}" AND PunchcardStatus = "active" AND '
        f'PunchcardGoodThrough <= "{visibility.good_through_value(week_end).isoformat()}"'
    )
    found = await eventually(
        lambda: _list(client, query), lambda f: _ids(f) == {package_workflow_id(soon)}
    )
    assert package_workflow_id(later) not in _ids(found)


async def test_a_shared_purchase_is_found_under_either_client(spa: Spa, client: Client) -> None:
    chloe, dan = await _clients(spa, "chloe", "dan")
    halves = await spa.sell("couples4", chloe, shared_with=[dan])
    query = f'PunchcardClientIds = "{dan}"'
    await eventually(
        lambda: _list(client, query),
        lambda f: _ids(f) == {package_workflow_id(p) for p in halves},
    )


async def _events(client: Client, package_id: str) -> list[str]:
    """Event types, an upsert of Punchcard's attributes as "upsert" (a patch's marker comes
    with an upsert of TemporalChangeVersion, which is the SDK's, not ours)."""
    history = await client.get_workflow_handle(package_workflow_id(package_id)).fetch_history()
    names: list[str] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            if any(name.startswith("Punchcard") for name in fields.indexed_fields):
                names.append("upsert")
                continue
        names.append(EventType.Name(event.event_type))
    return names


async def test_one_upsert_per_redemption_and_the_timeline_is_named(
    spa: Spa, client: Client
) -> None:
    [x] = await _clients(spa, "x")
    [pkg] = await spa.sell("laser6", x)
    await eventually(lambda: spa.service.state(pkg), lambda v: v.pending_effects == 0)
    before = await _events(client, pkg)
    # A sale is indexed at start: no upsert until something changes.
    assert "upsert" not in before

    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    await eventually(lambda: spa.service.state(pkg), lambda v: v.pending_effects == 0)
    after = await _events(client, pkg)
    assert after.count("upsert") == 1, "one upsert for the redemption, not one per attribute"
    added = after[len(before) :]
    # The update's task (with the ledger marker), one effects activity and its task: the
    # same 13 events whatever the number of integrations configured.
    assert len(added) <= 13, added
    assert added.count("EVENT_TYPE_ACTIVITY_TASK_SCHEDULED") == 1, added

    # Timers and activities carry summaries the UI shows on the timeline.
    history = await client.get_workflow_handle(package_workflow_id(pkg)).fetch_history()
    converter = client.data_converter
    summaries: list[str] = []
    for event in history.events:
        if event.user_metadata.HasField("summary"):
            [text] = await converter.decode([event.user_metadata.summary], [str])
            summaries.append(text)
    assert "ledger: redemption appt a1" in summaries, summaries
    assert "reminder 60d" in summaries, summaries
    assert "effects: confirmation, write-back v2 (5 left), webhook package.redeemed" in summaries
