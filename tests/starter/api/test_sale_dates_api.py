"""A package bought in another system, sold with its real dates: a manager may backdate,
reminders already due are skipped rather than sent late, the rest planned for the real
expiry; impossible days are refused by field."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.conftest import eventually
from tests.starter.api.conftest import Api
from tests.workflows.conftest import ANA, LASER, Spa
from workers.settings import Settings
from workflows import schedule


def spa_today(settings: Settings) -> date:
    return datetime.now(ZoneInfo(settings.spa_timezone)).date()


async def test_a_manager_sells_with_the_real_purchase_and_expiry_days(
    api: Api, spa: Spa, settings: Settings
) -> None:
    today = spa_today(settings)
    bought, last_day = today - timedelta(days=300), today + timedelta(days=20)
    sale = {
        "client_id": ANA.client_id,
        "type_code": LASER.type_code,
        "purchase_id": "old-system-4711",
        "purchased_on": str(bought),
        "expires_on": str(last_day),
    }
    desk = await api.http.post("/api/sales", json=sale, headers=api.desk)
    assert (desk.status_code, desk.json()["detail"]) == (
        403,
        "only a manager may sell with a purchase date in the past (fd is front desk)",
    )
    sold = await api.http.post("/api/sales", json=sale, headers=api.manager)
    assert sold.status_code == 201, sold.text

    card = await eventually(
        lambda: api.http.get("/api/packages/old-system-4711", headers=api.desk),
        lambda r: r.status_code == 200,
    )
    assert card.json()["expires_on"] == str(last_day)
    row = await spa.ledger.balance("old-system-4711")
    assert row is not None and row.expires_at is not None
    assert row.purchased_at.astimezone(ZoneInfo(settings.spa_timezone)).date() == bought
    assert row.expires_at == schedule.ends_after(last_day, settings.spa_timezone)
    history = (await api.http.get("/api/packages/old-system-4711/history", headers=api.desk)).json()
    assert [(line["kind"], line["day"]) for line in history] == [("sale", str(bought))]

    # 60 and 30 days before the real expiry are past: skipped, not sent late; 14 days waits.
    view = await spa.service.state("old-system-4711")
    assert sorted(view.reminders.values()) == ["skipped", "skipped"]
    assert {key.split("@")[0] for key in view.reminders} == {"60d", "30d"}
    await spa.settled()
    assert await spa.messages("reminder") == 0

    # The same purchase again changes nothing.
    again = await api.http.post("/api/sales", json=sale, headers=api.manager)
    assert again.status_code == 201 and again.json()["already_sold"] is True


async def test_impossible_sale_days_are_422s_naming_the_field(
    api: Api, spa: Spa, settings: Settings
) -> None:
    today = spa_today(settings)
    base = {"client_id": ANA.client_id, "type_code": LASER.type_code}
    for extra, detail in (
        (
            {"purchased_on": str(today + timedelta(days=1))},
            f"purchased_on: {today + timedelta(days=1)} is after today ({today})",
        ),
        (
            {"expires_on": str(today - timedelta(days=1))},
            f"expires_on: {today - timedelta(days=1)} has passed: a sale cannot start expired",
        ),
        (
            # Twelve months from a purchase two years ago: already over.
            {"purchased_on": str(today - timedelta(days=800))},
            "expires_on: the package would be good through "
            f"{schedule.add_months(today - timedelta(days=800), 12)}, which is past: "
            "a sale cannot start expired",
        ),
        (
            {"expires_on": "3000-01-01"},
            "expires_on: Input should be less than or equal to 2999-12-31",
        ),
    ):
        refused = await api.http.post("/api/sales", json=base | extra, headers=api.manager)
        assert (refused.status_code, refused.json()["detail"]) == (422, detail), extra
    assert await spa.ledger.balances_for_client(ANA.client_id) == []

    # The desk sells today with a last day of its own (any future day).
    sold = await api.http.post(
        "/api/sales",
        json=base | {"purchased_on": str(today), "expires_on": str(today + timedelta(days=90))},
        headers=api.desk,
    )
    assert sold.status_code == 201, sold.text


async def test_extend_only_lengthens_and_a_manager_corrects_a_wrong_expiry(
    api: Api, spa: Spa, settings: Settings
) -> None:
    today = spa_today(settings)
    typed, right = today + timedelta(days=300), today + timedelta(days=40)
    sold = await api.http.post(
        "/api/sales",
        json={
            "client_id": ANA.client_id,
            "type_code": LASER.type_code,
            "purchase_id": "typo-1",
            "expires_on": str(typed),
        },
        headers=api.desk,
    )
    assert sold.status_code == 201, sold.text
    await eventually(lambda: spa.ledger.balance("typo-1"), lambda row: row is not None)
    body = {"new_expires_on": str(right), "reason": "expiry typed wrong at import"}

    shorter = await api.http.post("/api/packages/typo-1/extend", json=body, headers=api.manager)
    assert shorter.status_code == 409
    assert shorter.json()["detail"].startswith("refused (BadExpiry): an extension only lengthens")
    desk = await api.http.post("/api/packages/typo-1/correct-expiry", json=body, headers=api.desk)
    assert desk.status_code == 403
    past = await api.http.post(
        "/api/packages/typo-1/correct-expiry",
        json=body | {"new_expires_on": str(today - timedelta(days=1))},
        headers=api.manager,
    )
    assert past.status_code == 409 and "not in the future" in past.json()["detail"]

    fixed = await api.http.post(
        "/api/packages/typo-1/correct-expiry", json=body, headers=api.manager
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["outcome"] == "corrected"
    card = await eventually(
        lambda: api.http.get("/api/packages/typo-1", headers=api.desk),
        lambda r: r.json()["expires_on"] == str(right),
    )
    assert card.status_code == 200
    history = (await api.http.get("/api/packages/typo-1/history", headers=api.desk)).json()
    assert [(line["kind"], line["reason"]) for line in history] == [
        ("sale", None),
        ("expiry_correction", "expiry typed wrong at import"),
    ]
    # Reminders follow the new day: the 60- and 30-day ones are keyed to it.
    view = await spa.service.state("typo-1")
    ends = schedule.ends_after(right, settings.spa_timezone)
    assert {key for key in view.reminders if key.endswith(ends.isoformat())} == {
        f"60d@{ends.isoformat()}"
    }
