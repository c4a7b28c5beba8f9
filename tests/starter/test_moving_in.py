"""Moving in on the real stack: clients and open packages imported as jobs, by line."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from activities.imports import ImportOptions
from activities.reports.models import days_period
from activities.reports.reconciliation import build_report
from activities.reports.render import csv_rows, reconciliation_html, reconciliation_text
from activities.repository import (
    ClientLink,
    ClientLinkRepository,
    ClientRepository,
    LocationRecord,
    LocationRepository,
)
from starter.moving_in import ImportService, ImportStatus
from starter.packages import Invalid
from tests.workflows.conftest import Spa
from workflows import schedule

TZ = "America/New_York"


def today() -> date:
    return datetime.now(UTC).astimezone(schedule.zone(TZ)).date()


def days(n: int) -> str:
    return (today() + timedelta(days=n)).isoformat()


@pytest.fixture
def imports(spa: Spa) -> ImportService:
    return ImportService(client=spa.service._client, pool=spa.pool, settings=spa.service._settings)


async def run(imports: ImportService, kind: str, text: str, **options: object) -> ImportStatus:
    submitted = await imports.submit(kind, text.encode(), actor="mgr", **options)  # type: ignore[arg-type]
    return await imports.wait(submitted.job_id, timeout=60)


def outcomes(status: ImportStatus) -> dict[int, str]:
    return {line.line: line.outcome for line in status.lines}


def messages(status: ImportStatus) -> dict[int, str]:
    return {line.line: line.message for line in status.lines}


def packages_file(run: str) -> str:
    """Purchase ids unique to the test: package workflow ids outlive a test's database."""
    return PACKAGES.replace(",MB-", f",{run}-")


PACKAGES = f"""Client ID,Package Type,Purchase Date,Expiry Date,Sessions Bought,Sessions Remaining,Balance,Price Paid,Purchase ID
c-ana,laser6,{days(-200)},{days(45)},6,4,,"$1,800.00",MB-1
c-ben,facial  DUO,{days(-10)},{days(300)},2,2,,250,MB-2
c-ana,credit1500,{days(-30)},{days(200)},,,"$425.50",1500,MB-3
c-nobody,laser6,{days(-30)},{days(200)},6,2,,1800,MB-4
c-ana,laser6,{days(-400)},{days(-35)},6,3,,1800,MB-5
c-ana,laser6,{days(-30)},{days(200)},6,9,,1800,MB-6
c-ana,laser6,{days(-30)},{days(200)},6,1,,1800,MB-1
c-ana,laser6,{days(-30)},{days(200)},six,1,,1800,MB-8
c-ben,laser6,{days(-30)},{days(200)},6,0,,1800,MB-9
"""


async def test_open_packages_come_in_with_their_balances_and_bad_rows_by_line(
    spa: Spa, imports: ImportService
) -> None:
    status = await run(imports, "packages", packages_file("a"))

    assert status.status == "done" and status.rows_total == 9
    assert outcomes(status) == {
        2: "created",
        3: "created",
        4: "created",
        5: "refused",
        6: "refused",
        7: "refused",
        8: "duplicate",
        9: "refused",
        10: "skipped",
    }
    said = messages(status)
    assert "unknown client 'c-nobody'" in said[5]
    assert "expired on" in said[6] and "3 sessions unused" in said[6]
    assert "9 sessions left is more than the 6 sessions bought" in said[7]
    assert "repeats line 2" in said[8]
    assert "'Sessions Bought'" in said[9] and "not a whole number" in said[9]
    assert "nothing left" in said[10]
    assert status.counts == {
        "created": 3,
        "updated": 0,
        "skipped": 1,
        "duplicate": 1,
        "refused": 4,
    }

    ana = await spa.ledger.balance("imp-csv-a-1")
    ben = await spa.ledger.balance("imp-csv-a-2")
    credit = await spa.ledger.balance("imp-csv-a-3")
    assert ana is not None and ben is not None and credit is not None
    assert (ana.status, ana.remaining, ana.purchased_units, ana.paid_cents) == (
        "active",
        4,
        6,
        180_000,
    )
    assert ana.unused_value_cents == 120_000  # 4 of 6 sessions of $1,800
    assert schedule.good_through(ana.expires_at, TZ) == today() + timedelta(days=45)  # type: ignore[arg-type]
    assert ana.purchased_at.astimezone(schedule.zone(TZ)).date() == today() - timedelta(days=200)
    assert (ben.type_code, ben.remaining, ben.paid_cents) == ("duo2", 2, 25_000)
    assert (credit.kind, credit.remaining, credit.unused_value_cents) == ("dollars", 42_550, 42_550)
    [opening] = await spa.ledger.entries("imp-csv-a-1")
    assert (opening.kind, opening.units_delta, opening.value_cents, opening.balance_after) == (
        "opening_balance",
        4,
        120_000,
        4,
    )
    assert "a-1" in (opening.reason or "")


async def test_a_file_without_a_client_column_is_refused_whole(imports: ImportService) -> None:
    with pytest.raises(Invalid, match="line 1: the header lacks a client column"):
        await imports.submit("packages", b"Package,Remaining\nlaser6,3\n", actor="mgr")


CLIENTS = """First Name,Last Name,Mobile Phone,Email,Mindbody ID,Boulevard ID
Dana,Lopez,(212) 555-0143,Dana@Example.com,5001,
Eli,Park,212 555 0144,eli@example.com,5002,8e8e8e8e-0000-4000-8000-0000000000e1
Ana,Again,+1 555 555 0101,,5003,
Fay,Wu,12,fay@example.com,,
,,,nobody@example.com,,
Gus,Moe,(212) 555-0143,,5006,
"""


async def test_clients_come_in_linked_with_e164_phones_and_duplicates_reported(
    spa: Spa, imports: ImportService
) -> None:
    status = await run(imports, "clients", CLIENTS)

    assert outcomes(status) == {
        2: "created",
        3: "created",
        4: "duplicate",
        5: "created",
        6: "refused",
        7: "duplicate",
    }
    said = messages(status)
    assert "same phone as client c-ana (Ana Test)" in said[4]
    assert "'12' is not a valid US number" in said[5]
    assert said[6] == "no name"
    assert "same phone as line 2" in said[7]
    links = ClientLinkRepository(spa.pool)
    dana = await links.resolve("mindbody", "5001")
    eli = await links.resolve("boulevard", "urn:blvd:Client:8e8e8e8e-0000-4000-8000-0000000000e1")
    assert dana is not None and eli is not None
    assert await links.resolve("mindbody", "5002") == eli
    record = await ClientRepository(spa.pool).get(dana)
    assert record is not None
    assert (record.name, record.phone, record.email) == (
        "Dana Lopez",
        "+12125550143",
        "dana@example.com",
    )

    again = await run(imports, "clients", CLIENTS)
    assert outcomes(again) == {
        2: "skipped",
        3: "skipped",
        4: "duplicate",
        5: "skipped",
        6: "refused",
        7: "duplicate",
    }


async def test_a_dry_run_says_what_would_happen_and_changes_nothing(
    spa: Spa, imports: ImportService
) -> None:
    dry = await run(imports, "packages", packages_file("d"), dry_run=True)

    assert dry.dry_run and dry.counts["created"] == 3 and dry.counts["refused"] == 4
    assert await spa.pool.fetchval("SELECT count(*) FROM packages") == 0
    assert await spa.pool.fetchval("SELECT count(*) FROM import_keys") == 0

    real = await run(imports, "packages", packages_file("d"))
    assert outcomes(real) == outcomes(dry)


async def test_importing_the_same_file_again_changes_nothing(
    spa: Spa, imports: ImportService
) -> None:
    await run(imports, "packages", packages_file("r"))
    await spa.settled()
    entries = await spa.pool.fetchval("SELECT count(*) FROM ledger_entries")
    assert entries == 3

    again = await run(imports, "packages", packages_file("r"))

    assert again.counts["created"] == 0 and again.counts["skipped"] == 4
    assert "already brought in as package imp-csv-r-1" in messages(again)[2]
    await spa.settled()
    assert await spa.pool.fetchval("SELECT count(*) FROM ledger_entries") == entries
    assert await spa.pool.fetchval("SELECT count(*) FROM packages") == 3


async def test_an_expired_package_can_be_kept_for_the_record(
    spa: Spa, imports: ImportService
) -> None:
    text = (
        "Client ID,Package Type,Purchase Date,Expiry Date,Sessions Remaining,Purchase ID\n"
        f"c-ana,laser6,{days(-400)},{days(-35)},3,exp-1\n"
    )
    status = await run(imports, "packages", text, options=ImportOptions(include_expired=True))

    assert outcomes(status) == {2: "created"}
    row = await spa.ledger.balance("imp-csv-exp-1")
    assert row is not None
    assert (row.status, row.remaining, row.unused_value_cents) == ("expired", 3, 0)


async def test_the_reconciliation_shows_opening_balances_apart_from_sales(
    spa: Spa, imports: ImportService
) -> None:
    await run(imports, "packages", packages_file("f"))
    await spa.sell("duo2")
    await spa.settled()

    report = await build_report(spa.pool, days_period(today(), today(), TZ))

    assert (report.sales.packages, report.sales.value_cents) == (1, 30_000)
    assert report.migrated.model_dump() == {
        "packages": 3,
        "value_cents": 120_000 + 25_000 + 42_550,
        "sessions": 4 + 2,
        "credit_cents": 42_550,
    }
    assert report.liability.difference_cents == 0
    assert report.liability.balance_cents == 30_000 + 120_000 + 25_000 + 42_550
    rows = {(r[0], r[1]): r for r in csv_rows(report)}
    assert rows[("brought in", "opening balances imported (not sales)")][2:5] == (3, 6, 187_550)
    assert rows[("sold", "packages sold")][2] == 1
    assert "Brought in from the old system (opening balances, not sales): 3 packages" in (
        reconciliation_text(report)
    )
    assert 'data-testid="details-brought"' in reconciliation_html(report)


async def test_a_client_matched_by_platform_id_is_updated_never_a_second_client(
    spa: Spa, imports: ImportService
) -> None:
    links = ClientLinkRepository(spa.pool)
    first = await run(imports, "clients", "Name,Phone,Mindbody ID\nHana Kim,2125550188,700\n")
    hana = first.lines[0].ref
    assert hana is not None

    changed = await run(
        imports,
        "clients",
        "Name,Phone,Email,Mindbody ID,Boulevard ID\n"
        "Hana Kim-Lee,,hana@example.com,700,blvd-hana\n"
        "Ivy Chen,,ana@example.com,701,\n"
        "Jo Park,,,701,blvd-hana\n",
    )

    assert outcomes(changed) == {2: "updated", 3: "duplicate", 4: "duplicate"}
    said = messages(changed)
    assert said[2] == f"client {hana}: name, email changed; linked boulevard blvd-hana"
    assert "same email as client c-ana (Ana Test)" in said[3]
    assert "same boulevard id blvd-hana as line 2" in said[4]
    record = await ClientRepository(spa.pool).get(hana)
    assert record is not None
    assert (record.name, record.phone, record.email) == (
        "Hana Kim-Lee",
        "+12125550188",  # a blank cell never clears what is stored
        "hana@example.com",
    )
    assert await links.resolve("boulevard", "blvd-hana") == hana
    assert await spa.pool.fetchval("SELECT count(*) FROM clients") == 4  # ana, ben, cara, hana

    split = await run(
        imports, "clients", "Name,Mindbody ID,Boulevard ID\nHana,700,blvd-x\nX,702,blvd-hana\n"
    )
    assert outcomes(split) == {2: "updated", 3: "duplicate"}
    assert messages(split)[3] == f"same client as line 2 ({hana}): not imported; one row per client"
    await links.link(ClientLink(platform="mindbody", external_id="703", client_id="c-ben"))
    conflict = await run(imports, "clients", "Name,Mindbody ID,Boulevard ID\nWho,703,blvd-hana\n")
    assert outcomes(conflict) == {2: "refused"}
    assert "its ids belong to different clients" in messages(conflict)[2]


async def test_packages_come_in_at_their_locations(spa: Spa, imports: ImportService) -> None:
    locations = LocationRepository(spa.pool)
    await locations.insert(
        LocationRecord(location_id="soho", name="Glow SoHo", timezone="America/New_York")
    )
    await locations.insert(
        LocationRecord(
            location_id="venice",
            name="Glow Venice",
            timezone="America/Los_Angeles",
            boulevard_location_id="urn:blvd:Location:1a1a1a1a-0000-4000-8000-000000000030",
        )
    )
    text = (
        "Client ID,Package Type,Expiry Date,Sessions Remaining,Location,Purchase ID\n"
        f"c-ana,laser6,{days(90)},3,Glow Venice,L1-1\n"
        f"c-ana,laser6,{days(90)},3,1A1A1A1A-0000-4000-8000-000000000030,L1-2\n"
        f"c-ben,laser6,{days(90)},3,,L1-3\n"
        f"c-ben,laser6,{days(90)},3,Atlantis,L1-4\n"
    )
    status = await run(imports, "packages", text, options=ImportOptions(location_id="soho"))
    assert outcomes(status) == {2: "created", 3: "created", 4: "created", 5: "refused"}
    assert "unknown location 'Atlantis'" in messages(status)[5]
    la, ny = ZoneInfo("America/Los_Angeles"), ZoneInfo("America/New_York")
    for package_id, location_id, zone in (
        ("imp-csv-L1-1", "venice", la),
        ("imp-csv-L1-2", "venice", la),
        ("imp-csv-L1-3", "soho", ny),
    ):
        row = await spa.ledger.balance(package_id)
        assert row is not None and row.location_id == location_id
        assert row.expires_at is not None and row.expires_at.astimezone(zone).hour == 0
        planned = (await spa.service.state(package_id)).planned_reminders
        assert {due.astimezone(zone).hour for due in planned.values()} == {10}


async def test_clients_come_in_with_their_home_location_and_their_packages_follow(
    spa: Spa, imports: ImportService
) -> None:
    locations = LocationRepository(spa.pool)
    await locations.insert(
        LocationRecord(location_id="soho", name="Glow SoHo", timezone="America/New_York")
    )
    await locations.insert(
        LocationRecord(location_id="venice", name="Glow Venice", timezone="America/Los_Angeles")
    )
    clients = (
        "ID,First Name,Last Name,Mobile Phone,Home Location\n"
        "mb-501,Lena,Ortiz,(212) 555-0181,Glow Venice\n"
        "mb-502,Omar,Haddad,(212) 555-0182,\n"
        "mb-503,Ivy,Chen,(212) 555-0183,Atlantis\n"
    )
    status = await run(imports, "clients", clients, format="mindbody")
    assert outcomes(status) == {2: "created", 3: "created", 4: "refused"}
    assert "unknown location 'Atlantis'" in messages(status)[4]
    lena = await spa.service.links.resolve("mindbody", "mb-501")
    omar = await spa.service.links.resolve("mindbody", "mb-502")
    assert lena is not None and omar is not None
    stored = ClientRepository(spa.pool)
    assert (await stored.get(lena)).home_location_id == "venice"  # type: ignore[union-attr]
    assert (await stored.get(omar)).home_location_id is None  # type: ignore[union-attr]

    run_id = uuid.uuid4().hex[:6]
    text = (
        "Client ID,Package Type,Expiry Date,Sessions Remaining,Purchase ID\n"
        f"{lena},laser6,{days(90)},3,{run_id}-1\n"
        f"{omar},laser6,{days(90)},3,{run_id}-2\n"
    )
    status = await run(imports, "packages", text)
    assert outcomes(status) == {2: "created", 3: "created"}
    for line, location_id in ((2, "venice"), (3, "soho")):  # Omar: the default location
        [package_id] = [entry.ref for entry in status.lines if entry.line == line]
        assert package_id is not None
        row = await spa.ledger.balance(package_id)
        assert row is not None and row.location_id == location_id
