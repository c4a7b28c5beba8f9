"""Activation on first visit on the real stack: sold unbounded by the type's months, the
first completed visit starts the clock and the reminders; recorded in the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activities.repository import PackageTypeRepository
from starter.api.desk_view import desk_package
from starter.packages import SaleRequest
from tests.conftest import eventually
from tests.workflows.conftest import ANA, LASER, Spa
from workflows import schedule
from workflows.models import RedeemRequest

FIRST_VISIT = LASER.model_copy(
    update={
        "type_code": "act6",
        "expiry_starts": "first_visit",
        "expiry_months": 6,
        "max_unused_months": 24,
    }
)


async def sell_first_visit(spa: Spa) -> str:
    await PackageTypeRepository(spa.pool).upsert(FIRST_VISIT)
    result = await spa.service.sell(
        SaleRequest(client_id=ANA.client_id, type_code="act6", purchased_at=datetime.now(UTC))
    )
    [pkg] = result.package_ids
    assert await spa.service.wait_recorded(pkg)
    return pkg


async def test_the_first_visit_starts_the_expiry_clock_and_the_reminders(spa: Spa) -> None:
    zone = spa.service.notice_policy().timezone
    today = datetime.now(schedule.zone(zone)).date()
    pkg = await sell_first_visit(spa)
    unused = await spa.service.state(pkg)
    assert unused.snapshot.expires_at is not None
    assert schedule.good_through(unused.snapshot.expires_at, zone) == schedule.add_months(today, 24)
    assert unused.planned_reminders == {}
    row = await spa.ledger.balance(pkg)
    assert row is not None and row.awaiting_activation
    card = desk_package(row, now=datetime.now(UTC), timezone=zone)
    assert "not_started" in {w.code for w in card.warnings}

    visit_day = today + timedelta(days=1)
    await spa.service.send(
        pkg, RedeemRequest(key="k1", appointment_id="a1", service_date=visit_day)
    )
    used = await spa.service.state(pkg)
    assert used.snapshot.expires_at is not None
    assert schedule.good_through(used.snapshot.expires_at, zone) == schedule.add_months(
        visit_day, 6
    )
    assert {key.split("@")[0] for key in used.planned_reminders} == {"60d", "30d", "14d"}
    rows = await eventually(lambda: spa.ledger.entries(pkg), lambda rows: len(rows) == 3)
    assert [r.kind for r in rows] == ["sale", "redemption", "activation"]
    balance = await spa.ledger.balance(pkg)
    assert balance is not None and balance.expires_at == used.snapshot.expires_at
    assert not balance.awaiting_activation
    card = desk_package(balance, now=datetime.now(UTC), timezone=zone)
    assert "not_started" not in {w.code for w in card.warnings}
