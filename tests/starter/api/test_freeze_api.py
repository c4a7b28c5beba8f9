"""Freeze through the API: manager only, bounded by the type (a 422 naming the maximum),
the desk card says frozen until when, and the expiry moves by the span."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.conftest import eventually
from tests.starter.api.conftest import Api
from tests.workflows.conftest import ANA, LASER, Spa
from workers.settings import Settings


def spa_today(settings: Settings) -> date:
    return datetime.now(ZoneInfo(settings.spa_timezone)).date()


async def test_a_manager_freezes_for_30_days_and_the_desk_sees_it(
    api: Api, spa: Spa, settings: Settings
) -> None:
    today = spa_today(settings)
    last_day = today + timedelta(days=100)
    sold = await api.http.post(
        "/api/sales",
        json={
            "client_id": ANA.client_id,
            "type_code": LASER.type_code,
            "purchase_id": "fz-1",
            "expires_on": str(last_day),
        },
        headers=api.desk,
    )
    assert sold.status_code == 201, sold.text
    await eventually(lambda: spa.ledger.balance("fz-1"), lambda row: row is not None)
    body = {"days": 30, "reason": "medical leave"}

    desk = await api.http.post("/api/packages/fz-1/freeze", json=body, headers=api.desk)
    assert desk.status_code == 403
    too_long = await api.http.post(
        "/api/packages/fz-1/freeze", json={"days": 91, "reason": "x"}, headers=api.manager
    )
    assert too_long.status_code == 422
    assert "longer than the 90 days" in too_long.json()["detail"]

    frozen = await api.http.post("/api/packages/fz-1/freeze", json=body, headers=api.manager)
    assert frozen.status_code == 200, frozen.text
    assert frozen.json()["outcome"] == "frozen"
    through = today + timedelta(days=29)
    card = await eventually(
        lambda: api.http.get("/api/packages/fz-1", headers=api.desk),
        lambda r: r.json().get("frozen_through") == str(through),
    )
    assert card.json()["expires_on"] == str(last_day + timedelta(days=30))
    [warning] = [w for w in card.json()["warnings"] if w["code"] == "frozen"]
    assert warning["message"].startswith(f"Frozen until {through:%b} {through.day}, {through.year}")

    unfrozen = await api.http.post(
        "/api/packages/fz-1/unfreeze", json={"reason": "back early"}, headers=api.manager
    )
    assert unfrozen.status_code == 200, unfrozen.text
    again = await api.http.post(
        "/api/packages/fz-1/unfreeze", json={"reason": "back early"}, headers=api.manager
    )
    assert again.status_code == 409 and "NotFrozen" in again.json()["detail"]
    card = await eventually(
        lambda: api.http.get("/api/packages/fz-1", headers=api.desk),
        lambda r: r.json()["frozen_through"] is None,
    )
    assert card.json()["expires_on"] == str(last_day)
    history = (await api.http.get("/api/packages/fz-1/history", headers=api.desk)).json()
    assert [(line["kind"], line["reason"]) for line in history] == [
        ("sale", None),
        ("freeze", "medical leave"),
        ("unfreeze", "back early"),
    ]
