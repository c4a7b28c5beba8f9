"""Rule 12 and the long life of an entity workflow: shared purchases, continue-as-new."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowExecutionStatus

from starter.packages import NotFound, SaleRequest
from tests.conftest import eventually
from tests.fakes.twilio import TwilioFake
from tests.workflows.conftest import ANA, BEN, Spa
from workflows.ids import package_workflow_id
from workflows.models import AppointmentNotice, RedeemRequest


async def test_couples_purchase_splits_into_linked_entitlements(spa: Spa) -> None:
    ana_pkg, ben_pkg = await spa.sell("couples4", ANA.client_id, shared_with=[BEN.client_id])
    answer = await spa.service.send(ben_pkg, RedeemRequest(key="k1", appointment_id="a1"))
    assert answer.remaining == 1
    ana = await spa.ledger.balance(ana_pkg)
    ben = await eventually(
        lambda: spa.ledger.balance(ben_pkg), lambda b: b is not None and b.remaining == 1
    )
    assert ana is not None and ben is not None
    assert (ana.client_id, ana.remaining, ana.paid_cents) == (ANA.client_id, 2, 30_000)
    assert ana.parent_purchase_id == ben.parent_purchase_id and ana.parent_purchase_id is not None
    assert answer.message.startswith("Session 1 of 2 complete — 1 remaining")


async def test_continue_as_new_keeps_balance_and_idempotency(spa: Spa, twilio: TwilioFake) -> None:
    [pkg] = await spa.sell("big300", max_messages_per_run=10)
    handle = spa.service._client.get_workflow_handle(package_workflow_id(pkg))
    first_run = (await handle.describe()).run_id
    first = await spa.service.send(pkg, RedeemRequest(key="k0", appointment_id="a0"))
    for n in range(1, 25):
        await spa.service.send(
            pkg, AppointmentNotice(key=f"b{n}", appointment_id=f"a{n}", change="booked")
        )
        await spa.service.send(pkg, RedeemRequest(key=f"k{n}", appointment_id=f"a{n}"))
    # A duplicate of the very first message, now several runs later: same answer, no change.
    assert await spa.service.send(pkg, RedeemRequest(key="k0", appointment_id="a0")) == first
    view = await spa.service.state(pkg)
    assert view.snapshot.remaining == 275
    description = await handle.describe()
    assert description.run_id != first_run
    assert description.status == WorkflowExecutionStatus.RUNNING
    rows = await eventually(lambda: spa.ledger.entries(pkg), lambda rows: len(rows) == 1 + 24 + 25)
    assert [r.seq for r in rows] == list(range(1, 51))
    assert len(await spa.service.history(pkg)) == 50
    # Notices carried across runs go out once each: 25 confirmations, 25 texts.
    await eventually(lambda: spa.messages("confirmation"), lambda n: n == 25)
    assert len([m for m in twilio.messages if "complete" in m["Body"]]) == 25


async def test_selling_the_same_purchase_twice_starts_one_package(spa: Spa) -> None:
    request = SaleRequest(client_id=ANA.client_id, type_code="laser6", purchase_id="order-42")
    first = await spa.service.sell(request)
    again = await spa.service.sell(request)
    assert (first.already_sold, again.already_sold) == (False, True)
    assert first.package_ids == again.package_ids == ["order-42"]
    assert await spa.service.wait_recorded("order-42")
    assert len(await spa.ledger.balances_for_client(ANA.client_id)) == 1


async def test_selling_to_an_unknown_client_is_refused_and_starts_nothing(spa: Spa) -> None:
    with pytest.raises(NotFound, match="unknown client 'c-nobody'"):
        await spa.service.sell(SaleRequest(client_id="c-nobody", type_code="laser6"))
    with pytest.raises(NotFound, match="unknown package type 'nope'"):
        await spa.service.sell(SaleRequest(client_id=ANA.client_id, type_code="nope"))
    assert await spa.ledger.balances_for_client(ANA.client_id) == []


async def test_a_shared_purchase_splits_the_price_by_sessions(spa: Spa) -> None:
    first, second = await spa.sell("trio3", ANA.client_id, shared_with=[BEN.client_id])
    ana, ben = await spa.ledger.balance(first), await spa.ledger.balance(second)
    assert ana is not None and ben is not None
    assert (ana.purchased_units, ana.paid_cents) == (2, 60_000)
    assert (ben.purchased_units, ben.paid_cents) == (1, 30_000)
