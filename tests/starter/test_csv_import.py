"""Parsing booking-platform exports: aliases, line numbers, bad rows reported, the rest kept."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from starter.ingress import csv_import
from starter.ingress.csv_import import ClientRefKind, CsvParse, parse_csv
from workflows.visit_models import Platform, VisitChange

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
NY = "America/New_York"


def parse(text: str, **options: object) -> CsvParse:
    options.setdefault("now", NOW)
    return parse_csv(text.encode(), **options)  # type: ignore[arg-type]


def by_line(result: CsvParse) -> dict[int, str]:
    return {error.line: error.message for error in result.errors}


def test_a_clean_export_becomes_completed_events() -> None:
    result = parse(
        "Appointment ID,Client ID,Service,Date,Status,Amount,Staff\n"
        'A-1,G-1,Laser full legs,2026-03-02 10:30,Completed,"$1,250.00",Kim\n',
        timezone=NY,
    )

    assert result.errors == [] and result.skipped == []
    [row] = result.rows
    assert (row.line, row.client_ref, row.client_ref_kind) == (2, "G-1", ClientRefKind.ID)
    event = row.event
    assert event.event_key == "csv:csv:A-1:completed"
    assert (event.platform, event.change, event.source) == (
        Platform.CSV,
        VisitChange.COMPLETED,
        "csv",
    )
    assert event.external_client_id == "G-1"
    assert event.service_name == "Laser full legs"
    assert event.amount_cents == 125_000
    assert event.provider_id == "Kim"
    assert event.scheduled_at == datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 10:30 EST
    assert event.service_date == date(2026, 3, 2)


def test_headers_match_case_insensitively_with_a_bom_and_snake_case() -> None:
    text = "\ufeffappointment_id,PATIENT_ID,treatment,appointment_date\nj-9,p-3,Peel,2026-03-01\n"

    result = parse(text)

    [row] = result.rows
    assert (row.event.appointment_id, row.client_ref, row.event.service_name) == (
        "j-9",
        "p-3",
        "Peel",
    )
    assert row.event.scheduled_at is None and row.event.service_date == date(2026, 3, 1)


def test_without_a_status_column_every_row_is_a_completion() -> None:
    result = parse("Id,Guest ID,Start\n1,g1,2026-03-01\n2,g2,2026-03-02\n")

    assert [r.event.change for r in result.rows] == [VisitChange.COMPLETED] * 2


def test_several_bad_rows_are_reported_by_line_and_the_rest_import() -> None:
    text = (
        "Appointment ID,Client ID,Service,Date,Status,Amount\n"  # line 1
        "A1,G1,Laser,2026-03-02,Completed,300\n"  # 2 ok
        ",G2,Laser,2026-03-02,Completed,\n"  # 3 no id
        "A3,G3,Laser,someday,Completed,\n"  # 4 bad date
        "A4,G4,Laser,2026-03-02,Completed,twelve\n"  # 5 bad amount
        "\n"  # 6 blank: ignored
        "A5,,Laser,2026-03-02,Completed,\n"  # 7 no client
        'A6,G6,"Peel,\ndeep",2026-03-03,Completed,\n'  # 8-9 quoted newline: ok
        "A7,G7,Laser,2026-03-04,Completed,1.005\n"  # 10 three decimals
        "A8,G8,Laser, deep,2026-03-04,Completed,\n"  # 11 unquoted comma
        "A9,G9,Laser,2026-03-04,Exploded,\n"  # 12 unknown status
        "A10,G10,Laser,2026-03-04,Completed,-5\n"  # 13 negative
        "A11,G11,Laser,2026-03-05,completed,45.50\n"  # 14 ok
    )

    result = parse(text)

    assert [r.line for r in result.rows] == [2, 8, 14]
    assert result.rows[1].event.service_name == "Peel,\ndeep"
    assert result.rows[2].event.amount_cents == 4550
    errors = by_line(result)
    assert sorted(errors) == [3, 4, 5, 7, 10, 11, 12, 13]
    assert "no appointment id" in errors[3]
    assert "someday" in errors[4]
    assert "twelve" in errors[5]
    assert "client" in errors[7]
    assert "two decimals" in errors[10]
    assert "columns" in errors[11]
    assert "Exploded" in errors[12]
    assert "negative" in errors[13]


def test_outcomes_other_than_completion_and_statuses_that_are_not_outcomes() -> None:
    text = (
        "Appointment ID,Client ID,Date,Status\n"
        "A1,G1,2026-03-02,No-Show\n"
        "A2,G1,2026-03-02,Late Cancellation\n"
        "A3,G1,2026-03-02,Canceled\n"
        "A4,G1,2026-03-02,Booked\n"
        "A5,G1,2026-03-02,checked_out\n"
    )

    result = parse(text)

    assert [(r.line, r.event.change) for r in result.rows] == [
        (2, VisitChange.NO_SHOW),
        (3, VisitChange.LATE_CANCEL),
        (4, VisitChange.CANCELLED),
        (6, VisitChange.COMPLETED),
    ]
    assert result.rows[0].event.event_key == "csv:csv:A1:no_show"
    assert [(s.line, "Booked" in s.reason) for s in result.skipped] == [(5, True)]
    assert result.errors == []


def test_the_same_file_twice_gives_the_same_keys_and_repeats_are_skipped() -> None:
    text = (
        "Appointment ID,Client ID,Date,Platform\n"
        "Z1,G1,2026-03-02,Zenoti\n"
        "Z1,G1,2026-03-02,Zenoti\n"
        "B1,G2,2026-03-02,\n"
    )

    first, second = parse(text, platform=Platform.JANE), parse(text, platform=Platform.JANE)

    keys = [r.event.event_key for r in first.rows]
    assert keys == [r.event.event_key for r in second.rows]
    assert keys == ["csv:zenoti:Z1:completed", "csv:jane:B1:completed"]
    assert [r.event.platform for r in first.rows] == [Platform.ZENOTI, Platform.JANE]
    assert [(s.line, s.reason) for s in first.skipped] == [(3, "repeats line 2")]


def test_client_reference_prefers_id_then_email_then_phone() -> None:
    text = (
        "Appointment ID,Client ID,Email,Phone,Date\n"
        "A1,G1,ana@example.com,,2026-03-02\n"
        "A2,,Ben@Example.com,+1 555 555 0102,2026-03-02\n"
        "A3,,,(555) 555-0103,2026-03-02\n"
        "A4,,not-an-email,,2026-03-02\n"
    )

    result = parse(text)

    assert [(r.client_ref, r.client_ref_kind) for r in result.rows] == [
        ("G1", ClientRefKind.ID),
        ("ben@example.com", ClientRefKind.EMAIL),
        ("(555) 555-0103", ClientRefKind.PHONE),
    ]
    assert result.rows[1].event.external_client_id is None
    assert list(by_line(result)) == [5]


def test_a_generic_client_column_is_read_by_its_value() -> None:
    text = "Id,Client,Date\n1,cara@example.com,2026-03-02\n2,555-555-0100,2026-03-02\n3,C-77,2026-03-02\n"

    kinds = [r.client_ref_kind for r in parse(text).rows]

    assert kinds == [ClientRefKind.EMAIL, ClientRefKind.PHONE, ClientRefKind.ID]


@pytest.mark.parametrize(
    ("cell", "day_first", "expected_date", "expected_utc"),
    [
        ("03/02/2026", False, date(2026, 3, 2), None),
        ("03/02/2026", True, date(2026, 2, 3), None),
        ("3/4/26 2:15 PM", False, date(2026, 3, 4), datetime(2026, 3, 4, 19, 15, tzinfo=UTC)),
        ("Mar 6, 2026", False, date(2026, 3, 6), None),
        ("2026-03-06T09:00:00Z", False, date(2026, 3, 6), datetime(2026, 3, 6, 9, tzinfo=UTC)),
        ("2026-03-06 09:00", False, date(2026, 3, 6), datetime(2026, 3, 6, 14, tzinfo=UTC)),
    ],
)
def test_date_formats(
    cell: str, day_first: bool, expected_date: date, expected_utc: datetime | None
) -> None:
    text = f'Id,Client ID,Date\n1,g1,"{cell}"\n'

    [row] = parse(text, timezone=NY, day_first=day_first).rows

    assert row.event.service_date == expected_date
    assert row.event.scheduled_at == expected_utc


def test_a_separate_time_column_is_combined_with_the_date() -> None:
    text = "Id,Client ID,Date,Time\n1,g1,2026-03-06,2:30 PM\n2,g1,2026-03-06,25:99\n"

    result = parse(text, timezone=NY)

    assert result.rows[0].event.scheduled_at == datetime(2026, 3, 6, 19, 30, tzinfo=UTC)
    assert list(by_line(result)) == [3]


def test_completions_dated_in_the_future_are_refused() -> None:
    text = "Id,Client ID,Date,Status\n1,g1,2026-04-01,Completed\n2,g1,2026-04-01,Cancelled\n"

    result = parse(text)

    assert "future" in by_line(result)[2]
    assert [r.event.change for r in result.rows] == [VisitChange.CANCELLED]


def test_a_header_without_required_columns_is_one_error_on_line_one() -> None:
    result = parse("Client,Service\nana,Laser\n")

    assert [e.line for e in result.errors] == [1]
    assert "appointment id" in result.errors[0].message
    assert "date" in result.errors[0].message
    assert result.rows == []


def test_unknown_platform_in_a_row_is_that_row_error() -> None:
    result = parse("Id,Client ID,Date,Platform\n1,g,2026-03-01,Vagaro\n2,g,2026-03-01,BLVD\n")

    assert list(by_line(result)) == [2]
    assert [r.event.platform for r in result.rows] == [Platform.BOULEVARD]


def test_semicolon_exports_and_windows_1252_bytes() -> None:
    data = "Id;Client ID;Service;Date\n1;g1;Soin visage é;2026-03-01\n".encode("cp1252")

    [row] = parse_csv(data, now=NOW).rows

    assert row.event.service_name == "Soin visage é"


def test_an_empty_file_is_an_error() -> None:
    assert [e.message for e in parse("\n\n").errors] == ["the file is empty"]


@pytest.mark.parametrize(
    ("amount", "says"),
    [
        ("1e29", "not a plain amount"),
        ("1e2", "not a plain amount"),
        ("-5", "negative"),
        ("(5.00)", "negative"),
        ("12.345", "more than two decimals"),
        ("NaN", "not a plain amount"),
        ("Infinity", "not a plain amount"),
        ("12,50", "decimal comma"),
        ("1000000.01", "over the limit of 1,000,000.00"),
        ("0x10", "not a plain amount"),
    ],
)
def test_amounts_that_are_not_plain_money_are_refused_naming_line_and_column(
    amount: str, says: str
) -> None:
    result = parse(
        "Appointment ID,Client ID,Date,Price\n"
        "A1,G1,2026-03-02,300\n"
        f'A2,G2,2026-03-02,"{amount}"\n'
        "A3,G3,2026-03-02,$1,250.00\n".replace("$1,250.00", '"$1,250.00"')
    )

    [error] = result.errors
    assert error.line == 3
    assert says in error.message and "'Price'" in error.message and repr(amount) in error.message
    assert [(r.line, r.event.amount_cents) for r in result.rows] == [(2, 30_000), (4, 125_000)]


def test_plain_amounts_within_the_limit_are_read_exactly() -> None:
    amounts = ["1000000.00", "0.10", ".5", "1,234", "USD 19.99", "12.50 €", "0"]
    text = "Id,Client ID,Date,Amount\n" + "".join(
        f'{n},g,2026-03-01,"{a}"\n' for n, a in enumerate(amounts)
    )

    result = parse(text)

    assert result.errors == []
    assert [r.event.amount_cents for r in result.rows] == [
        100_000_000,
        10,
        50,
        123_400,
        1999,
        1250,
        None,
    ]


def test_overlong_ids_and_control_characters_are_refused_naming_the_line() -> None:
    text = (
        "Appointment ID,Client ID,Service,Date\n"
        f"{'A' * 200},G1,Laser,2026-03-02\n"  # 2
        "A2,G2,Laser\x00full legs,2026-03-02\n"  # 3
        f"A3,{'g' * 151},Laser,2026-03-02\n"  # 4
        f"A4,G4,{'Laser ' * 40},2026-03-02\n"  # 5
        "A5,G5,Peel\x1b[31m,2026-03-02\n"  # 6
        f"{'A' * 120},G6,Laser,2026-03-02\n"  # 7 ok: the longest id
    )

    result = parse(text)

    errors = by_line(result)
    assert sorted(errors) == [2, 3, 4, 5, 6]
    assert "'Appointment ID'" in errors[2] and "at most 120" in errors[2]
    assert "'Service'" in errors[3] and "control character" in errors[3]
    assert "'Client ID'" in errors[4] and "at most 150" in errors[4]
    assert "at most 200" in errors[5]
    assert "control character" in errors[6]
    assert [r.line for r in result.rows] == [7]


def test_a_file_over_the_row_limit_imports_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_import, "MAX_ROWS", 3)
    rows = "".join(f"A{n},G{n},2026-03-02\n" for n in range(4))

    result = parse("Id,Client ID,Date\n" + rows)

    assert result.rows == []
    [error] = result.errors
    assert error.line == 5 and "more than 3 rows" in error.message


def test_a_file_over_the_size_limit_is_refused_unread() -> None:
    data = b"Id,Client ID,Date\n" + b"A,G,2026-03-02\n" * (csv_import.MAX_FILE_BYTES // 15 + 1)

    result = parse_csv(data, now=NOW)

    assert result.rows == [] and [e.line for e in result.errors] == [1]
    assert "split the export" in result.errors[0].message
