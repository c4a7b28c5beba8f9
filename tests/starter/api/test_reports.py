"""Reports through the API: manager only; the reconciliation as JSON, CSV and HTML; the
overrun audit of an uploaded export, stored and shown in the next reconciliation."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from tests.conftest import eventually
from tests.starter.api.conftest import Api
from tests.workflows.conftest import Spa
from workflows.models import RedeemRequest

OPEN_LIABILITY = (
    "SELECT coalesce(sum(unused_value_cents), 0) FROM packages "
    "WHERE status IN ('active', 'in_review')"
)


def today() -> date:
    return datetime.now(UTC).astimezone(ZoneInfo("America/New_York")).date()


async def test_reports_are_for_managers_only(api: Api, spa: Spa) -> None:
    for method, path in (
        ("GET", "/api/reports/reconciliation"),
        ("POST", "/api/reports/overruns"),
        ("GET", "/api/reports"),
    ):
        anonymous = await api.http.request(method, path, content=b"x")
        assert anonymous.status_code == 401, path
        desk = await api.http.request(method, path, content=b"x", headers=api.desk)
        assert desk.status_code == 403, path
        assert "only a manager" in desk.json()["detail"]


async def test_reconciliation_as_json_csv_and_html(api: Api, spa: Spa, pool: asyncpg.Pool) -> None:
    [laser] = await spa.sell("laser6")
    await spa.sell("duo2")
    await spa.service.send(laser, RedeemRequest(key="v1", appointment_id="a1"))
    await eventually(
        lambda: spa.ledger.balance(laser), lambda b: b is not None and b.remaining == 5
    )
    window = {"from": str(today() - timedelta(days=1)), "to": str(today())}

    answer = await api.http.get("/api/reports/reconciliation", params=window, headers=api.manager)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["liability"]["balance_cents"] == await pool.fetchval(OPEN_LIABILITY) == 180_000
    assert report["liability"]["ledger_cents"] == 180_000
    assert report["liability"]["difference_cents"] == 0
    assert report["sales"]["packages"] == 2 and report["consumption"]["sessions_consumed"] == 1
    assert report["period"]["timezone"] == "America/New_York"

    as_csv = await api.http.get(
        "/api/reports/reconciliation", params={**window, "format": "csv"}, headers=api.manager
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = {(r["section"], r["measure"]): r for r in csv.DictReader(io.StringIO(as_csv.text))}
    assert rows[("liability", "total liability (open packages)")]["amount"] == "1800.00"

    page = await api.http.get(
        "/api/reports/reconciliation", params={**window, "format": "html"}, headers=api.manager
    )
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.count('<svg role="img"') == 1 and "$1,800.00" in page.text


async def test_a_bad_period_is_named(api: Api, spa: Spa) -> None:
    backwards = await api.http.get(
        "/api/reports/reconciliation",
        params={"from": "2026-03-08", "to": "2026-03-02"},
        headers=api.manager,
    )
    assert backwards.status_code == 400
    assert (
        backwards.json()["detail"] == "the period ends (2026-03-02) before it starts (2026-03-08)"
    )
    half = await api.http.get(
        "/api/reports/reconciliation", params={"to": "2026-03-02"}, headers=api.manager
    )
    assert half.status_code == 400 and "start date" in half.json()["detail"]
    nonsense = await api.http.get(
        "/api/reports/reconciliation", params={"from": "last tuesday"}, headers=api.manager
    )
    assert nonsense.status_code == 422 and nonsense.json()["detail"].startswith("query.from")
    far = await api.http.get(
        "/api/reports/reconciliation", params={"from": "9999-12-31"}, headers=api.manager
    )
    assert far.status_code == 400


def export() -> str:
    """Eight laser visits for Ana (6 bought), and rows the audit must name, not drop."""
    day = today()
    lines = ["Appointment ID,Client ID,Service,Date,Status"]
    lines += [
        f"A-{n},c-ana,Laser - Full Face,{day - timedelta(days=3 * n + 1)},Completed"
        for n in range(8)
    ]
    lines += [
        f"A-90,c-nobody,Laser - Full Face,{day - timedelta(days=2)},Completed",  # line 10
        "A-91,c-ana,Laser - Full Face,31/31/2026,Completed",  # line 11
        f"A-92,c-ana,Laser - Full Face,{day - timedelta(days=2)},Exploded",  # line 12
        f"A-93,c-ana,Laser - Full Face,{day + timedelta(days=5)},Booked",  # line 13: skipped
        f"A-94,c-ana,Laser - Full Face,{day - timedelta(days=200)},Completed",  # line 14: old
    ]
    return "\n".join(lines) + "\n"


async def test_overrun_audit_of_an_export(api: Api, spa: Spa) -> None:
    await spa.sell("laser6")  # $1,800 for 6 sessions: $300 each

    answer = await api.http.post(
        "/api/reports/overruns",
        content=export().encode(),
        headers={**api.manager, "content-type": "text/csv"},
    )

    assert answer.status_code == 200, answer.text
    audit = answer.json()
    [over] = audit["overruns"]
    assert (over["client_id"], over["category"], over["visits"], over["excess"]) == (
        "c-ana",
        "laser",
        8,
        2,
    )
    assert (over["client_name"], over["value_cents"]) == ("Ana Test", 60_000)
    assert [(u["reference"], u["lines"]) for u in audit["unknown_clients"]] == [("c-nobody", [10])]
    assert [e["line"] for e in audit["errors"]] == [11, 12]
    assert "date" in audit["errors"][0]["message"] and "status" in audit["errors"][1]["message"]
    assert (audit["outside_window"], audit["skipped_rows"]) == (1, 1)

    # Stored: listed, readable as CSV, and shown in the reconciliation.
    listed = await api.http.get("/api/reports?kind=overrun_audit", headers=api.manager)
    assert [r["report_id"] for r in listed.json()] == [audit["report_id"]]
    stored = await api.http.get(
        f"/api/reports/{audit['report_id']}?format=csv", headers=api.manager
    )
    [row, unknown] = list(csv.DictReader(io.StringIO(stored.text)))
    assert (row["client_id"], row["excess"], row["excess_value"]) == ("c-ana", "2", "600.00")
    assert unknown["note"] == "unknown client, lines 10"
    report = await api.http.get("/api/reports/reconciliation", headers=api.manager)
    latest = report.json()["overruns"]["latest_audit"]
    assert latest["report_id"] == audit["report_id"]
    assert (latest["clients"], latest["excess_sessions"], latest["value_cents"]) == (1, 2, 60_000)
    missing = await api.http.get("/api/reports/no-such-report", headers=api.manager)
    assert missing.status_code == 404


async def test_an_export_without_the_needed_columns_is_refused(api: Api, spa: Spa) -> None:
    answer = await api.http.post(
        "/api/reports/overruns",
        content=b"Name,Favourite colour\nAna,blue\n",
        headers={**api.manager, "content-type": "text/csv"},
    )
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("line 1: the header lacks an appointment id column")
    empty = await api.http.post("/api/reports/overruns", content=b"", headers=api.manager)
    assert empty.status_code == 400 and "empty" in empty.json()["detail"]
