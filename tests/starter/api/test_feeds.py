"""The BI feeds: read with a report token (header or ?token=), refused without one, with a
revoked one and with a staff token; their tables add up to the reconciliation's figures."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import asyncpg

from activities.reports import ReportStore
from activities.reports.models import OverrunAudit, OverrunLine
from tests.activities.report_data import seed_week
from tests.starter.api.conftest import Api
from tests.workflows.conftest import Spa

WEEK = {"period": "2026-W10"}  # Mon, Mar 2 to Sun, Mar 8, 2026: tests.activities.report_data


async def issue(api: Api, name: str = "Power BI, finance") -> str:
    answer = await api.http.post("/api/reports/tokens", json={"name": name}, headers=api.manager)
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["token"]
    return token


async def test_a_report_token_reads_the_feeds_and_nothing_else_does(
    api: Api, spa: Spa, pool: asyncpg.Pool
) -> None:
    await seed_week(pool)
    # Only a manager issues report tokens.
    assert (await api.http.post("/api/reports/tokens", json={"name": "x"})).status_code == 401
    desk = await api.http.post("/api/reports/tokens", json={"name": "x"}, headers=api.desk)
    assert desk.status_code == 403
    token = await issue(api)
    assert token.startswith("pcr_") and len(token) > 40
    bearer = {"Authorization": f"Bearer {token}"}

    # The reconciliation as CSV, by header; the same by ?token= (Power BI's Web API key).
    answer = await api.http.get("/feeds/reconciliation.csv", params=WEEK, headers=bearer)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert list(rows[0]) == [
        "period_start",
        "period_end",
        "section",
        "measure",
        "count",
        "sessions",
        "amount",
        "detail",
    ]
    cells = {(r["section"], r["measure"]): r for r in rows}
    assert cells[("liability", "total liability (open packages)")]["amount"] == "2900.00"
    assert cells[("sold", "packages sold")]["amount"] == "3300.00"
    assert {(r["period_start"], r["period_end"]) for r in rows} == {("2026-03-02", "2026-03-08")}
    by_query = await api.http.get("/feeds/reconciliation.csv", params={**WEEK, "token": token})
    assert by_query.status_code == 200 and by_query.text == answer.text

    # Liability by category and by location: each adds up to the liability.
    liability = await api.http.get("/feeds/liability.json", params=WEEK, headers=bearer)
    assert liability.status_code == 200
    records = liability.json()
    by_category = {r["name"]: r["liability"] for r in records if r["dimension"] == "category"}
    assert by_category == {
        "injectables": 1250.0,
        "laser": 1200.0,
        "facial": 400.0,
        "uncategorised": 50.0,
    }
    locations = [r["liability"] for r in records if r["dimension"] == "location"]
    assert sum(by_category.values()) == sum(locations) == 2900.0

    # Refused: no token, a staff token (even a manager's), an unknown one.
    for headers, params in (
        ({}, WEEK),
        (api.manager, WEEK),
        ({}, {**WEEK, "token": api.manager["Authorization"].removeprefix("Bearer ")}),
        ({"Authorization": "Bearer pcr_not-a-token"}, WEEK),
    ):
        refused = await api.http.get("/feeds/reconciliation.json", params=params, headers=headers)
        assert refused.status_code == 401, (headers, params)
        assert refused.headers["www-authenticate"].startswith("Bearer")

    # Listed without its secret, stored only as a hash; revoked, it is refused at once.
    listed = (await api.http.get("/api/reports/tokens", headers=api.manager)).json()
    [entry] = listed
    assert entry["name"] == "Power BI, finance" and "token" not in entry
    assert entry["last_used_at"] is not None
    stored = await pool.fetchrow("SELECT * FROM report_tokens")
    assert token not in " ".join(str(v) for v in stored.values())
    assert (await api.http.delete(f"/api/reports/tokens/{entry['token_id']}")).status_code == 401
    revoked = await api.http.delete(f"/api/reports/tokens/{entry['token_id']}", headers=api.manager)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    for headers, params in ((bearer, WEEK), ({}, {**WEEK, "token": token})):
        refused = await api.http.get("/feeds/liability.csv", params=params, headers=headers)
        assert refused.status_code == 401
    missing = await api.http.delete("/api/reports/tokens/rt_nope", headers=api.manager)
    assert missing.status_code == 404


async def test_the_overrun_feed_is_the_latest_audits_list_and_periods_are_named(
    api: Api, spa: Spa, pool: asyncpg.Pool
) -> None:
    bearer = {"Authorization": f"Bearer {await issue(api)}"}
    empty = await api.http.get("/feeds/overruns.csv", headers=bearer)
    assert empty.status_code == 200
    assert empty.text.splitlines() == [
        "audit_id,window_start,window_end,client_id,client_name,category,visits,"
        "sessions_available,excess,session_value,excess_value"
    ]
    store = ReportStore(pool)
    for n, excess in ((1, 1), (2, 2)):  # the second audit is the newer
        audit = OverrunAudit(
            report_id=f"overruns-{n}",
            generated_at=datetime(2026, 3, 10 + n, 12, tzinfo=UTC),
            platform="csv",
            window_start=date(2026, 3, 1),
            window_end=date(2026, 3, 8),
            visits_read=5,
            counted=5,
            overruns=[
                OverrunLine(
                    client_id="c-ana",
                    client_name="Ana",
                    category="laser",
                    visits=4 + excess,
                    available=4,
                    excess=excess,
                    session_value_cents=30_000,
                    value_cents=30_000 * excess,
                )
            ],
        )
        await store.save(
            report_id=audit.report_id,
            kind="overrun_audit",
            period_start=audit.generated_at,
            period_end=audit.generated_at,
            generated_at=audit.generated_at,
            generated_by="test",
            summary=audit.model_dump_json(),
            csv="",
            html=None,
        )
    latest = await api.http.get("/feeds/overruns.json", headers=bearer)
    assert latest.json() == [
        {
            "audit_id": "overruns-2",
            "window_start": "2026-03-01",
            "window_end": "2026-03-08",
            "client_id": "c-ana",
            "client_name": "Ana",
            "category": "laser",
            "visits": 6,
            "sessions_available": 4,
            "excess": 2,
            "session_value": 300.0,
            "excess_value": 600.0,
        }
    ]

    # Periods: an ISO week, days, or last week; anything else is named back.
    days = await api.http.get(
        "/feeds/reconciliation.json", params={"period": "2026-03-02..2026-03-08"}, headers=bearer
    )
    assert {r["period_start"] for r in days.json()} == {"2026-03-02"}
    last_week = await api.http.get("/feeds/reconciliation.json", headers=bearer)
    assert last_week.status_code == 200
    for bad in ("2026-W54", "March", "2026-03-08..2026-03-02"):
        refused = await api.http.get(
            "/feeds/reconciliation.csv", params={"period": bad}, headers=bearer
        )
        assert refused.status_code == 400, bad
    assert (await api.http.get("/feeds/nothing.csv", headers=bearer)).status_code == 422
