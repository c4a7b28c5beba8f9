"""Moving in through the API alone: clients and open packages imported as jobs (manager),
followed to the end, then redeemed by a Boulevard webhook and read in the reconciliation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.conftest import eventually
from tests.starter.api.conftest import Api
from tests.starter.api.payloads import boulevard_event, signed_boulevard
from tests.workflows.conftest import Spa
from workflows import schedule

TZ = "America/New_York"
DANA_BLVD = "8e8e8e8e-0000-4000-8000-0000000000d1"
CSV = {"content-type": "text/csv"}


def day(offset: int) -> str:
    today: date = datetime.now(UTC).astimezone(schedule.zone(TZ)).date()
    return (today + timedelta(days=offset)).isoformat()


async def finished(api: Api, job_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        answer = await api.http.get(f"/api/imports/{job_id}", headers=api.manager)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    return await eventually(probe, lambda job: job["status"] != "running", timeout=60)


async def test_a_spa_moves_in_through_the_api_and_a_webhook_redeems_what_came_in(
    api: Api, spa: Spa
) -> None:
    clients = (
        "Client ID,First Name,Last Name,Mobile Phone,Email\n"
        f"{DANA_BLVD},Dana,Lopez,(212) 555-0143,dana@example.com\n"
        ",Nameless,,,\n"
    )
    desk = await api.http.post(
        "/api/imports/clients",
        params={"format": "boulevard"},
        content=clients,
        headers={**api.desk, **CSV},
    )
    assert desk.status_code == 403

    started = await api.http.post(
        "/api/imports/clients",
        params={"format": "boulevard"},
        content=clients,
        headers={**api.manager, **CSV},
    )
    assert started.status_code == 202, started.text
    job = await finished(api, started.json()["job_id"])
    assert job["status"] == "done" and (job["rows_total"], job["rows_done"]) == (2, 2)
    assert job["counts"]["created"] == 1 and job["counts"]["refused"] == 1
    [created, refused] = job["lines"]
    assert (created["line"], created["outcome"]) == (2, "created")
    assert (refused["line"], refused["outcome"]) == (3, "refused")
    assert "no boulevard client id" in refused["message"]
    dana = created["ref"]

    packages = (
        "Client ID,Package Type,Purchase Date,Expiry Date,Sessions Bought,Sessions Remaining,"
        "Price Paid,Purchase ID\n"
        f"{DANA_BLVD.upper()},laser6,{day(-150)},{day(120)},6,3,1650,blvd-v1\n"
        f"urn:blvd:Client:{DANA_BLVD},laser6,{day(-150)},{day(-1)},6,2,1650,blvd-v2\n"
    )
    dry = await api.http.post(
        "/api/imports/packages",
        params={"format": "boulevard", "dry_run": "true"},
        content=packages,
        headers={**api.manager, **CSV},
    )
    assert dry.status_code == 202
    dry_job = await finished(api, dry.json()["job_id"])
    assert dry_job["dry_run"] and dry_job["counts"]["created"] == 1
    assert await spa.ledger.balance("imp-boulevard-blvd-v1") is None

    started = await api.http.post(
        "/api/imports/packages",
        params={"format": "boulevard"},
        content=packages,
        headers={**api.manager, **CSV},
    )
    job = await finished(api, started.json()["job_id"])
    assert {line["line"]: line["outcome"] for line in job["lines"]} == {2: "created", 3: "refused"}
    assert "expired on" in job["lines"][1]["message"]
    problems = await api.http.get(
        f"/api/imports/{job['job_id']}", params={"problems_only": "true"}, headers=api.manager
    )
    assert [line["line"] for line in problems.json()["lines"]] == [3]

    package = "imp-boulevard-blvd-v1"
    balance = await spa.ledger.balance(package)
    assert balance is not None and (balance.client_id, balance.remaining) == (dana, 3)
    assert balance.unused_value_cents == 82_500  # 3 of 6 sessions of $1,650

    event = boulevard_event(
        "APPOINTMENT_COMPLETED", "moved-in-1", client_urn=f"urn:blvd:Client:{DANA_BLVD}"
    )
    body, headers = signed_boulevard(event)
    answer = await api.http.post("/webhooks/boulevard", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    after = await eventually(
        lambda: spa.ledger.balance(package), lambda b: b is not None and b.remaining == 2
    )
    assert after.unused_value_cents == 55_000
    kinds = [e.kind for e in await spa.ledger.entries(package)]
    assert kinds == ["opening_balance", "redemption"]

    window = {"from": day(-1), "to": day(0)}
    report = (
        await api.http.get("/api/reports/reconciliation", params=window, headers=api.manager)
    ).json()
    assert report["sales"]["packages"] == 0
    assert report["migrated"] == {
        "packages": 1,
        "value_cents": 82_500,
        "sessions": 3,
        "credit_cents": 0,
    }
    assert report["liability"]["difference_cents"] == 0
    assert report["liability"]["balance_cents"] == 55_000

    jobs = (await api.http.get("/api/imports", headers=api.manager)).json()
    assert [(j["kind"], j["dry_run"], j["status"]) for j in jobs] == [
        ("packages", False, "done"),
        ("packages", True, "done"),
        ("clients", False, "done"),
    ]
    assert all(j["lines"] == [] for j in jobs)


async def test_an_unknown_job_is_a_404_and_a_bad_column_mapping_a_422(api: Api) -> None:
    missing = await api.http.get("/api/imports/cli_nope", headers=api.manager)
    assert missing.status_code == 404
    bad = await api.http.post(
        "/api/imports/clients",
        params={"column": "name"},
        content="Name\nAna\n",
        headers={**api.manager, **CSV},
    )
    assert bad.status_code == 422 and "column" in bad.json()["detail"]
    unknown = await api.http.post(
        "/api/imports/clients",
        params={"column": "name=Full"},
        content="Name\nAna\n",
        headers={**api.manager, **CSV},
    )
    assert unknown.status_code == 422 and "no column 'Full'" in unknown.json()["detail"]
