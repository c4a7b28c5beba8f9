"""The rows of a move-in import as parsed, and what became of each.

The parsers (`starter.ingress.client_csv`, `starter.ingress.package_csv`) turn a file into
these rows; the job keeps them in `import_rows`, and the import activities apply them a
batch at a time. Money is in cents, counts in whole units, days are the spa's.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Literal

from pydantic import Field

from workflows.models import Model

ImportKind = Literal["clients", "packages"]
ImportFormat = Literal["generic", "mindbody", "boulevard"]
Outcome = Literal["created", "updated", "skipped", "duplicate", "refused"]
OUTCOMES: tuple[Outcome, ...] = ("created", "updated", "skipped", "duplicate", "refused")
JobStatus = Literal["running", "done", "failed"]

# The platform a format's own client ids belong to (their links); generic files name
# each platform's id in its own column.
FORMAT_PLATFORM: dict[str, str] = {"mindbody": "mindbody", "boulevard": "boulevard"}


def fingerprint(*parts: object) -> str:
    """A short stable digest of a row's identifying values (its key without an old id)."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class ClientRow(Model):
    """One client of the file, its contact details already normalised."""

    line: int
    client_id: str | None = Field(default=None, description="a Punchcard id the file gives")
    name: str
    phone: str | None = Field(default=None, description="E.164")
    email: str | None = None
    platform_ids: dict[str, str] = Field(
        default_factory=dict, description="platform -> that platform's client id"
    )
    sms_opt_out: bool = False
    location_ref: str | None = Field(
        default=None, description="the client's home location: its id, name or platform id"
    )
    notes: list[str] = Field(default_factory=list, description="what was dropped on reading")

    def key(self) -> str:
        """The import key: the first platform id, else the Punchcard id, else the details."""
        for platform in sorted(self.platform_ids):
            return f"{platform}:{self.platform_ids[platform]}"
        if self.client_id:
            return f"id:{self.client_id}"
        return "row:" + fingerprint(self.name.casefold(), self.phone, self.email)


class PackageRow(Model):
    """One open package of the file; what is missing is taken from its type on import."""

    line: int
    source: str = Field(description="the old system: csv, mindbody, boulevard")
    client_ref: str = Field(description="client id, a platform's client id, email or phone")
    client_name: str | None = None
    type_ref: str = Field(description="package type code or name")
    purchased_on: date | None = None
    expires_on: date | None = None
    units_bought: int | None = None
    units_remaining: int | None = None
    credit_cents: int | None = Field(default=None, description="dollar packages: face value")
    balance_cents: int | None = Field(default=None, description="dollar packages: left")
    price_cents: int | None = None
    purchase_id: str | None = None
    location_ref: str | None = Field(
        default=None, description="where it was sold: a location's id, name or platform id"
    )
    notes: list[str] = Field(default_factory=list)

    def key(self) -> str:
        """The old purchase id when the file has one, else a fingerprint of the row."""
        if self.purchase_id:
            return f"{self.source}:{self.purchase_id}"
        return f"{self.source}:row:" + fingerprint(
            self.client_ref.casefold(),
            self.type_ref.casefold(),
            self.purchased_on,
            self.expires_on,
            self.units_bought,
            self.units_remaining,
            self.credit_cents,
            self.balance_cents,
            self.price_cents,
        )


class ImportOptions(Model):
    """How a job reads and applies its rows (kept with the job)."""

    include_expired: bool = Field(
        default=False,
        description="bring packages already expired in as expired (kept for the record) "
        "instead of refusing them",
    )
    type_map: dict[str, str] = Field(
        default_factory=dict, description="the old system's package name -> a type code"
    )
    location_id: str | None = Field(
        default=None,
        description="the location of rows that name none (default: the default location)",
    )


class RowResult(Model):
    """What became of one row (or would have, in a dry run)."""

    line: int
    outcome: Outcome
    message: str
    ref: str | None = None
