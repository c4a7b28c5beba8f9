"""Read open packages (generic, Mindbody's pricing options, Boulevard's vouchers) into
`PackageRow`s.

Each row: a client (a Punchcard client id, a platform's client id, an email, a phone, or a
name exactly one client has), a package type (its code or name, or the old name mapped to
a code on import), the purchase and expiry days, what was bought and what is left
(sessions, or for dollar packages the credit and the balance as money), the price paid,
and the old system's purchase id. What the row leaves out is taken from the type on
import, and said in the row's report line.

Bounded as every import (`csv_table`): at most `MAX_ROWS` rows and 20 MB; cells without
control characters and within their length; money as `Decimal`, at most two decimals and
$1,000,000; counts whole, at most `MAX_UNITS`. A row that repeats an earlier row's
purchase id (or, without one, every value of it) is a `duplicate` of that line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from pydantic import Field

from activities.imports.models import ImportFormat, PackageRow, RowResult
from starter.ingress.csv_table import (
    CellError,
    Table,
    amount_cents,
    check_text,
    parse_day,
    read_table,
    whole_number,
)
from workflows.models import Model

MAX_ROWS = 100_000
MAX_UNITS = 10_000
MAX_ID = 150
MAX_TEXT = 200

_COMMON: dict[str, Sequence[str]] = {
    "client": ("client id", "client_id", "customer id", "guest id", "patient id", "client ref"),
    "client_name": ("client name", "client", "customer", "guest", "patient", "name"),
    "type": (
        "package type",
        "type code",
        "type",
        "package",
        "package name",
        "pricing option",
        "service",
        "voucher",
        "item",
    ),
    "purchased_on": (
        "purchase date",
        "purchased",
        "purchased on",
        "sale date",
        "sold on",
        "date purchased",
        "issue date",
        "activation date",
    ),
    "expires_on": (
        "expiry date",
        "expiration date",
        "expires",
        "expires on",
        "expiration",
        "exp date",
        "expiry",
    ),
    "units_bought": (
        "units bought",
        "sessions bought",
        "sessions purchased",
        "total sessions",
        "sessions",
        "count",
        "units",
        "quantity purchased",
        "quantity",
    ),
    "units_remaining": (
        "units remaining",
        "sessions remaining",
        "remaining sessions",
        "sessions left",
        "visits remaining",
        "quantity outstanding",
        "remaining",
    ),
    "credit": ("credit", "credit bought", "face value", "original value", "value"),
    "balance": ("balance", "remaining balance", "credit remaining", "balance remaining"),
    "price": ("price paid", "amount paid", "paid", "price", "sale price", "total paid"),
    "location": ("location", "location id", "location name", "business location", "center"),
    "purchase_id": (
        "purchase id",
        "sale id",
        "order id",
        "old id",
        "voucher id",
        "client pricing option id",
        "package id",
    ),
}
# The platform profiles read the same fields; their own headers come first. Mindbody's
# pricing-option and Boulevard's voucher exports are only partly documented: the README
# says which headers are confirmed, and `mapping` names any other.
PACKAGE_ALIASES: dict[str, dict[str, Sequence[str]]] = {
    "generic": _COMMON,
    "mindbody": {
        **_COMMON,
        "client": ("client id", "clientid", "id", *_COMMON["client"]),
        "type": ("pricing option", "pricing option name", *_COMMON["type"]),
        "units_remaining": ("remaining", "remaining count", *_COMMON["units_remaining"]),
        "units_bought": ("count", "session count", *_COMMON["units_bought"]),
        "expires_on": ("expiration date", "expiration", *_COMMON["expires_on"]),
        "purchased_on": ("sale date", "purchase date", "active date", *_COMMON["purchased_on"]),
        "purchase_id": ("client service id", "sale id", *_COMMON["purchase_id"]),
    },
    "boulevard": {
        **_COMMON,
        "client_name": ("client", *_COMMON["client_name"]),
        "type": ("service", "voucher", "package", *_COMMON["type"]),
        "units_remaining": ("quantity outstanding", *_COMMON["units_remaining"]),
    },
}
FIELDS = sorted(_COMMON)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
SOURCES = {"generic": "csv", "mindbody": "mindbody", "boulevard": "boulevard"}


class PackageParse(Model):
    rows: list[PackageRow] = Field(default_factory=list)
    refused: list[RowResult] = Field(default_factory=list)
    error: RowResult | None = None


def parse_packages(
    data: bytes | str,
    *,
    format: ImportFormat = "generic",
    mapping: Mapping[str, str] | None = None,
    day_first: bool = False,
) -> PackageParse:
    """Every row becomes a `PackageRow` or a refusal naming its line (header = line 1)."""
    unknown = sorted(set(mapping or {}) - set(FIELDS))
    if unknown:
        return PackageParse(
            error=_refused(1, f"unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)})")
        )
    table = read_table(data, PACKAGE_ALIASES[format], mapping=mapping, max_rows=MAX_ROWS)
    if table.error is not None:
        return PackageParse(error=_refused(*table.error))
    missing = _missing(table.columns)
    if missing:
        return PackageParse(error=_refused(1, missing))
    result = PackageParse(refused=[_refused(line, why) for line, why in table.problems])
    seen: dict[str, int] = {}
    for line, cells in table.rows:
        try:
            row = _row(line, cells, table, SOURCES[format], day_first)
        except CellError as bad:
            result.refused.append(_refused(line, str(bad)))
            continue
        first = seen.setdefault(row.key(), line)
        if first != line:
            what = f"purchase id {row.purchase_id}" if row.purchase_id else "every value"
            result.refused.append(
                RowResult(
                    line=line,
                    outcome="duplicate",
                    message=f"repeats line {first} ({what}): not imported",
                )
            )
            continue
        result.rows.append(row)
    result.refused.sort(key=lambda r: r.line)
    return result


def _missing(columns: Mapping[str, int]) -> str | None:
    needs = []
    if "client" not in columns and "client_name" not in columns:
        needs.append("a client column (Client ID, Client…)")
    if "type" not in columns:
        needs.append("a package type column (Package Type, Package, Service…)")
    if "units_remaining" not in columns and "balance" not in columns:
        needs.append("what is left (Sessions Remaining, or Balance for dollar packages)")
    return "the header lacks " + " and ".join(needs) if needs else None


def _row(
    line: int, cells: Mapping[str, str], table: Table, source: str, day_first: bool
) -> PackageRow:
    text = {
        f: check_text(v, table.column(f), MAX_ID if f in ("client", "purchase_id") else MAX_TEXT)
        for f, v in cells.items()
    }
    client = text.get("client") or text.get("client_name") or ""
    if not client:
        raise CellError("no client")
    if source == "boulevard" and _UUID.fullmatch(client):  # as Boulevard's webhooks name it
        client = f"urn:blvd:Client:{client.lower()}"
    if not text.get("type"):
        raise CellError("no package type")
    remaining = whole_number(
        text.get("units_remaining", ""), table.column("units_remaining"), maximum=MAX_UNITS
    )
    balance = amount_cents(text.get("balance", ""), table.column("balance"))
    if remaining is None and balance is None:
        raise CellError("nothing says what is left (sessions remaining or balance)")
    return PackageRow(
        line=line,
        source=source,
        client_ref=client,
        client_name=text.get("client_name") or None,
        type_ref=" ".join(text["type"].split()),
        purchased_on=parse_day(
            text.get("purchased_on", ""), table.column("purchased_on"), day_first=day_first
        ),
        expires_on=parse_day(
            text.get("expires_on", ""), table.column("expires_on"), day_first=day_first
        ),
        units_bought=whole_number(
            text.get("units_bought", ""), table.column("units_bought"), maximum=MAX_UNITS
        ),
        units_remaining=remaining,
        credit_cents=amount_cents(text.get("credit", ""), table.column("credit")),
        balance_cents=balance,
        price_cents=amount_cents(text.get("price", ""), table.column("price")),
        purchase_id=text.get("purchase_id") or None,
        location_ref=text.get("location") or None,
    )


def _refused(line: int, message: str) -> RowResult:
    return RowResult(line=line, outcome="refused", message=message)
