"""The reconciliation of a spa group: by location, each figure summing to the total, and a
report of one location alone that adds up on its own (JSON, CSV, HTML)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from activities.repository import LocationRecord, LocationRepository
from starter.packages import SaleRequest
from tests.conftest import eventually
from tests.starter.api.conftest import Api
from tests.workflows.conftest import ANA, BEN, Spa
from workflows.models import RedeemRequest

# Wide enough that "now" is inside it in New York and in Los Angeles alike.
WINDOW_DAYS = 3


def window() -> dict[str, str]:
    today: date = datetime.now(UTC).astimezone(ZoneInfo("America/New_York")).date()
    return {
        "from": str(today - timedelta(days=WINDOW_DAYS)),
        "to": str(today + timedelta(days=WINDOW_DAYS)),
    }


async def sell(spa: Spa, client_id: str, type_code: str, location_id: str | None) -> str:
    sold = await spa.service.sell(
        SaleRequest(client_id=client_id, type_code=type_code, location_id=location_id)
    )
    [package_id] = sold.package_ids
    assert await spa.service.wait_recorded(package_id)
    return package_id


async def report(api: Api, **params: str) -> dict[str, Any]:
    answer = await api.http.get(
        "/api/reports/reconciliation", params=window() | params, headers=api.manager
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


FIGURES = (
    ("sales", "packages"),
    ("sales", "value_cents"),
    ("migrated", "value_cents"),
    ("consumption", "sessions_consumed"),
    ("consumption", "consumed_value_cents"),
    ("expiries", "breakage_cents"),
    ("cancellations", "refund_due_cents"),
    ("open", "sessions_remaining"),
)


async def test_the_report_by_location_sums_to_the_total_and_each_adds_up(
    api: Api, spa: Spa
) -> None:
    before = await sell(spa, ANA.client_id, "laser6", None)  # before locations: the default's
    repo = LocationRepository(spa.pool)
    await repo.insert(
        LocationRecord(location_id="soho", name="Glow SoHo", timezone="America/New_York")
    )
    await repo.insert(
        LocationRecord(location_id="venice", name="Glow Venice", timezone="America/Los_Angeles")
    )
    soho = await sell(spa, ANA.client_id, "duo2", "soho")
    venice = await sell(spa, BEN.client_id, "laser6", "venice")
    for package_id, n in ((venice, 2), (before, 1), (soho, 1)):
        for k in range(n):
            await spa.service.send(
                package_id, RedeemRequest(key=f"v{k}", appointment_id=f"{package_id}-{k}")
            )
    await eventually(
        lambda: spa.ledger.balance(venice), lambda b: b is not None and b.remaining == 4
    )
    await spa.settled()

    whole = await report(api)
    assert whole["location"] is None
    by = {loc["location"]["location_id"]: loc for loc in whole["locations"]}
    assert list(by) == ["soho", "venice"]  # the default first
    for section, figure in FIGURES:
        assert sum(loc[section][figure] for loc in by.values()) == whole[section][figure], figure
    liability = whole["liability"]
    assert sum(loc["balance_cents"] for loc in by.values()) == liability["balance_cents"]
    assert sum(loc["at_end_cents"] for loc in by.values()) == liability["at_end_cents"]
    assert sum(loc["at_start_cents"] for loc in by.values()) == whole["previous"]["liability_cents"]
    assert liability["difference_cents"] == 0
    # SoHo holds the package sold before locations existed; Venice its own.
    assert (by["soho"]["sales"]["packages"], by["venice"]["sales"]["packages"]) == (2, 1)
    assert by["venice"]["consumption"]["sessions_consumed"] == 2
    assert by["venice"]["balance_cents"] == 4 * 180_000 // 6

    for location_id, zone in (("venice", "America/Los_Angeles"), ("soho", "America/New_York")):
        one = await report(api, location=location_id)
        assert one["location"]["location_id"] == location_id and one["locations"] == []
        assert one["period"]["timezone"] == zone  # its own days
        mine = by[location_id]
        for section, figure in FIGURES:
            assert one[section][figure] == mine[section][figure], (location_id, figure)
        li = one["liability"]
        assert (li["balance_cents"], li["ledger_cents"], li["difference_cents"]) == (
            mine["balance_cents"],
            mine["balance_cents"],
            0,
        )
        # Its roll-forward adds up: start + sold - used = end.
        assert li["at_end_cents"] - one["previous"]["liability_cents"] == (
            one["sales"]["value_cents"] - one["consumption"]["consumed_value_cents"]
        )

    as_csv = await api.http.get(
        "/api/reports/reconciliation", params=window() | {"format": "csv"}, headers=api.manager
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    sold = {
        r["measure"]: float(r["amount"])
        for r in rows
        if r["section"] == "by location" and r["measure"].endswith(": packages sold")
    }
    total = next(r for r in rows if r["measure"] == "packages sold")
    assert set(sold) == {"soho: packages sold", "venice: packages sold"}
    assert round(sum(sold.values()), 2) == float(total["amount"])

    page = await api.http.get(
        "/api/reports/reconciliation", params=window() | {"format": "html"}, headers=api.manager
    )
    assert 'data-testid="locations"' in page.text and "Glow Venice" in page.text
    assert "All locations" in page.text
    venice_page = await api.http.get(
        "/api/reports/reconciliation",
        params=window() | {"format": "html", "location": "venice"},
        headers=api.manager,
    )
    assert 'id="location"' in venice_page.text and 'data-testid="locations"' not in venice_page.text

    unknown = await api.http.get(
        "/api/reports/reconciliation", params={"location": "atlantis"}, headers=api.manager
    )
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "no location 'atlantis'")


async def test_a_spa_with_one_location_sees_no_breakdown(api: Api, spa: Spa) -> None:
    await spa.sell("laser6")
    whole = await report(api)
    assert (whole["location"], whole["locations"]) == (None, [])
    implied = await report(api, location="main")  # the one its settings imply: the same
    assert implied["sales"] == whole["sales"] and implied["location"] is None
    page = await api.http.get(
        "/api/reports/reconciliation", params=window() | {"format": "html"}, headers=api.manager
    )
    assert "By location" not in page.text and 'id="location"' not in page.text
