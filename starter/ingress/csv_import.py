"""Parse a booking-platform export of completed appointments into `VisitEvent`s.

Every booking platform can export appointments as CSV, even those we cannot poll (Jane
without partner access), so this is the fallback path into intake. Headers are matched
case-insensitively against common aliases; rows are checked one by one, and a bad row
becomes a `RowError` with its line in the file (the header is line 1) while the rest
still import. The event key is `csv:<platform>:<appointment id>:<change>`: importing the
same file twice, or an overlapping export, changes nothing.

Limits at the door, each refusal naming the line (and the column, for a cell):

- the file: at most `MAX_FILE_BYTES` and `MAX_ROWS` data rows, or nothing is imported;
- amounts: plain decimal notation (`1250`, `1,250.00`, `$45.5`): no exponent, no sign, at
  most two decimals, a comma only between groups of three digits, at most `MAX_AMOUNT`;
- cells the import reads: at most `MAX_ID_LENGTH` characters for an appointment id (it is
  part of the event key), `MAX_FIELD_LENGTH` for other ids, `MAX_TEXT_LENGTH` for names,
  and no control characters other than tab and line breaks.

Pure code over text: resolving clients and submitting the events is the caller's job.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationError

from starter.ingress.csv_table import (
    CONTROL as _CONTROL,
)
from starter.ingress.csv_table import (
    TIME_FORMATS as _TIME_FORMATS,
)
from starter.ingress.csv_table import (
    CellError,
    amount_cents,
    decode,
    dialect,
    first_parsed,
    match_columns,
    parse_datetime,
    squash,
)
from workflows.models import Model
from workflows.visit_models import Platform, VisitChange, VisitEvent

MAX_ID_LENGTH = 120  # inside the event key "csv:<platform>:<id>:<change>", at most 150
MAX_FIELD_LENGTH = 150  # VisitEvent's id limit, for client, service and staff ids
MAX_TEXT_LENGTH = 200  # service and client names, emails, phones, dates, statuses
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000  # a whole chain's 90-day export (the overrun audit bench) is ~66,000
MAX_AMOUNT = Decimal("1000000.00")  # one appointment; far beyond any treatment price
FUTURE_SLACK = timedelta(days=1)  # zone differences; beyond this a "completed" date is wrong


class ClientRefKind(StrEnum):
    ID = "id"  # the platform's client id (or a Punchcard id: the caller decides)
    EMAIL = "email"
    PHONE = "phone"


class CsvRow(Model):
    line: int
    client_ref: str
    client_ref_kind: ClientRefKind = ClientRefKind.ID
    event: VisitEvent


class RowError(Model):
    line: int
    message: str


class RowSkipped(Model):
    """A well-formed row that is not an outcome (a booked appointment, a repeat)."""

    line: int
    reason: str


class CsvParse(Model):
    rows: list[CsvRow] = Field(default_factory=list)
    errors: list[RowError] = Field(default_factory=list)
    skipped: list[RowSkipped] = Field(default_factory=list)


class _Bad(CellError):
    """One row's problem, in words for the person who made the export."""


_squash = squash


# Field -> header aliases, compared squashed ("Appointment ID" == "appointment_id").
ALIASES: Mapping[str, Sequence[str]] = {
    "appointment_id": (
        "appointment id",
        "appointmentid",
        "appt id",
        "appointment",
        "appointment number",
        "appointment no",
        "booking id",
        "visit id",
        "id",
    ),
    "client_id": ("client id", "guest id", "patient id", "customer id", "member id"),
    "email": ("email", "e-mail", "email address", "client email", "guest email", "patient email"),
    "phone": ("phone", "mobile", "cell", "phone number", "mobile phone", "client phone"),
    "client": ("client", "guest", "patient", "customer"),
    "service_key": ("service id", "treatment id", "service code"),
    "service_name": ("service", "service name", "treatment", "treatment name", "item"),
    "date": (
        "date",
        "appointment date",
        "start",
        "start time",
        "start date",
        "date time",
        "scheduled",
        "scheduled at",
        "appointment time",
    ),
    "time": ("time",),
    "status": ("status", "appointment status", "state"),
    "amount": ("amount", "price", "total", "amount paid", "paid", "service price"),
    "staff": ("staff", "provider", "practitioner", "therapist", "employee", "staff member"),
    "platform": ("platform", "booking platform", "source"),
}
_CLIENT_FIELDS = ("client_id", "email", "phone", "client")

_COMPLETED = {"", "completed", "complete", "closed", "checkedout", "paid", "done", "finished"}
_COMPLETED |= {"fulfilled", "attended", "showed"}
_NO_SHOW = {"noshow", "noshowed", "missed", "didnotarrive", "dna", "didnotshow", "absent"}
_LATE_CANCEL = {"latecancel", "latecancellation", "latecancelled", "latecanceled"}
_LATE_CANCEL |= {"cancelledlate", "canceledlate"}
_CANCELLED = {"cancelled", "canceled", "cancel", "cancellation", "voided", "void", "deleted"}
_NOT_OUTCOMES = {"booked", "confirmed", "scheduled", "pending", "arrived", "checkedin", "new"}
_NOT_OUTCOMES |= {"inprogress", "open", "tentative", "unconfirmed", "requested", "started"}

_PLATFORMS = {
    "boulevard": Platform.BOULEVARD,
    "blvd": Platform.BOULEVARD,
    "mindbody": Platform.MINDBODY,
    "zenoti": Platform.ZENOTI,
    "jane": Platform.JANE,
    "janeapp": Platform.JANE,
    "csv": Platform.CSV,
}

_PHONE = re.compile(r"^\+?[\d\s().-]{7,}$")
_ID_FIELDS = frozenset({"client_id", "service_key", "staff"})


def parse_csv(
    data: bytes | str,
    *,
    platform: Platform = Platform.CSV,
    timezone: str = "UTC",
    day_first: bool = False,
    now: datetime | None = None,
    actor: str = "csv-import",
) -> CsvParse:
    """Read an export; every row becomes an event, a skip or an error with its line.

    Args:
        data: the file, as uploaded (UTF-8 with or without BOM; Windows-1252 tolerated).
        platform: the platform of rows without a Platform column.
        timezone: the spa's zone, for dates and times without an offset.
        day_first: read 03/04/2026 as 3 April (exports from outside the US).
        now: the present, for refusing completions dated in the future.
        actor: recorded on each event as who brought it in.
    """
    size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
    if size > MAX_FILE_BYTES:
        too_big = f"the file is {size:,} bytes: at most {MAX_FILE_BYTES:,}; split the export"
        return CsvParse(errors=[RowError(line=1, message=too_big)])
    text = _decode(data)
    zone = ZoneInfo(timezone)
    present = now or datetime.now(UTC)
    reader = csv.reader(io.StringIO(text, newline=""), dialect=_dialect(text))
    header: list[str] | None = None
    header_line = 1
    columns: dict[str, int] = {}
    result = CsvParse()
    seen: dict[str, int] = {}
    previous_end = 0
    data_rows = 0
    records = iter(reader)
    while True:
        try:
            record = next(records)
        except StopIteration:
            break
        except csv.Error as err:  # e.g. a field over the csv module's size limit
            result.errors.append(
                RowError(line=reader.line_num, message=f"unreadable CSV from here on: {err}")
            )
            break
        line, previous_end = previous_end + 1, reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if header is None:
            header, header_line = record, line
            columns = match_columns(header, ALIASES)
            missing = _missing(columns)
            if missing:
                return CsvParse(errors=[RowError(line=line, message=missing)])
            continue
        data_rows += 1
        if data_rows > MAX_ROWS:
            message = f"more than {MAX_ROWS:,} rows: nothing imported; split the export"
            return CsvParse(errors=[RowError(line=line, message=message)])
        if len(record) > len(header):
            result.errors.append(
                RowError(
                    line=line,
                    message=f"{len(record)} values but {len(header)} columns: "
                    "a comma inside an unquoted value?",
                )
            )
            continue
        cells = {name: _cell(record, index) for name, index in columns.items()}
        try:
            _check_cells(cells, header, columns)
            amount_column = _name(header, columns, "amount")
            row = _row(cells, line, platform, zone, day_first, present, actor, amount_column)
        except CellError as bad:
            result.errors.append(RowError(line=line, message=str(bad)))
            continue
        except ValidationError as err:  # a value the visit model refuses (control chars…)
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()
            )
            result.errors.append(RowError(line=line, message=problems))
            continue
        if isinstance(row, RowSkipped):
            result.skipped.append(row)
            continue
        first = seen.setdefault(row.event.event_key, line)
        if first != line:
            result.skipped.append(RowSkipped(line=line, reason=f"repeats line {first}"))
            continue
        result.rows.append(row)
    if header is None:
        return CsvParse(errors=[RowError(line=header_line, message="the file is empty")])
    return result


_decode = decode
_dialect = dialect


def _missing(columns: Mapping[str, int]) -> str | None:
    needs = []
    if "appointment_id" not in columns:
        needs.append("an appointment id column (Appointment ID, Id…)")
    if not any(name in columns for name in _CLIENT_FIELDS):
        needs.append("a client column (Client ID, Guest ID, Patient ID, Email, Phone…)")
    if "date" not in columns:
        needs.append("a date column (Date, Appointment Date, Start…)")
    return "the header lacks " + " and ".join(needs) if needs else None


def _cell(record: Sequence[str], index: int) -> str:
    return record[index].strip() if index < len(record) else ""


def _name(header: Sequence[str], columns: Mapping[str, int], field: str) -> str:
    """The column's name as the file spells it, for messages."""
    index = columns.get(field)
    return header[index].strip() if index is not None else field


def _check_cells(
    cells: Mapping[str, str], header: Sequence[str], columns: Mapping[str, int]
) -> None:
    """Every cell the import reads: no control characters, and a bounded length."""
    for field, value in cells.items():
        column = _name(header, columns, field)
        if _CONTROL.search(value):
            raise _Bad(f"column {column!r} holds a control character")
        if field == "appointment_id":
            limit = MAX_ID_LENGTH
        elif field in _ID_FIELDS:
            limit = MAX_FIELD_LENGTH
        else:
            limit = MAX_TEXT_LENGTH
        if len(value) > limit:
            raise _Bad(f"column {column!r} is {len(value)} characters long: at most {limit}")


def _row(
    cells: Mapping[str, str],
    line: int,
    default_platform: Platform,
    zone: ZoneInfo,
    day_first: bool,
    now: datetime,
    actor: str,
    amount_column: str,
) -> CsvRow | RowSkipped:
    appointment_id = cells.get("appointment_id", "")
    if not appointment_id:
        raise _Bad("no appointment id")
    change = _change(cells.get("status", ""))
    if change is None:
        return RowSkipped(
            line=line, reason=f"status {cells['status']!r} is not a completed appointment"
        )
    client_ref, kind = _client(cells)
    platform = _platform(cells.get("platform", ""), default_platform)
    service_date, scheduled_at = _when(
        cells.get("date", ""), cells.get("time", ""), zone, day_first
    )
    if change in (VisitChange.COMPLETED, VisitChange.NO_SHOW):
        moment = scheduled_at or datetime.combine(service_date, time(0), zone)
        if moment - now > FUTURE_SLACK:
            raise _Bad(f"{change.value} appointment dated in the future ({service_date})")
    occurred_at = scheduled_at or datetime.combine(service_date, time(12), zone)
    amount_cents = _amount(cells.get("amount", ""), amount_column)
    return CsvRow(
        line=line,
        client_ref=client_ref,
        client_ref_kind=kind,
        event=VisitEvent(
            event_key=f"csv:{platform.value}:{appointment_id}:{change.value}",
            platform=platform,
            appointment_id=appointment_id,
            change=change,
            external_client_id=client_ref if kind is ClientRefKind.ID else None,
            service_key=cells.get("service_key") or None,
            service_name=cells.get("service_name") or None,
            scheduled_at=scheduled_at.astimezone(UTC) if scheduled_at else None,
            service_date=service_date,
            amount_cents=amount_cents,
            provider_id=cells.get("staff") or None,
            occurred_at=occurred_at.astimezone(UTC),
            source="csv",
            actor=actor,
        ),
    )


def _change(status: str) -> VisitChange | None:
    """The outcome a status names; None for statuses that are not outcomes.

    Raises:
        _Bad: a status we do not know; it is never guessed to be a completion.
    """
    key = _squash(status)
    if key in _COMPLETED:
        return VisitChange.COMPLETED
    if key in _NO_SHOW:
        return VisitChange.NO_SHOW
    if key in _LATE_CANCEL:
        return VisitChange.LATE_CANCEL
    if key in _CANCELLED:
        return VisitChange.CANCELLED
    if key in _NOT_OUTCOMES:
        return None
    raise _Bad(f"unknown status {status!r} (expected completed, no-show, late cancel or cancelled)")


def _client(cells: Mapping[str, str]) -> tuple[str, ClientRefKind]:
    """The most specific client reference the row has: id, then email, then phone."""
    if cells.get("client_id"):
        return cells["client_id"], ClientRefKind.ID
    if cells.get("email"):
        return _email(cells["email"]), ClientRefKind.EMAIL
    if cells.get("phone"):
        return cells["phone"], ClientRefKind.PHONE
    value = cells.get("client", "")
    if not value:
        raise _Bad("no client id, email or phone")
    if "@" in value:
        return _email(value), ClientRefKind.EMAIL
    if _PHONE.match(value):
        return value, ClientRefKind.PHONE
    return value, ClientRefKind.ID


def _email(value: str) -> str:
    address = value.strip().lower()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address):
        raise _Bad("client email is not an address")
    return address


def _platform(value: str, default: Platform) -> Platform:
    if not value:
        return default
    found = _PLATFORMS.get(_squash(value))
    if found is None:
        known = ", ".join(sorted({p.value for p in _PLATFORMS.values()}))
        raise _Bad(f"unknown platform {value!r} (expected one of {known})")
    return found


def _when(
    day_text: str, time_text: str, zone: ZoneInfo, day_first: bool
) -> tuple[date, datetime | None]:
    """The service date (in the spa's zone) and, when the row has a time, the instant."""
    if not day_text:
        raise _Bad("no date")
    moment = _parse_datetime(day_text, day_first)
    if moment is None:
        raise _Bad(f"date {day_text!r} is not a date")
    has_time = isinstance(moment, datetime)
    if not has_time and time_text:
        clock = _first(time_text, _TIME_FORMATS, lambda t, f: datetime.strptime(t, f).time())
        if clock is None:
            raise _Bad(f"time {time_text!r} is not a time of day")
        moment = datetime.combine(moment, clock)
    if not isinstance(moment, datetime):
        return moment, None
    try:
        local = moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)
    except OverflowError:
        raise _Bad(f"date {day_text!r} is out of range") from None
    return local.date(), local


_parse_datetime = parse_datetime
_first = first_parsed


def _amount(text: str, column: str) -> int | None:
    """Cents from "$1,250.00", "150", "150.5"; None when blank or zero (see
    `csv_table.amount_cents` for what is refused)."""
    return amount_cents(text, column, maximum=MAX_AMOUNT) or None
