"""Effects go out one activity at a time per package, and a stuck one holds nothing back."""

from __future__ import annotations

import asyncio
from itertools import pairwise
from time import monotonic

from temporalio.api.enums.v1 import EventType

from tests.conftest import eventually
from tests.fakes.twilio import TwilioFake
from tests.workflows.conftest import ANA, Spa
from workflows import contracts
from workflows.ids import package_workflow_id
from workflows.models import RedeemRequest
from workflows.package import EFFECTS_PATIENCE


async def redeem(spa: Spa, package_id: str, n: int) -> None:
    await spa.service.send(package_id, RedeemRequest(key=f"k{n}", appointment_id=f"a{n}"))


async def test_a_burst_on_one_package_confirms_each_visit_once_one_activity_at_a_time(
    spa: Spa, twilio: TwilioFake
) -> None:
    [pkg] = await spa.sell("big300")
    await asyncio.gather(*(redeem(spa, pkg, n) for n in range(8)))  # under the 10 in flight
    await eventually(lambda: spa.messages("confirmation"), lambda n: n == 8, timeout=30)
    await spa.settled()

    confirmations = [b for b in twilio.sent_to(ANA.phone or "") if "complete" in b]
    assert len(confirmations) == len(set(confirmations)) == 8
    history = await spa.service._client.get_workflow_handle(
        package_workflow_id(pkg)
    ).fetch_history()
    spans: list[tuple[int, int]] = []  # (scheduled, completed) event ids of effects.perform
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == contracts.PERFORM_EFFECTS.name:
                spans.append((event.event_id, 0))
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
            spans = [(s, event.event_id if s == scheduled else c) for s, c in spans]
    # The sale's effects and the burst's: fewer activities than visits, never two at once.
    assert 2 <= len(spans) < 8
    for (_, done), (started, _) in pairwise(spans):
        assert started > done, f"effects activities overlap: {spans}"


async def test_a_stuck_text_does_not_hold_back_the_next_confirmation(
    spa: Spa, twilio: TwilioFake
) -> None:
    [pkg] = await spa.sell("laser6")
    await spa.settled()  # the sale's own effects are done
    twilio.lose_next(1, mode="hang")  # the text is created, its answer never comes
    await redeem(spa, pkg, 1)
    await eventually(lambda: asyncio.sleep(0, len(twilio.messages)), lambda n: n == 1)

    began = monotonic()
    await redeem(spa, pkg, 2)
    await eventually(
        lambda: asyncio.sleep(0, twilio.sent_to(ANA.phone or "")),
        lambda sent: any("Session 2 of 6" in body for body in sent),
        timeout=15,
    )
    # Sent once the stuck activity had been in flight EFFECTS_PATIENCE, not after the
    # HTTP timeout (20 s) and the retry that follows it.
    assert monotonic() - began < EFFECTS_PATIENCE.total_seconds() + 5


async def test_more_updates_at_once_than_the_server_takes_still_land_once_each(
    spa: Spa, twilio: TwilioFake
) -> None:
    """Past the server's in-flight update limit a workflow task can be retried after its
    ledger write ran; the rows of that lost task must not hold the package up."""
    [pkg] = await spa.sell("big300")
    await asyncio.gather(*(redeem(spa, pkg, n) for n in range(14)))
    await eventually(lambda: spa.messages("confirmation"), lambda n: n == 14, timeout=60)
    await spa.settled()

    rows = await spa.ledger.entries(pkg)
    redemptions = [r for r in rows if r.kind.value == "redemption"]
    assert sorted(r.appointment_id or "" for r in redemptions) == sorted(f"a{n}" for n in range(14))
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    balance = await spa.ledger.balance(pkg)
    assert balance is not None and balance.remaining == 300 - 14
    assert rows[-1].balance_after == 300 - 14
