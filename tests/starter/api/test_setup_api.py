"""A spa set up through the HTTP API alone: the first manager from
PUNCHCARD_BOOTSTRAP_MANAGER_TOKEN, then staff, package types, clients and links, a sale,
visits, and what was sent and raised, with no CLI call and no repository call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.worker import Worker

from starter.staff import StaffService
from tests.conftest import eventually
from tests.starter.api.conftest import app_http
from workers.settings import Settings

BOOTSTRAP = "bootstrap-token-for-the-tests-0123456789"
OWNER = {"Authorization": f"Bearer {BOOTSTRAP}"}

DUO = {
    "type_code": "duo2",
    "name": "Facial duo",
    "units": 2,
    "price_cents": 30_000,
    "expiry_months": 12,
    "categories": ["facial"],
}
CREDIT = {
    "type_code": "inject500",
    "name": "Injectables credit $500",
    "kind": "dollars",
    "units": 50_000,
    "price_cents": 50_000,
}
ANA = {"client_id": "ana", "name": "Ana Ruiz", "phone": "+15555550101", "email": "ana@example.com"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"bootstrap_manager_token": SecretStr(BOOTSTRAP)})


@pytest.fixture
async def http(
    settings: Settings, client: Client, pool: asyncpg.Pool, worker: Worker
) -> AsyncIterator[httpx.AsyncClient]:
    """The app on an empty spa: no clients, no types, no staff but the bootstrap manager."""
    async with app_http(settings, client, pool) as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def expect(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, (response.request.url, response.text)
    return response.json()


async def staff_token(http: httpx.AsyncClient, manager: dict[str, str], **body: str) -> str:
    created = await expect(await http.post("/api/staff", json=body, headers=manager), 201)
    return str(created["token"])


async def test_a_whole_spa_is_set_up_from_nothing_through_the_api(
    http: httpx.AsyncClient,
) -> None:
    me = await expect(await http.get("/api/me", headers=OWNER), 200)
    assert me == {"staff_id": "owner", "name": "Owner (bootstrap)", "role": "manager"}

    # Staff: the owner adds the real manager, who adds the desk and retires the bootstrap.
    made = await http.post(
        "/api/staff",
        json={"staff_id": "maria", "name": "Maria Lopez", "role": "manager"},
        headers=OWNER,
    )
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    manager = bearer(made.json()["token"])
    desk = bearer(await staff_token(http, manager, staff_id="desk1", role="front_desk"))
    assert (await expect(await http.get("/api/me", headers=desk), 200))["role"] == "front_desk"
    revoked = await expect(await http.post("/api/staff/owner/revoke", headers=manager), 200)
    assert revoked["active"] is False
    assert (await http.get("/api/me", headers=OWNER)).status_code == 401
    listed = await expect(await http.get("/api/staff", headers=manager), 200)
    assert [(m["staff_id"], m["active"]) for m in listed] == [
        ("desk1", True),
        ("maria", True),
        ("owner", False),
    ]
    assert all("token" not in m for m in listed)

    # Package types: created once; the same again is 200; a different one is a 409.
    assert (await expect(await http.post("/api/package-types", json=DUO, headers=manager), 201))[
        "units"
    ] == 2
    await expect(await http.post("/api/package-types", json=DUO, headers=manager), 200)
    cheaper = await http.post(
        "/api/package-types", json=DUO | {"price_cents": 1, "name": "Duo"}, headers=manager
    )
    assert cheaper.status_code == 409
    assert cheaper.json()["detail"] == (
        "package type 'duo2' already exists with a different name and price_cents: "
        "replace it instead of creating it"
    )
    await expect(await http.post("/api/package-types", json=CREDIT, headers=manager), 201)
    types = await expect(await http.get("/api/package-types", headers=desk), 200)
    assert [(t["type_code"], t["kind"], t["price_cents"]) for t in types] == [
        ("duo2", "sessions", 30_000),
        ("inject500", "dollars", 50_000),
    ]

    # Clients: the desk adds them; a retry is 200, a different record under the id a 409.
    assert (await expect(await http.post("/api/clients", json=ANA, headers=desk), 201))[
        "sms_opt_out"
    ] is False
    await expect(await http.post("/api/clients", json=ANA, headers=desk), 200)
    other = await http.post("/api/clients", json=ANA | {"name": "Ana R."}, headers=desk)
    assert other.status_code == 409
    assert other.json()["detail"] == (
        "client 'ana' already exists with a different name: update it instead of creating it"
    )
    ben = {"client_id": "ben", "name": "Ben Okafor", "phone": "+15555550102"}
    await expect(
        await http.post("/api/clients", json=ben | {"sms_opt_out": True}, headers=desk), 201
    )
    updated = await expect(
        await http.patch("/api/clients/ana", json={"email": "ana.ruiz@example.com"}, headers=desk),
        200,
    )
    assert (updated["name"], updated["phone"], updated["email"]) == (
        "Ana Ruiz",
        "+15555550101",
        "ana.ruiz@example.com",
    )
    await expect(
        await http.put(
            "/api/clients/ana/links",
            json={"platform": "mindbody", "external_id": "100015531"},
            headers=desk,
        ),
        200,
    )
    found = await expect(await http.get("/api/clients", params={"q": "ruiz"}, headers=desk), 200)
    assert [c["client_id"] for c in found] == ["ana"]
    # Opting back in needs a manager (the client's consent); opting out anyone.
    await expect(await http.post("/api/clients/ben/sms-opt-in", headers=manager), 200)
    assert (await expect(await http.post("/api/clients/ben/sms-opt-out", headers=desk), 200))[
        "sms_opt_out"
    ] is True

    # A sale and two visits at the desk.
    today = date.today()
    sale = await http.post(
        "/api/sales",
        json={"client_id": "ana", "type_code": "duo2", "purchase_id": "p-ana-1"},
        headers=desk,
    )
    assert sale.status_code == 201, sale.text
    card = await eventually(
        lambda: http.get("/api/packages/p-ana-1", headers=desk), lambda r: r.status_code == 200
    )
    assert card.json()["remaining_label"] == "2 sessions left"
    for days_ago in (2, 1):  # two visits on two days (one a day, unless the desk says)
        visit = {
            "request_id": f"visit-{days_ago}",
            "service_date": str(today - timedelta(days=days_ago)),
        }
        answer = await expect(
            await http.post("/api/packages/p-ana-1/complete", json=visit, headers=desk), 200
        )
    assert answer["remaining"] == 0
    # A booking at zero is recorded and alerts staff; forfeit is for packages in review.
    booked = await expect(
        await http.post(
            "/api/packages/p-ana-1/book",
            json={
                "appointment_id": "appt-3",
                "scheduled_at": f"{today + timedelta(days=7)}T14:30:00-05:00",
            },
            headers=desk,
        ),
        200,
    )
    assert booked["key"].startswith("desk-booked:appt-3@")
    forfeit = {"reason": "client moved away"}
    refused = await http.post("/api/packages/p-ana-1/forfeit", json=forfeit, headers=desk)
    assert refused.status_code == 403
    not_in_review = await http.post("/api/packages/p-ana-1/forfeit", json=forfeit, headers=manager)
    assert not_in_review.status_code == 409
    assert not_in_review.json()["detail"].startswith("refused (NotInReview): ")

    detail = await expect(await http.get("/api/clients/ana", headers=desk), 200)
    assert detail["links"] == [{"platform": "mindbody", "external_id": "100015531"}]
    assert [p["package_id"] for p in detail["packages"]] == ["p-ana-1"]

    # What Ana was sent, and the alert the desk works from.
    async def ana_messages() -> list[dict[str, Any]]:
        return list(await expect(await http.get("/api/clients/ana/messages", headers=desk), 200))

    sent = await eventually(
        ana_messages, lambda ms: {"one_left", "confirmation"} <= {m["kind"] for m in ms}
    )
    assert {(m["channel"], m["recipient"], m["status"]) for m in sent if m["channel"] == "sms"} == {
        ("sms", "+15555550101", "sent")
    }
    assert all(m["package_id"] == "p-ana-1" for m in sent)

    async def open_alerts() -> list[dict[str, Any]]:
        return list(await expect(await http.get("/api/alerts", headers=desk), 200))

    alerts = await eventually(
        open_alerts, lambda rows: {"consumed_80", "booking_at_zero"} <= {a["kind"] for a in rows}
    )
    (used,) = [a for a in alerts if a["kind"] == "consumed_80"]
    assert (used["client_id"], used["package_id"]) == ("ana", "p-ana-1")
    assert await expect(await http.get("/api/review", headers=desk), 200) == []
    assert await expect(await http.get("/api/providers", headers=desk), 200) == []


async def test_setup_is_refused_by_role_by_name_and_by_field(http: httpx.AsyncClient) -> None:
    desk = bearer(await staff_token(http, OWNER, staff_id="desk1", role="front_desk"))
    await expect(await http.post("/api/clients", json=ANA, headers=desk), 201)

    # Front desk may not change the setup; the answer names the role needed.
    for method, path, body in (
        ("POST", "/api/package-types", DUO),
        ("PUT", "/api/package-types/duo2", {k: v for k, v in DUO.items() if k != "type_code"}),
        ("POST", "/api/staff", {"staff_id": "eve", "role": "manager"}),
        ("GET", "/api/staff", None),
        ("POST", "/api/staff/desk1/token", None),
        ("POST", "/api/staff/desk1/revoke", None),
        ("POST", "/api/clients/ana/sms-opt-in", None),
    ):
        refused = await http.request(method, path, json=body, headers=desk)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["detail"] == (
            f"only a manager may {method} {path} (desk1 is front desk)"
        )
    assert await expect(await http.get("/api/package-types", headers=desk), 200) == []

    # Unknown ids are 404s naming them.
    for method, path, body, detail in (
        ("GET", "/api/clients/nobody/messages", None, "no client 'nobody'"),
        ("PATCH", "/api/clients/nobody", {"name": "No One"}, "no client 'nobody'"),
        ("POST", "/api/clients/nobody/sms-opt-out", None, "no client 'nobody'"),
        (
            "PUT",
            "/api/clients/nobody/links",
            {"platform": "jane", "external_id": "9"},
            "no client 'nobody'",
        ),
        ("GET", "/api/package-types/nothing", None, "no package type 'nothing'"),
        ("POST", "/api/staff/nobody/token", None, "no staff member 'nobody'"),
        ("POST", "/api/staff/nobody/revoke", None, "no staff member 'nobody'"),
    ):
        missing = await http.request(method, path, json=body, headers=OWNER)
        assert (missing.status_code, missing.json()["detail"]) == (404, detail), path

    # Bad fields are 422s naming the field, before anything is stored.
    for path, body, detail in (
        (
            "/api/clients",
            ANA | {"client_id": "cleo", "name": "C" * 201},
            "name: String should have at most 200 characters",
        ),
        (
            "/api/clients",
            ANA | {"client_id": "cleo", "name": "Cleo\u0000"},
            "body: name holds the control character U+0000",
        ),
        (
            "/api/clients",
            ANA | {"client_id": "cleo", "name": "Cleo\u001b[2J"},
            "body: name holds the control character U+001B",
        ),
        (
            "/api/clients",
            ANA | {"client_id": "cleo", "phone": "555-0101"},
            "phone: String should match pattern '^\\+[1-9]\\d{1,14}$'",
        ),
        (
            "/api/clients",
            ANA | {"client_id": "cleo", "phon": "+15555550101"},
            "phon: Extra inputs are not permitted",
        ),
        (
            "/api/clients",
            ANA | {"client_id": "cl eo"},
            "client_id: String should match pattern '^[A-Za-z0-9][A-Za-z0-9._:@+~-]*$'",
        ),
        (
            "/api/clients",
            ANA | {"client_id": "c" * 151},
            "client_id: String should have at most 150 characters",
        ),
        ("/api/package-types", DUO | {"units": 0}, "units: Input should be greater than 0"),
        (
            "/api/package-types",
            DUO | {"price_cents": 10**12},
            "price_cents: Input should be less than or equal to 100000000",
        ),
        (
            "/api/package-types",
            DUO | {"categories": ["x" * 101]},
            "categories.0: String should have at most 100 characters",
        ),
        (
            "/api/staff",
            {"staff_id": "eve", "role": "owner"},
            "role: Input should be 'front_desk' or 'manager'",
        ),
    ):
        bad = await http.post(path, json=body, headers=OWNER)
        assert (bad.status_code, bad.json()["detail"]) == (422, detail), body
    cleared = await http.patch("/api/clients/ana", json={"name": None}, headers=desk)
    assert cleared.status_code == 422 and cleared.json()["detail"].startswith("name: ")
    assert [
        c["client_id"] for c in await expect(await http.get("/api/clients", headers=desk), 200)
    ] == ["ana"]

    # A staff id is created once: its token cannot be shown again, so a repeat is a 409.
    again = await http.post("/api/staff", json={"staff_id": "desk1"}, headers=OWNER)
    assert (again.status_code, again.json()["detail"]) == (
        409,
        "staff member 'desk1' already exists (front_desk, active): issue them a new token instead",
    )

    # A revoked token is a 401; a new token brings the member back, the old stays dead.
    await expect(await http.post("/api/staff/desk1/revoke", headers=OWNER), 200)
    gone = await http.get("/api/clients", headers=desk)
    assert (gone.status_code, gone.json()["detail"]) == (401, "unknown or revoked staff token")
    fresh = await expect(await http.post("/api/staff/desk1/token", headers=OWNER), 200)
    assert fresh["active"] is True
    assert (await http.get("/api/me", headers=bearer(fresh["token"]))).status_code == 200
    assert (await http.get("/api/me", headers=desk)).status_code == 401


async def test_the_bootstrap_token_makes_a_manager_only_while_there_is_none(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    manager = bearer(await staff_token(http, OWNER, staff_id="maria", role="manager"))
    await expect(await http.post("/api/staff/owner/revoke", headers=manager), 200)
    assert not await StaffService(pool).bootstrap(BOOTSTRAP)  # maria is a manager
    assert (await http.get("/api/me", headers=OWNER)).status_code == 401

    with pytest.raises(ValueError, match="at least 24"):
        Settings(bootstrap_manager_token=SecretStr("short"))
