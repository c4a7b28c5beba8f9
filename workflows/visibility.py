"""What ops see of a package in the Temporal UI and `temporal workflow list`: its search
attributes, its static summary and details, and the one-line current details.

Pure: the package workflow, the starters (sale, renewal) and the worker's start-up check
all read the keys from here, and `deploy/temporal/create-namespace.sh` and `punchcard up`
register exactly these (a test holds them to it).

Search attributes are *not* encrypted by the payload codec: they carry ids, codes, counts
and dates only — never a name, phone or email.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from temporalio.common import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

from workflows import schedule
from workflows.models import PackageInput, PackageKind, PackageStatus

CLIENT_IDS = SearchAttributeKey.for_keyword_list("PunchcardClientIds")
STATUS = SearchAttributeKey.for_keyword("PunchcardStatus")
PACKAGE_TYPE = SearchAttributeKey.for_keyword("PunchcardPackageType")
REMAINING = SearchAttributeKey.for_int("PunchcardRemaining")
GOOD_THROUGH = SearchAttributeKey.for_datetime("PunchcardGoodThrough")
# Set at start for a package sold at a configured location; unset (never upserted) for a
# spa that configured none, so those packages start and run exactly as before.
LOCATION = SearchAttributeKey.for_keyword("PunchcardLocation")

ALL_KEYS: tuple[SearchAttributeKey[Any], ...] = (
    CLIENT_IDS,
    STATUS,
    PACKAGE_TYPE,
    REMAINING,
    GOOD_THROUGH,
    LOCATION,
)

# The names `temporal operator search-attribute create --type` and
# `temporal server start-dev --search-attribute NAME=TYPE` take.
CLI_TYPES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
}


def cli_type(key: SearchAttributeKey[Any]) -> str:
    """`Keyword`, `KeywordList`, `Int`, `Datetime`…: the CLI's name for the key's type."""
    return CLI_TYPES[key.indexed_value_type]


def good_through_value(day: date) -> datetime:
    """The spa-local last good day as a Datetime attribute: that date at 00:00 UTC, so the
    stored date is the spa's date whatever zone the server or reader is in."""
    return datetime.combine(day, time(0), tzinfo=UTC)


@dataclass(frozen=True)
class PackageIndex:
    """The searchable facts of one package, as they stand."""

    client_ids: tuple[str, ...]
    status: PackageStatus
    type_code: str
    remaining: int
    good_through: date | None
    location: str | None = None

    def values(self) -> list[tuple[SearchAttributeKey[Any], Any]]:
        """Key and value for each attribute; None means unset."""
        return [
            (CLIENT_IDS, list(self.client_ids)),
            (STATUS, self.status.value),
            (PACKAGE_TYPE, self.type_code),
            (REMAINING, self.remaining),
            (
                GOOD_THROUGH,
                None if self.good_through is None else good_through_value(self.good_through),
            ),
            (LOCATION, self.location),
        ]

    def at_start(self) -> TypedSearchAttributes:
        """For `start_workflow(search_attributes=…)`: indexed from the first event on, so the
        workflow need not upsert at all until something changes."""
        return TypedSearchAttributes(
            [SearchAttributePair(key, value) for key, value in self.values() if value is not None]
        )

    def changes(self, current: TypedSearchAttributes) -> list[SearchAttributeUpdate[Any]]:
        """Only what differs from `current`: an empty list means no upsert is owed."""
        updates: list[SearchAttributeUpdate[Any]] = []
        for key, value in self.values():
            now = current.get(key)
            if value is None:
                if now is not None:
                    updates.append(key.value_unset())
            elif _differs(now, value):
                updates.append(key.value_set(value))
        return updates


def _differs(current: Any, wanted: Any) -> bool:
    if isinstance(wanted, list):
        return current is None or list(current) != wanted
    return bool(current != wanted)


def index(
    input: PackageInput,
    *,
    status: PackageStatus,
    remaining: int,
    expires_at: datetime | None,
) -> PackageIndex:
    return PackageIndex(
        client_ids=client_ids(input),
        status=status,
        type_code=input.terms.type_code,
        remaining=remaining,
        good_through=(
            None
            if expires_at is None
            else schedule.good_through(expires_at, input.notices.timezone)
        ),
        location=input.location_id,
    )


def index_at_sale(input: PackageInput) -> PackageIndex:
    """As the package starts: sold whole, or brought in with what it had left."""
    opening = input.opening
    return index(
        input,
        status=(
            PackageStatus.EXPIRED
            if opening is not None and opening.expired
            else PackageStatus.ACTIVE
        ),
        remaining=input.terms.units if opening is None else opening.remaining,
        expires_at=input.expires_at,
    )


def client_ids(input: PackageInput) -> tuple[str, ...]:
    """The holder first, then the other attendees of a shared purchase."""
    return (input.client_id, *(c for c in input.shared_with if c != input.client_id))


def _amount(kind: PackageKind, units: int) -> str:
    if kind is PackageKind.DOLLARS:
        return f"${units / 100:,.2f}"
    return f"{units} session{'' if units == 1 else 's'}"


def _through(day: date | None) -> str:
    return "no expiry" if day is None else f"good through {day.isoformat()}"


def summary(input: PackageInput) -> str:
    """One line for the UI's workflow list: client, package, good-through (ids, no PII)."""
    day = index_at_sale(input).good_through
    return f"{input.client_id} · {input.terms.type_code} ({input.terms.name}) · {_through(day)}"


def details(input: PackageInput) -> str:
    """The static details (Temporal markdown) shown on the workflow's page."""
    terms, day = input.terms, index_at_sale(input).good_through
    lines = [
        f"**Package** {input.package_id} — {terms.name} (`{terms.type_code}`)",
        f"**Client** {input.client_id}"
        + (f", shared with {', '.join(input.shared_with)}" if input.shared_with else ""),
        f"**Sold** {_amount(terms.kind, terms.units)} on {input.purchased_at.date().isoformat()}"
        f" by {input.sold_by}",
        f"**Expiry** {_through(day)} ({input.notices.timezone})",
    ]
    if input.opening is not None:
        opening = input.opening
        lines.append(
            f"**Brought in** from {opening.source}"
            + (f" purchase {opening.source_id}" if opening.source_id else "")
            + f" with {_amount(terms.kind, opening.remaining)} left"
            + (" (already expired)" if opening.expired else "")
        )
    if input.location_id:
        lines.append(f"**Location** {input.location_id}")
    if input.parent_purchase_id:
        lines.append(f"**Purchase** {input.parent_purchase_id}")
    if input.renews_package_id:
        lines.append(f"**Renews** {input.renews_package_id}")
    return "\n\n".join(lines)


def current_details(index: PackageIndex, kind: PackageKind) -> str:
    """The details line that follows the balance (not a command: no history event)."""
    return f"{index.status.value} · {_amount(kind, index.remaining)} left · {_through(index.good_through)}"


def registration_commands(namespace: str, keys: Sequence[SearchAttributeKey[Any]]) -> list[str]:
    """How an operator registers `keys` on a cluster, one CLI line each."""
    return [
        f"temporal operator search-attribute create --namespace {namespace} "
        f"--name {key.name} --type {cli_type(key)}"
        for key in keys
    ]
