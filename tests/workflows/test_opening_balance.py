"""A package brought in from the old system: it opens with its balance, reminds from its
real expiry (those already due skipped), warns about pace from what remains, expires."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import EventType

from tests.conftest import eventually
from tests.fakes.twilio import TwilioFake
from tests.workflows.conftest import ANA, LASER, PACED, Spa, short_notices
from workflows import schedule, visibility
from workflows.ids import package_workflow_id
from workflows.models import NoticePolicy, OpeningBalance, PackageInput, RedeemRequest
from workflows.package import PackageWorkflow


async def bring_in(
    spa: Spa,
    *,
    type_code: str = LASER.type_code,
    remaining: int = 3,
    value: int = 90_000,
    purchased_ago: timedelta = timedelta(days=100),
    expires_in: timedelta,
    notices: NoticePolicy,
    expired: bool = False,
) -> str:
    package_type = await spa.service.types.get(type_code)
    assert package_type is not None
    now = datetime.now(UTC)
    package_input = PackageInput(
        package_id=f"imp-test-{uuid.uuid4().hex[:8]}",
        client_id=ANA.client_id,
        terms=package_type.terms(),
        purchased_at=now - purchased_ago,
        expires_at=now + expires_in,
        sold_by="mgr",
        notices=notices,
        opening=OpeningBalance(
            remaining=remaining, value_cents=value, source="mindbody", source_id="84123",
            expired=expired,
        ),
    )  # fmt: skip
    await spa.service._client.start_workflow(
        PackageWorkflow.run,
        package_input,
        id=package_workflow_id(package_input.package_id),
        task_queue=spa.service._settings.task_queue,
        search_attributes=visibility.index_at_sale(package_input).at_start(),
    )
    assert await spa.service.wait_recorded(package_input.package_id)
    return package_input.package_id


async def test_reminders_from_the_real_expiry_then_breakage_of_what_came_in(
    spa: Spa, twilio: TwilioFake
) -> None:
    # The 60d reminder fell due before the import: skipped; 30d and 14d go out; expiry.
    pkg = await bring_in(spa, expires_in=timedelta(seconds=7), notices=short_notices(30, 4, 2))

    outcome = await spa.outcome(pkg)

    assert (outcome.status, outcome.forfeited_units, outcome.breakage_cents) == (
        "expired",
        3,
        90_000,
    )
    rows = await eventually(lambda: spa.ledger.entries(pkg), lambda rows: rows[-1].kind == "expiry")
    assert [r.kind for r in rows] == ["opening_balance", "reminder", "reminder", "expiry"]
    opening = rows[0]
    assert (opening.units_delta, opening.value_cents, opening.balance_after) == (3, 90_000, 3)
    assert opening.source == "import" and opening.reason == "mindbody purchase 84123"
    assert (
        "brought in from mindbody purchase 84123: 3 sessions of 6 sessions left" in opening.outcome
    )
    view = await spa.service.state(pkg)
    assert sorted(view.reminders.values()) == ["sent", "sent", "skipped"]
    reminders = [b for b in twilio.sent_to(ANA.phone or "") if "good through" in b]
    assert len(reminders) == 2 and all("3 sessions left" in b for b in reminders)


async def test_a_redemption_counts_down_from_the_opening_balance(spa: Spa) -> None:
    pkg = await bring_in(spa, expires_in=timedelta(days=200), notices=short_notices())
    handle = spa.service._client.get_workflow_handle(package_workflow_id(pkg))
    indexed = (await handle.describe()).typed_search_attributes
    assert (indexed.get(visibility.REMAINING), indexed.get(visibility.STATUS)) == (3, "active")

    answer = await spa.service.send(pkg, RedeemRequest(key="v1", appointment_id="a1"))

    assert answer.remaining == 2
    assert answer.message.startswith("Session 4 of 6 complete — 2 remaining")
    balance = await eventually(
        lambda: spa.ledger.balance(pkg), lambda b: b is not None and b.remaining == 2
    )
    assert balance.unused_value_cents == 60_000  # a third of the 90,000 taken


async def test_pace_is_judged_from_what_remains(spa: Spa) -> None:
    # 5 sessions 28 days apart cannot fit in the 60 days left: warned at once.
    pkg = await bring_in(
        spa,
        type_code=PACED.type_code,
        remaining=5,
        value=150_000,
        expires_in=timedelta(days=60),
        notices=short_notices(),
    )
    rows = await eventually(lambda: spa.ledger.entries(pkg), lambda rows: len(rows) == 2)
    assert [r.kind for r in rows] == ["opening_balance", "pace_alert"]
    view = await spa.service.state(pkg)
    assert view.snapshot.pace_at_risk


async def test_the_first_timer_waits_for_the_first_reminder_not_yet_due(spa: Spa) -> None:
    """With the spa's real policy (10:00 local): 45 days left, the 60-day reminder is past,
    so the package sleeps until the 30-day one, at 10:00 New York time."""
    notices = spa.service.notice_policy()
    pkg = await bring_in(spa, expires_in=timedelta(days=45), notices=notices)
    view = await spa.service.state(pkg)
    expires_at = view.snapshot.expires_at
    assert expires_at is not None
    [_, thirty, _] = notices.reminders
    due = schedule.reminder_instant(expires_at, thirty, notices.timezone, notices.local_hour)

    handle = spa.service._client.get_workflow_handle(package_workflow_id(pkg))
    timers = [
        e
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    first = timers[0]
    fires_at = (
        first.event_time.ToDatetime(tzinfo=UTC)
        + first.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
    )
    assert abs(fires_at - due) < timedelta(seconds=2)
    assert list(view.reminders.values()) == ["skipped"]


async def test_brought_in_expired_it_is_kept_for_the_record_and_closes(spa: Spa) -> None:
    pkg = await bring_in(spa, expires_in=timedelta(days=-30), notices=short_notices(), expired=True)
    outcome = await spa.outcome(pkg)
    assert (outcome.status, outcome.remaining, outcome.breakage_cents) == ("expired", 3, 0)
    [row] = await spa.ledger.entries(pkg)
    assert (row.kind, row.units_delta, row.value_cents) == ("opening_balance", 3, 0)
    assert await spa.messages("expired") == 0
