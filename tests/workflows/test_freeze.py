"""Freeze / pause on the real stack: the expiry and every pending reminder move by the
frozen span, redemptions and check-ins are refused while frozen, an early unfreeze takes
the unused days back, and the ledger records both."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from activities.intake import VisitGateway
from activities.repository import PackageTypeRepository, ServiceMapping
from starter.packages import Refused
from tests.conftest import eventually
from tests.workflows.conftest import ANA, LASER, Spa
from workflows import schedule
from workflows.models import (
    AppointmentNotice,
    FreezeRequest,
    RedeemRequest,
    UnfreezeRequest,
)
from workflows.visit_models import Platform, VisitChange, VisitEvent


def today(spa: Spa) -> date:
    return datetime.now(schedule.zone(spa.service.notice_policy().timezone)).date()


def local_days(planned: dict[str, datetime], zone: str) -> dict[str, date]:
    """Planned reminders by label ("60d"), each as its local day."""
    return {
        key.split("@")[0]: due.astimezone(schedule.zone(zone)).date()
        for key, due in planned.items()
    }


async def test_a_30_day_freeze_moves_the_expiry_and_every_reminder_by_30_days(spa: Spa) -> None:
    zone = spa.service.notice_policy().timezone
    [pkg] = await spa.sell("laser6", expires_in=timedelta(days=200))
    before = await spa.service.state(pkg)
    assert before.snapshot.expires_at is not None
    assert set(local_days(before.planned_reminders, zone)) == {"60d", "30d", "14d"}

    first = today(spa)
    answer = await spa.service.send(
        pkg,
        FreezeRequest(
            key="f1", until=first + timedelta(days=29), reason="medical leave", actor="mgr"
        ),
    )
    assert answer.outcome == "frozen"
    after = await spa.service.state(pkg)
    assert after.snapshot.frozen_through == first + timedelta(days=29)
    assert after.snapshot.expires_at is not None
    assert schedule.good_through(after.snapshot.expires_at, zone) == schedule.good_through(
        before.snapshot.expires_at, zone
    ) + timedelta(days=30)
    moved = local_days(after.planned_reminders, zone)
    assert moved == {
        label: day + timedelta(days=30)
        for label, day in local_days(before.planned_reminders, zone).items()
    }
    # Nothing fires before the freeze ends: the one timer waits for its end.
    assert after.next_deadline == schedule.ends_after(first + timedelta(days=29), zone)

    rows = await eventually(lambda: spa.ledger.entries(pkg), lambda rows: len(rows) == 2)
    assert [r.kind for r in rows] == ["sale", "freeze"]
    assert (rows[1].units_delta, rows[1].actor, rows[1].reason) == (0, "mgr", "medical leave")
    assert "expiry moved from" in rows[1].outcome
    balance = await eventually(
        lambda: spa.ledger.balance(pkg), lambda row: row is not None and row.frozen_through
    )
    assert balance is not None and balance.frozen_through == first + timedelta(days=29)
    assert balance.expires_at == after.snapshot.expires_at


async def test_redemptions_and_check_ins_are_refused_while_frozen(spa: Spa) -> None:
    [pkg] = await spa.sell("laser6", expires_in=timedelta(days=200))
    until = today(spa) + timedelta(days=13)
    await spa.service.send(pkg, FreezeRequest(key="f1", until=until, reason="pregnancy"))
    with pytest.raises(Refused, match=r"PackageFrozen.*frozen through") as refused:
        await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    assert refused.value.rule == "PackageFrozen"
    assert until.strftime("%b %d, %Y") in str(refused.value)
    with pytest.raises(Refused, match="PackageFrozen"):
        await spa.service.send(
            pkg, AppointmentNotice(key="n1", appointment_id="a1", change="checked_in")
        )
    # A booking for after the freeze is fine.
    await spa.service.send(pkg, AppointmentNotice(key="b1", appointment_id="a2", change="booked"))
    with pytest.raises(Refused, match="cannot freeze it"):
        await spa.service.send(pkg, FreezeRequest(key="f2", until=until, reason="again"))
    assert (await spa.service.state(pkg)).snapshot.remaining == 6


async def test_an_early_unfreeze_gives_back_the_unused_days_and_redemptions_resume(
    spa: Spa,
) -> None:
    zone = spa.service.notice_policy().timezone
    [pkg] = await spa.sell("laser6", expires_in=timedelta(days=200))
    before = await spa.service.state(pkg)
    await spa.service.send(
        pkg, FreezeRequest(key="f1", until=today(spa) + timedelta(days=29), reason="leave")
    )
    answer = await spa.service.send(pkg, UnfreezeRequest(key="u1", reason="back early", actor="m"))
    # Unfrozen the day it froze: no day used, all 30 come back.
    assert answer.outcome == "unfrozen"
    assert "after 0 days" in answer.message
    view = await spa.service.state(pkg)
    assert view.snapshot.frozen_through is None
    assert view.snapshot.expires_at == before.snapshot.expires_at
    assert local_days(view.planned_reminders, zone) == local_days(before.planned_reminders, zone)
    with pytest.raises(Refused, match="NotFrozen"):
        await spa.service.send(pkg, UnfreezeRequest(key="u2"))
    redeemed = await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    assert redeemed.remaining == 5
    rows = await eventually(lambda: spa.ledger.entries(pkg), lambda rows: len(rows) == 4)
    assert [(r.kind, r.units_delta) for r in rows] == [
        ("sale", 6),
        ("freeze", 0),
        ("unfreeze", 0),
        ("redemption", -1),
    ]
    assert (rows[2].actor, rows[2].reason) == ("m", "back early")
    balance = await spa.ledger.balance(pkg)
    assert balance is not None and balance.frozen_through is None


async def test_a_freeze_longer_than_the_type_allows_is_refused_naming_the_maximum(
    spa: Spa,
) -> None:
    types = PackageTypeRepository(spa.pool)
    await types.upsert(LASER.model_copy(update={"type_code": "short7", "max_freeze_days": 7}))
    await types.upsert(LASER.model_copy(update={"type_code": "nofreeze", "max_freeze_days": 0}))
    [short] = await spa.sell("short7")
    [never] = await spa.sell("nofreeze")
    with pytest.raises(Refused, match=r"FreezeTooLong.*8 days is longer than the 7 days"):
        await spa.service.send(
            short, FreezeRequest(key="f1", until=today(spa) + timedelta(days=7), reason="x")
        )
    ok = await spa.service.send(
        short, FreezeRequest(key="f2", until=today(spa) + timedelta(days=6), reason="x")
    )
    assert ok.outcome == "frozen"
    with pytest.raises(Refused, match="FreezeNotAllowed"):
        await spa.service.send(never, FreezeRequest(key="f1", until=today(spa), reason="x"))


async def test_a_visit_skips_a_frozen_package_for_another_that_covers_it(spa: Spa) -> None:
    [frozen] = await spa.sell("laser6")
    # Also covers laser but expires much later: routed only when the first is refused.
    [other] = await spa.sell("paced6", expires_in=timedelta(days=600))
    await spa.service.catalog.upsert(
        ServiceMapping(platform="*", service_key="Laser", category="laser")
    )
    await spa.service.send(
        frozen, FreezeRequest(key="f1", until=today(spa) + timedelta(days=9), reason="leave")
    )
    gateway = VisitGateway(
        spa.service._client, task_queue=spa.service._settings.visit_queue, idle_days=30
    )
    await gateway.submit(
        VisitEvent(
            event_key="e1",
            platform=Platform.BOULEVARD,
            appointment_id="v1",
            change=VisitChange.COMPLETED,
            client_id=ANA.client_id,
            service_name="Laser",
            occurred_at=datetime.now(UTC),
        )
    )
    await eventually(
        lambda: spa.ledger.balance(other), lambda row: row is not None and row.remaining == 5
    )
    row = await spa.ledger.balance(frozen)
    assert row is not None and row.remaining == 6
