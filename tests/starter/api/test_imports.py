"""CSV import through the API: the same file twice changes nothing, bad rows are named by line."""

from __future__ import annotations

from tests.conftest import eventually
from tests.starter.api.conftest import Api
from tests.workflows.conftest import Spa

# Exports carry a price column: it means nothing to a session package.
EXPORT = """Appointment ID,Client,Service,Date,Status,Price
J-100,ana@example.com,Laser - Full Face,2026-11-02,Completed,300.00
J-101,ana@example.com,Laser - Full Face,2026-13-45,Completed,300.00
J-102,nobody@example.com,Laser - Full Face,2026-11-03,Completed,300.00
J-103,+15555550101,Laser - Full Face,2026-11-04,No Show,0
J-104,c-ana,Laser - Full Face,2026-11-05,Completed,300.00
"""


async def test_importing_the_same_export_twice_counts_each_visit_once(api: Api, spa: Spa) -> None:
    (package,) = await spa.sell("laser6")
    reports = []
    for _ in range(2):
        response = await api.http.post(
            "/api/imports/appointments?platform=jane",
            content=EXPORT.encode(),
            headers={**api.desk, "content-type": "text/csv"},
        )
        assert response.status_code == 200, response.text
        reports.append(response.json())
    first, second = reports
    assert first["accepted"] == 3  # J-100, J-103 (no-show), J-104
    assert [e["line"] for e in first["errors"]] == [3, 4]
    assert "date" in first["errors"][0]["message"]
    assert "unknown client" in first["errors"][1]["message"]
    assert second["errors"] == first["errors"]

    await eventually(lambda: spa.ledger.count_entries(package, "redemption"), lambda n: n == 2)
    await eventually(lambda: spa.ledger.count_entries(package, "no_show"), lambda n: n == 1)
    await spa.settled()  # the second import's events have been handled by now
    assert await spa.ledger.count_entries(package, "redemption") == 2
    balance = await spa.ledger.balance(package)
    assert balance is not None and balance.remaining == 4


async def test_import_needs_a_staff_token_and_text(api: Api, spa: Spa) -> None:
    anonymous = await api.http.post("/api/imports/appointments", content=EXPORT.encode())
    assert anonymous.status_code == 401 and "token" in anonymous.json()["detail"]
    headerless = await api.http.post(
        "/api/imports/appointments", content=b"\x00\x01", headers=api.desk
    )
    assert headerless.status_code == 200
    assert headerless.json()["accepted"] == 0 and headerless.json()["errors"]


async def test_bad_amounts_long_ids_and_control_characters_are_refused_by_line(
    api: Api, spa: Spa
) -> None:
    (package,) = await spa.sell("laser6")
    bad_amounts = ["1e29", "1e2", "-5", "12.345", "NaN", "Infinity", "12,50"]
    export = "Appointment ID,Client,Service,Date,Status,Price\n"
    export += "K-1,c-ana,Laser - Full Face,2026-11-02,Completed,300.00\n"  # line 2: fine
    for n, amount in enumerate(bad_amounts, start=2):  # lines 3-9
        export += f'K-{n},c-ana,Laser - Full Face,2026-11-02,Completed,"{amount}"\n'
    export += f"{'K' * 200},c-ana,Laser - Full Face,2026-11-02,Completed,300\n"  # line 10
    export += "K-11,c-ana,Laser\x00Full Face,2026-11-02,Completed,300\n"  # line 11

    response = await api.http.post(
        "/api/imports/appointments",
        content=export.encode(),
        headers={**api.desk, "content-type": "text/csv"},
    )

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["accepted"] == 1
    errors = {e["line"]: e["message"] for e in report["errors"]}
    assert sorted(errors) == list(range(3, 12))
    for line, amount in enumerate(bad_amounts, start=3):
        assert "'Price'" in errors[line] and repr(amount) in errors[line]
    assert "'Appointment ID'" in errors[10] and "200 characters" in errors[10]
    assert "'Service'" in errors[11] and "control character" in errors[11]
    await eventually(lambda: spa.ledger.count_entries(package, "redemption"), lambda n: n == 1)
