"""What every write-back adapter shares: the CRM interface and the fields written.

A CRM adapter writes one contact's package fields and answers with a `SyncTargetResult`;
only failures worth a retry, or an operator's attention, are raised
(`activities.provider_errors`: transient trouble retryable, bad credentials
BAD_CONFIGURATION); a 404 is answered `not_linked`, any other 4xx `rejected`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from workflows import schedule, texts
from workflows.contracts import PackageSync, SyncStatus, SyncTargetResult


@dataclass(frozen=True, kw_only=True)
class CrmContact:
    """Who to write: the CRM's own contact id when linked, else the email to address by."""

    client_id: str
    crm_id: str | None = None
    email: str | None = None
    name: str | None = None  # for a CRM that creates the record (Salesforce upsert)


@dataclass(frozen=True, kw_only=True)
class CrmFields:
    """The contact fields Punchcard owns, as the strings CRMs take ("" clears a field)."""

    sessions_remaining: str
    package_name: str
    package_expires: str
    last_session: str
    renewal_link: str
    package_status: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


FIELD_NAMES: tuple[str, ...] = tuple(CrmFields.__dataclass_fields__)


class CrmAdapter(Protocol):
    """One CRM: `name` is the target recorded in `integration_syncs` and in results."""

    @property
    def name(self) -> str: ...

    async def push(self, contact: CrmContact, fields: CrmFields) -> SyncTargetResult:
        """Write `fields` on the contact; answer updated, not_linked or rejected.

        Raises:
            ApplicationError: retryable for transient trouble, BAD_CONFIGURATION for bad auth.
        """
        ...


def crm_fields(sync: PackageSync, zone: ZoneInfo) -> CrmFields:
    """The fields for a package state; dates are days in the spa's zone, money in dollars.

    `package_expires` is the good-through day (what the client's texts say), never the
    date of the exclusive end instant, which is the day after.
    """
    return CrmFields(
        sessions_remaining=remaining_value(sync),
        package_name=sync.name,
        package_expires=good_through_day(sync.expires_at, zone),
        last_session=local_day(sync.last_session_at, zone),
        renewal_link=sync.renewal_url or "",
        package_status=sync.status,
    )


def remaining_value(sync: PackageSync) -> str:
    """Sessions as a whole number; a dollar package's remaining cents as dollars ("350.00")."""
    if sync.kind == "dollars":
        return texts.plain_dollars(sync.remaining)
    return str(sync.remaining)


def good_through_day(expires_at: datetime | None, zone: ZoneInfo) -> str:
    """YYYY-MM-DD of the last day a package ending at `expires_at` is good, or "" for none."""
    if expires_at is None:
        return ""
    return schedule.good_through(_aware(expires_at), zone).isoformat()


def local_day(moment: datetime | None, zone: ZoneInfo) -> str:
    """YYYY-MM-DD in the spa's zone (what staff and clients call the date), or ""."""
    if moment is None:
        return ""
    return _aware(moment).astimezone(zone).date().isoformat()


def _aware(moment: datetime) -> datetime:
    """Timestamps read back without a zone are UTC (how Punchcard stores them)."""
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def answered(target: str, status: SyncStatus, detail: str | None = None) -> SyncTargetResult:
    return SyncTargetResult(target=target, status=status, detail=detail)
