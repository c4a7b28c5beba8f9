"""Reading spreadsheet exports, cell by cell: what every CSV import shares.

The appointment import (`csv_import`) and the move-in imports (`client_csv`,
`package_csv`) read files the same way: UTF-8 with or without a BOM (Windows-1252
tolerated), comma, semicolon or tab separated, the header on the first non-blank line
(line numbers count from 1, the header included, so a refusal names the line a person
sees in a spreadsheet), headers matched case- and punctuation-insensitively.

Cells are bounded where they are read: no control characters but tab and line breaks,
a length limit per column, and money in plain decimal notation read as `Decimal`
(`1250`, `1,250.00`, `$45.5`: no exponent, no sign, at most two decimals, a comma only
between groups of three digits). A cell that breaks a rule raises `CellError` whose text
names the column and quotes the cell.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar

T = TypeVar("T")

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_AMOUNT = Decimal("1000000.00")

TIME_FORMATS = ("%H:%M", "%H:%M:%S", "%I:%M %p", "%I:%M:%S %p", "%I:%M%p", "%I %p", "%I%p")
TEXT_DATE_FORMATS = ("%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y", "%a, %b %d, %Y")
_CURRENCY = re.compile(r"[$€£\s]|usd|cad|aud|eur|gbp", re.IGNORECASE)
# Plain notation: digits, optionally grouped by commas in threes, up to two decimals.
_PLAIN_AMOUNT = re.compile(r"(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d+)?|\.\d+")
# What a cell may not hold: C0 controls but tab and line breaks (quoted cells carry
# those), DEL and the C1 controls.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class CellError(ValueError):
    """One row's problem, in words for the person who made the export."""


def squash(text: str) -> str:
    """ "Appointment ID" == "appointment_id" == "appointmentid"."""
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


class _Semicolon(csv.excel):
    delimiter = ";"


def dialect(text: str) -> type[csv.Dialect]:
    """Comma, or the semicolon / tab some spreadsheet locales write instead."""
    first = text.lstrip("\r\n").split("\n", 1)[0]
    dialects: dict[str, type[csv.Dialect]] = {
        ",": csv.excel,
        ";": _Semicolon,
        "\t": csv.excel_tab,
    }
    best = max(dialects, key=first.count)
    return dialects[best] if first.count(best) else csv.excel


def file_size(data: bytes | str) -> int:
    return len(data.encode("utf-8")) if isinstance(data, str) else len(data)


@dataclass(frozen=True)
class Record:
    line: int  # where the record starts in the file (the header is line 1)
    cells: list[str]


@dataclass(frozen=True)
class Unreadable:
    line: int
    message: str


def records(text: str) -> Iterator[Record | Unreadable]:
    """Non-blank records with their line; a CSV the module cannot read past yields one
    `Unreadable` (on its line) and stops."""
    reader = csv.reader(io.StringIO(text, newline=""), dialect=dialect(text))
    previous_end = 0
    found = iter(reader)
    while True:
        try:
            record = next(found)
        except StopIteration:
            return
        except csv.Error as err:  # e.g. a field over the csv module's size limit
            yield Unreadable(reader.line_num, f"unreadable CSV from here on: {err}")
            return
        line, previous_end = previous_end + 1, reader.line_num
        if any(cell.strip() for cell in record):
            yield Record(line=line, cells=record)


def match_columns(header: Sequence[str], aliases: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each field's column: the first header matching its earliest alias."""
    squashed = [squash(name) for name in header]
    found: dict[str, int] = {}
    for name, names in aliases.items():
        for alias in names:
            key = squash(alias)
            if key in squashed:
                found[name] = squashed.index(key)
                break
    return found


def cell(record: Sequence[str], index: int) -> str:
    return record[index].strip() if index < len(record) else ""


def check_text(value: str, column: str, limit: int) -> str:
    """`value` as read, or `CellError` for a control character or more than `limit`."""
    if CONTROL.search(value):
        raise CellError(f"column {column!r} holds a control character")
    if len(value) > limit:
        raise CellError(f"column {column!r} is {len(value)} characters long: at most {limit}")
    return value


def amount_cents(text: str, column: str, *, maximum: Decimal = MAX_AMOUNT) -> int | None:
    """Cents from "$1,250.00", "150", "150.5"; None when blank; 0 for a zero amount.

    Raises:
        CellError: anything but a plain non-negative amount of at most two decimals and
            at most `maximum`; the message names the column and quotes the cell.
    """
    if not text:
        return None
    where = f"column {column!r}: amount {text!r}"
    cleaned = _CURRENCY.sub("", text)
    if cleaned.startswith(("(", "-")) or cleaned.endswith(")"):
        raise CellError(f"{where} is negative")
    if not _PLAIN_AMOUNT.fullmatch(cleaned):
        if re.fullmatch(r"\d+,\d{1,2}", cleaned):
            raise CellError(
                f"{where} has a decimal comma: write it with a point ({cleaned.replace(',', '.')})"
            )
        raise CellError(
            f"{where} is not a plain amount (digits, an optional point and two decimals)"
        )
    value = Decimal(cleaned.replace(",", ""))
    cents = value * 100
    if cents != cents.to_integral_value():
        raise CellError(f"{where} has more than two decimals")
    if value > maximum:
        raise CellError(f"{where} is over the limit of {maximum:,.2f}")
    return int(cents)


def whole_number(text: str, column: str, *, maximum: int) -> int | None:
    """A count ("6", "6.0", "1,200"); None when blank. Negative, fractional or above
    `maximum` is a `CellError`."""
    if not text:
        return None
    cleaned = text.replace(",", "").strip()
    if not re.fullmatch(r"-?\d+(\.0+)?", cleaned):
        raise CellError(f"column {column!r}: {text!r} is not a whole number")
    value = int(Decimal(cleaned))
    if value < 0:
        raise CellError(f"column {column!r}: {text!r} is negative")
    if value > maximum:
        raise CellError(f"column {column!r}: {text!r} is over the limit of {maximum:,}")
    return value


def parse_datetime(text: str, day_first: bool) -> date | datetime | None:
    """ISO dates and times, US (or day-first) numeric dates, "Mar 2, 2026"; a date when
    the text holds no time of day. None when it is none of them."""
    text = re.sub(r"\s+", " ", text.strip())
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    else:
        return parsed if re.search(r"\d[T ]\d", text) else parsed.date()
    first, second = ("%d", "%m") if day_first else ("%m", "%d")
    numeric = [f"{first}{sep}{second}{sep}{year}" for sep in "/-." for year in ("%Y", "%y")]
    for formats in (numeric, list(TEXT_DATE_FORMATS)):
        head, _, rest = _split_clock(text)
        found = first_parsed(head, formats, lambda t, f: datetime.strptime(t, f).date())
        if found is None:
            continue
        if not rest:
            return found
        clock = first_parsed(rest, TIME_FORMATS, lambda t, f: datetime.strptime(t, f).time())
        if clock is None:
            return None
        return datetime.combine(found, clock)
    return None


def parse_day(text: str, column: str, *, day_first: bool = False) -> date | None:
    """The calendar day a cell names (a time of day in it is ignored); None when blank."""
    if not text:
        return None
    found = parse_datetime(text, day_first)
    if found is None:
        raise CellError(f"column {column!r}: {text!r} is not a date")
    return found.date() if isinstance(found, datetime) else found


def _split_clock(text: str) -> tuple[str, str, str]:
    """ "05/01/2026 10:30 AM" -> ("05/01/2026", " ", "10:30 AM")."""
    match = re.search(r"\s(\d{1,2}(:\d{2}){0,2}\s?([AaPp][Mm])?)$", text)
    if match is None or (":" not in match.group(1) and not match.group(3)):
        return text, "", ""
    return text[: match.start()].rstrip(", "), " ", match.group(1)


def first_parsed(text: str, formats: Sequence[str], parse: Callable[[str, str], T]) -> T | None:
    for fmt in formats:
        try:
            return parse(text, fmt)
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class Table:
    """A file read into rows of the fields it has (by alias or by the caller's mapping)."""

    header: list[str]
    columns: dict[str, int]
    rows: list[tuple[int, dict[str, str]]]  # line, field -> cell (stripped)
    problems: list[tuple[int, str]]  # lines refused while reading
    error: tuple[int, str] | None = None  # nothing can be read: the whole file is refused

    def column(self, field: str) -> str:
        """The column's name as the file spells it, for messages."""
        index = self.columns.get(field)
        return self.header[index].strip() if index is not None else field


def read_table(
    data: bytes | str,
    aliases: Mapping[str, Sequence[str]],
    *,
    mapping: Mapping[str, str] | None = None,
    max_rows: int,
    max_bytes: int = MAX_FILE_BYTES,
) -> Table:
    """Rows of `data` with the fields of `aliases`; `mapping` names a field's header
    outright (field -> header, for exports whose headers differ from the known ones).

    A file over `max_bytes` or `max_rows`, empty, or whose mapping names a header it does
    not have is refused whole (`error`); a row with more cells than headers is a problem
    of its own line, the rest read on.
    """
    size = file_size(data)
    if size > max_bytes:
        return Table([], {}, [], [], (1, f"the file is {size:,} bytes: at most {max_bytes:,}"))
    header: list[str] | None = None
    columns: dict[str, int] = {}
    rows: list[tuple[int, dict[str, str]]] = []
    problems: list[tuple[int, str]] = []
    for found in records(decode(data)):
        if isinstance(found, Unreadable):
            problems.append((found.line, found.message))
            break
        if header is None:
            header = found.cells
            columns = match_columns(header, aliases)
            if mapping:
                squashed = [squash(name) for name in header]
                for field, name in mapping.items():
                    if squash(name) not in squashed:
                        return Table(
                            header, columns, [], [], (found.line, f"no column {name!r} for {field}")
                        )
                    columns[field] = squashed.index(squash(name))
            continue
        if len(rows) + len(problems) >= max_rows:
            return Table(
                header,
                columns,
                [],
                [],
                (found.line, f"more than {max_rows:,} rows: split the file"),
            )
        if len(found.cells) > len(header):
            problems.append(
                (
                    found.line,
                    f"{len(found.cells)} values but {len(header)} columns: a comma inside an "
                    "unquoted value?",
                )
            )
            continue
        rows.append((found.line, {f: cell(found.cells, i) for f, i in columns.items()}))
    if header is None:
        return Table([], {}, [], [], (1, "the file is empty"))
    return Table(header, columns, rows, problems)
