"""Read a client list (generic, Mindbody's or Boulevard's export) into `ClientRow`s.

Headers are matched case- and punctuation-insensitively against each format's aliases
(`CLIENT_ALIASES`); a `mapping` (field -> header) names a column outright, for an export
whose headers differ. The platform formats read their own client id column as that
platform's id (a link); a generic file names each platform's id in its own column.

On reading, per row: a name (or first and last name) is required; phones become E.164 in
the spa's country (`phonenumbers`; an invalid one is left out, and the row says so);
emails are lower-cased (an invalid one is left out too); a Boulevard id given as a bare
UUID becomes the `urn:blvd:Client:<uuid>` its webhooks send. A row that repeats an
earlier row's platform id, Client ID, phone or email is a `duplicate` of that line and is
not imported, unless it names its own Client ID (different people sharing a phone).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import phonenumbers
from pydantic import Field

from activities.imports.models import FORMAT_PLATFORM, ClientRow, ImportFormat, RowResult
from starter.ingress.csv_table import CellError, Table, check_text, read_table
from workflows.models import Model

MAX_ROWS = 100_000
MAX_ID = 150
MAX_TEXT = 200
MAX_EMAIL = 254
MAX_PHONE = 40
PLATFORMS = ("mindbody", "boulevard", "zenoti", "jane")

_NAMES = {
    "name": ("name", "full name", "client name", "client", "customer name", "guest name"),
    "first_name": ("first name", "firstname", "given name", "client first name"),
    "last_name": ("last name", "lastname", "surname", "family name", "client last name"),
    "mobile": ("mobile phone", "mobile", "cell phone", "cell", "mobile number", "client mobile"),
    "phone": ("phone", "phone number", "client phone", "home phone", "work phone"),
    "email": ("email", "email address", "e-mail", "client email", "e mail"),
    "sms_opt_out": ("sms opt out", "sms opted out", "text opt out", "opted out of sms"),
    # Mindbody's client export calls it "Home Location" (unconfirmed for Boulevard).
    "location": ("home location", "location", "home studio", "preferred location"),
}
_PLATFORM_IDS = {
    "mindbody_id": ("mindbody id", "mindbody client id"),
    "boulevard_id": ("boulevard id", "boulevard client id", "blvd id", "blvd client id"),
    "zenoti_id": ("zenoti id", "zenoti guest id"),
    "jane_id": ("jane id", "jane patient id"),
}
# Field -> header aliases per format. The platform headers are those of the exports as
# their help pages describe them, plus the API's field names; where unconfirmed, the
# README says so and `mapping` overrides them.
CLIENT_ALIASES: dict[str, dict[str, Sequence[str]]] = {
    "generic": {
        "client_id": ("client id", "punchcard id", "punchcard client id", "id"),
        **_NAMES,
        **_PLATFORM_IDS,
    },
    "mindbody": {
        "platform_id": ("client id", "id", "clientid", "mindbody id", "member id"),
        **_NAMES,
        "mobile": ("mobile phone", "mobilephone", "cell phone", "mobile", "cell"),
        "phone": ("home phone", "homephone", "phone", "work phone", "workphone"),
    },
    "boulevard": {
        "platform_id": ("client id", "id", "clientid", "boulevard id", "guest id"),
        **_NAMES,
        "mobile": ("mobile phone", "mobile", "phone number", "phone", "cell phone"),
        "phone": ("home phone", "work phone"),
    },
}
FIELDS = sorted({f for aliases in CLIENT_ALIASES.values() for f in aliases})

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_TRUE = {"1", "true", "yes", "y", "x", "opted out", "optedout"}


class ClientParse(Model):
    rows: list[ClientRow] = Field(default_factory=list)
    refused: list[RowResult] = Field(default_factory=list, description="lines not imported")
    error: RowResult | None = Field(default=None, description="the whole file refused")


def parse_clients(
    data: bytes | str,
    *,
    format: ImportFormat = "generic",
    country: str = "US",
    mapping: Mapping[str, str] | None = None,
) -> ClientParse:
    """Every row becomes a `ClientRow` or a refusal naming its line (header = line 1)."""
    unknown = sorted(set(mapping or {}) - set(CLIENT_ALIASES[format]))
    if unknown:
        return ClientParse(
            error=_refused(1, f"unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)})")
        )
    table = read_table(data, CLIENT_ALIASES[format], mapping=mapping, max_rows=MAX_ROWS)
    if table.error is not None:
        return ClientParse(error=_refused(*table.error))
    missing = _missing(table.columns, format)
    if missing:
        return ClientParse(error=_refused(1, missing))
    result = ClientParse(refused=[_refused(line, why) for line, why in table.problems])
    seen: dict[str, int] = {}
    for line, cells in table.rows:
        try:
            row = _row(line, cells, table, format, country)
        except CellError as bad:
            result.refused.append(_refused(line, str(bad)))
            continue
        earlier = _earlier(row, seen)
        if earlier is not None:
            what, first = earlier
            result.refused.append(
                RowResult(
                    line=line,
                    outcome="duplicate",
                    message=f"same {what} as line {first}: not imported (one row per client; "
                    "different people sharing it: give each row its own Client ID)",
                )
            )
            continue
        result.rows.append(row)
    result.refused.sort(key=lambda r: r.line)
    return result


def _missing(columns: Mapping[str, int], format: str) -> str | None:
    if "name" not in columns and "first_name" not in columns:
        return "the header lacks a name column (Name, or First Name and Last Name)"
    if format in FORMAT_PLATFORM and "platform_id" not in columns:
        return f"the header lacks {format}'s client id column (Client ID, ID)"
    return None


def _row(line: int, cells: Mapping[str, str], table: Table, format: str, country: str) -> ClientRow:
    text = {f: check_text(v, table.column(f), _limit(f)) for f, v in cells.items()}
    name = text.get("name") or " ".join(
        p for p in (text.get("first_name"), text.get("last_name")) if p
    )
    name = " ".join(name.split())
    if not name:
        raise CellError("no name")
    notes: list[str] = []
    phone = None
    for field in ("mobile", "phone"):
        raw = text.get(field, "")
        if not raw:
            continue
        phone = e164(raw, country)
        if phone is not None:
            break
        notes.append(f"{table.column(field)} {raw!r} is not a valid {country} number: left out")
    email = text.get("email", "").lower() or None
    if email is not None and not _EMAIL.fullmatch(email):
        notes.append(f"email {email!r} is not an address: left out")
        email = None
    platform_ids = {p: text[f"{p}_id"] for p in PLATFORMS if text.get(f"{p}_id")}
    if format in FORMAT_PLATFORM:
        if not text.get("platform_id"):
            raise CellError(f"no {format} client id")
        platform_ids[FORMAT_PLATFORM[format]] = text["platform_id"]
    if "boulevard" in platform_ids and _UUID.fullmatch(platform_ids["boulevard"]):
        platform_ids["boulevard"] = f"urn:blvd:Client:{platform_ids['boulevard'].lower()}"
    return ClientRow(
        line=line,
        client_id=text.get("client_id") or None,
        name=name,
        phone=phone,
        email=email,
        platform_ids=platform_ids,
        sms_opt_out=text.get("sms_opt_out", "").strip().lower() in _TRUE,
        location_ref=text.get("location") or None,
        notes=notes,
    )


def e164(raw: str, country: str) -> str | None:
    """ "(212) 555-0143" in the US -> "+12125550143"; None when it cannot be a number.

    A number of a possible length for its country is kept even when the metadata does not
    know its range (new ranges, the 555 numbers of fiction and test data): refusing it
    would leave the client without texts for a reason nobody could see.
    """
    try:
        number = phonenumbers.parse(raw, country)
    except phonenumbers.NumberParseException:
        return None
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:  # too short, local-only, …
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _limit(field: str) -> int:
    if field == "email":
        return MAX_EMAIL
    if field in ("mobile", "phone"):
        return MAX_PHONE
    if field.endswith("_id"):
        return MAX_ID
    return MAX_TEXT


def _earlier(row: ClientRow, seen: dict[str, int]) -> tuple[str, int] | None:
    """The detail this row shares with an earlier one, and that line; remembers its own.
    A row naming its own Client ID may share a phone or email (families do)."""
    ids = [(f"{p} id {i}", f"{p}:{i}") for p, i in sorted(row.platform_ids.items())]
    if row.client_id:
        ids.append((f"Client ID {row.client_id}", f"id:{row.client_id}"))
    contact = [("phone", f"phone:{row.phone}")] if row.phone else []
    contact += [("email", f"email:{row.email}")] if row.email else []
    for what, key in ids + ([] if row.client_id else contact):
        if key in seen:
            return what, seen[key]
    for _, key in ids + contact:
        seen.setdefault(key, row.line)
    return None


def _refused(line: int, message: str) -> RowResult:
    return RowResult(line=line, outcome="refused", message=message)
