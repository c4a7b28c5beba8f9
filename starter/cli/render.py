"""Plain-text output: aligned tables and the spa's way of writing amounts and dates.

Plain text on purpose: it pastes into a ticket, greps, and reads the same in any terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from starter.cli.runtime import CliError
from workflows import texts
from workflows.models import PackageKind


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column is never padded."""
    body = [list(map(str, row)) for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in body)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(w) for c, w in zip(cells[:-1], widths[:-1], strict=True)]
        return "  ".join([*padded, cells[-1]]).rstrip()

    rule = ["-" * w for w in widths]
    return "\n".join([line(headers), line(rule), *(line(r) for r in body)])


def amount(kind: PackageKind, units: int) -> str:
    return texts.amount(kind, units)


def balance(kind: PackageKind, remaining: int, total: int) -> str:
    if kind is PackageKind.DOLLARS:
        return f"{texts.money(remaining)} / {texts.money(total)}"
    return f"{remaining}/{total}"


def last_day(expires_at: datetime | None, timezone: str) -> str:
    """Staff read the good-through day (`schedule.good_through`), as clients do."""
    return texts.local_date(expires_at, timezone)


def local_time(at: datetime, timezone: str) -> str:
    return at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"{option} wants a date like 2027-03-31, not {text!r}") from None


def parse_when(text: str, timezone: str, option: str) -> datetime:
    """An ISO date-time; without an offset it is local time at the spa."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"{option} wants a time like 2027-03-31T14:30, not {text!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=ZoneInfo(timezone))


def parse_dollars(text: str, option: str) -> int:
    """'$1,500', '1500' or '89.50' → cents; refuses fractions of a cent and negatives."""
    cleaned = text.strip().replace(",", "").removeprefix("$")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise CliError(f"{option} wants dollars like 150 or 89.50, not {text!r}") from None
    cents = value * 100
    if not value.is_finite() or cents != cents.to_integral_value() or value < 0:
        raise CliError(f"{option} wants dollars like 150 or 89.50, not {text!r}")
    return int(cents)
