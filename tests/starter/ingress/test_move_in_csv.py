"""Reading move-in files: each format's headers, a mapping for the rest, bounded cells, and
every refusal naming its line."""

from __future__ import annotations

from datetime import date

import pytest

from starter.ingress import client_csv, package_csv
from starter.ingress.client_csv import e164, parse_clients
from starter.ingress.package_csv import parse_packages


def test_generic_clients_with_each_platforms_id() -> None:
    parsed = parse_clients(
        "Client ID,Name,Phone,Email,Mindbody ID,Boulevard ID,Zenoti ID,SMS Opt Out\n"
        "c-1,  Ana   Lopez ,+1 (212) 555-0143,ANA@Example.COM,100,"
        "8E8E8E8E-0000-4000-8000-000000000001,z-9,yes\n"
    )
    [row] = parsed.rows
    assert (row.client_id, row.name, row.phone, row.email) == (
        "c-1",
        "Ana Lopez",
        "+12125550143",
        "ana@example.com",
    )
    assert row.platform_ids == {
        "mindbody": "100",
        "boulevard": "urn:blvd:Client:8e8e8e8e-0000-4000-8000-000000000001",
        "zenoti": "z-9",
    }
    assert (
        row.sms_opt_out
        and row.key() == "boulevard:urn:blvd:Client:8e8e8e8e-0000-4000-8000-000000000001"
    )


def test_mindbody_clients_read_the_id_as_mindbodys_and_mobile_before_home() -> None:
    parsed = parse_clients(
        "ID,First Name,Last Name,Home Phone,Mobile Phone,Email\n"
        "100015531,Ana,Test,212-555-0100,212-555-0199,ana@example.com\n"
        "100015532,Ben,Test,212-555-0101,,\n",
        format="mindbody",
    )
    ana, ben = parsed.rows
    assert ana.platform_ids == {"mindbody": "100015531"} and ana.client_id is None
    assert (ana.name, ana.phone) == ("Ana Test", "+12125550199")
    assert ben.phone == "+12125550101"


def test_an_export_with_other_headers_is_read_through_a_mapping() -> None:
    text = "Guest Key,Full Nm,Cell #\nG-1,Ana Lopez,2125550143\n"
    refused = parse_clients(text, format="boulevard")
    assert refused.error is not None and "name column" in refused.error.message
    mapped = parse_clients(
        text,
        format="boulevard",
        mapping={"platform_id": "Guest Key", "name": "Full Nm", "mobile": "Cell #"},
    )
    [row] = mapped.rows
    assert (row.platform_ids, row.name, row.phone) == (
        {"boulevard": "G-1"},
        "Ana Lopez",
        "+12125550143",
    )
    missing = parse_clients(text, mapping={"name": "Nope"})
    assert missing.error is not None and missing.error.message == "no column 'Nope' for name"
    unknown = parse_clients(text, mapping={"nickname": "Full Nm"})
    assert unknown.error is not None and "unknown field 'nickname'" in unknown.error.message


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("(416) 555-0143", "CA", "+14165550143"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+33 1 23 45 67 89", "US", "+33123456789"),
        ("555-0143", "US", None),
        ("n/a", "US", None),
    ],
)
def test_phones_become_e164_in_the_spas_country(
    raw: str, country: str, expected: str | None
) -> None:
    assert e164(raw, country) == expected


def test_client_rows_refused_or_duplicated_by_line() -> None:
    parsed = parse_clients(
        "Name,Phone,Email,Mindbody ID\n"
        "Ana,2125550143,ana@example.com,1\n"
        "Ana Again,2125550143,,2\n"  # same phone as line 2
        "Ben,,ben@example.com,1\n"  # same mindbody id as line 2
        "Cara,,bad-email,3\n"  # email left out, noted
        "Dan\x07,,,4\n"  # control character
        f"{'x' * 201},,,5\n"  # too long
    )
    assert [r.line for r in parsed.rows] == [2, 5]
    assert (
        parsed.rows[1].email is None and "'bad-email' is not an address" in parsed.rows[1].notes[0]
    )
    said = {r.line: (r.outcome, r.message) for r in parsed.refused}
    assert said[3] == (
        "duplicate",
        "same phone as line 2: not imported (one row per client; different people sharing "
        "it: give each row its own Client ID)",
    )
    assert said[4][0] == "duplicate" and "same mindbody id 1 as line 2" in said[4][1]
    assert said[6] == ("refused", "column 'Name' holds a control character")
    assert said[7] == ("refused", "column 'Name' is 201 characters long: at most 200")


def test_rows_naming_their_own_ids_may_share_a_phone() -> None:
    parsed = parse_clients("Client ID,Name,Phone\nc-1,Ana,2125550143\nc-2,Ben,2125550143\n")
    assert [r.client_id for r in parsed.rows] == ["c-1", "c-2"] and parsed.refused == []


def test_too_many_rows_refuses_the_whole_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_csv, "MAX_ROWS", 2)
    parsed = parse_clients("Name\nA\nB\nC\n")
    assert parsed.error is not None and parsed.error.line == 4
    assert parsed.error.message == "more than 2 rows: split the file"


def test_generic_packages_with_money_as_decimal_and_counts_whole() -> None:
    parsed = parse_packages(
        "Client ID,Package Type,Purchase Date,Expiry Date,Sessions Bought,Sessions Remaining,"
        "Credit,Balance,Price Paid,Purchase ID\n"
        'c-1,laser6,03/15/2026,2027-03-14,6,4,,,"$1,800.00",MB-1\n'
        "c-1,credit500,2026-03-15,,,,500,425.55,500,MB-2\n"
        "c-1,laser6,2026-03-15,,6,4,,,1800.555,MB-3\n"
        "c-1,laser6,2026-03-15,,6,-1,,,1800,MB-4\n"
        "c-1,laser6,2026-31-15,,6,1,,,1800,MB-5\n"
        "c-1,laser6,2026-03-15,,6,4,,,1800,MB-1\n"
    )
    laser, credit = parsed.rows
    assert (laser.purchased_on, laser.expires_on, laser.units_remaining, laser.price_cents) == (
        date(2026, 3, 15),
        date(2027, 3, 14),
        4,
        180_000,
    )
    assert (credit.credit_cents, credit.balance_cents, credit.expires_on) == (50_000, 42_555, None)
    assert (laser.key(), laser.source) == ("csv:MB-1", "csv")
    said = {r.line: r.message for r in parsed.refused}
    assert said[4] == "column 'Price Paid': amount '1800.555' has more than two decimals"
    assert said[5] == "column 'Sessions Remaining': '-1' is negative"
    assert said[6] == "column 'Purchase Date': '2026-31-15' is not a date"
    assert said[7] == "repeats line 2 (purchase id MB-1): not imported"


def test_boulevards_voucher_liability_summary_is_read_as_it_is_documented() -> None:
    parsed = parse_packages(
        "Client,Service,Quantity Outstanding\nAna Lopez,Laser Underarm,3\n", format="boulevard"
    )
    [row] = parsed.rows
    assert (row.client_ref, row.client_name, row.type_ref, row.units_remaining) == (
        "Ana Lopez",
        "Ana Lopez",
        "Laser Underarm",
        3,
    )
    assert row.purchased_on is None and row.source == "boulevard"
    assert row.key().startswith("boulevard:row:")


def test_a_packages_file_without_what_is_left_is_refused_whole() -> None:
    parsed = parse_packages("Client ID,Package Type\nc-1,laser6\n")
    assert parsed.error is not None and "what is left" in parsed.error.message


def test_counts_and_days_have_their_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = parse_packages("Client,Package,Remaining\nc-1,laser6,10001\nc-1,laser6,1.5\n")
    said = {r.line: r.message for r in parsed.refused}
    assert said == {
        2: "column 'Remaining': '10001' is over the limit of 10,000",
        3: "column 'Remaining': '1.5' is not a whole number",
    }
    monkeypatch.setattr(package_csv, "MAX_ROWS", 1)
    assert parse_packages("Client,Package,Remaining\na,b,1\na,b,2\n").error is not None
