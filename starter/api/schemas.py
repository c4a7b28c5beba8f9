"""Request and response bodies of the staff API (the OpenAPI document is built from these)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, Field

from workflows.models import Model, PackageKind, PackageStatus
from workflows.visit_models import Platform, VisitOutcome

Text = Field(min_length=1, max_length=500)


class ErrorBody(Model):
    detail: str


class DeskWarning(Model):
    code: Literal[
        "zero_balance", "expiring_soon", "pace", "in_review", "low_balance", "frozen", "not_started"
    ]
    message: str


class SharedHolder(Model):
    client_id: str
    name: str


class DeskPackage(Model):
    """One package as the front desk sees it."""

    package_id: str
    client_id: str
    type_code: str
    name: str
    kind: PackageKind
    status: PackageStatus
    remaining: int
    purchased_units: int
    remaining_label: str = Field(description='"4 sessions left" or "$1,200.00 left of $1,500.00"')
    expires_at: datetime | None
    expires_on: date | None
    unused_value_cents: int
    pace_at_risk: bool
    parent_purchase_id: str | None
    warnings: list[DeskWarning]
    shared_with: list[SharedHolder] = Field(
        default_factory=list, description="the other attendees of a shared (couples) purchase"
    )
    location_id: str | None = Field(
        default=None,
        description="where it was sold (null: the default location); `expires_on` is that "
        "location's day",
    )
    frozen_through: date | None = Field(
        default=None, description="while frozen: the last frozen day (that location's day)"
    )
    awaiting_activation: bool = Field(
        default=False,
        description="a first-visit package not used yet: `expires_on` is its unused bound",
    )


class ClientOut(Model):
    client_id: str
    name: str
    phone: str | None = Field(description="E.164")
    email: str | None
    sms_opt_out: bool = Field(description="no SMS is sent to the client (a STOP, or staff)")
    email_opt_out: bool = Field(default=False, description="no email is sent to the client")
    home_location_id: str | None = Field(
        default=None, description="where sales to the client belong (None: the default)"
    )


class LinkOut(Model):
    platform: str
    external_id: str


class ClientDetail(Model):
    client: ClientOut
    packages: list[DeskPackage]
    links: list[LinkOut]


class HistoryLine(Model):
    seq: int
    kind: str
    units_delta: int
    balance_after: int
    value_cents: int
    appointment_id: str | None
    actor: str
    source: str
    reason: str | None
    outcome: str
    occurred_at: datetime
    day: date = Field(
        description="the day the desk shows: the visit's date of service, else the day the "
        "entry was recorded, in the spa's time zone"
    )
    day_is_service_date: bool = Field(description="whether `day` is the appointment's date")
    service_date: date | None = Field(
        default=None, description="the appointment's date of service, when the package knows it"
    )
    recorded_label: str = Field(
        description='when the entry was recorded, in the spa\'s zone: "Dec 2, 2026 4:55 PM EST"'
    )


class CompleteBody(Model):
    appointment_id: str | None = Field(
        default=None,
        max_length=120,
        description="omit at the desk: one is made up; `mindbody:104233` names the platform",
    )
    platform: Platform | None = Field(
        default=None, description="the booking platform of appointment_id, if not prefixed"
    )
    request_id: str | None = Field(
        default=None, max_length=120, description="idempotency key: a retry sends the same"
    )
    amount_cents: int | None = Field(default=None, gt=0, le=10_000_000)
    provider_id: str | None = Field(default=None, max_length=200)
    service_date: date | None = None
    allow_same_day: bool = False


class AttendanceBody(Model):
    appointment_id: str | None = Field(default=None, max_length=120)
    request_id: str | None = Field(default=None, max_length=120)
    outcome: Literal["no_show", "late_cancel"] = "no_show"


class ReverseBody(Model):
    appointment_id: str = Field(min_length=1, max_length=120)
    reason: str = Text


class AddUnitsBody(Model):
    units: int = Field(gt=0, le=10_000_000)
    paid_cents: int = Field(ge=0, le=100_000_000)
    reason: str = Field(default="top-up", min_length=1, max_length=500)
    request_id: str | None = Field(default=None, max_length=120)


class ExtendBody(Model):
    """Grace: only lengthens (an earlier day is refused, 409 `BadExpiry`)."""

    new_expires_on: date = Field(
        le=date(2999, 12, 31),
        description="last day the package is good (spa's zone); later than the current one",
    )
    reason: str = Text


class CorrectExpiryBody(Model):
    """A wrong expiry fixed: earlier or later, not already past."""

    new_expires_on: date = Field(
        le=date(2999, 12, 31),
        description="the right last good day (spa's zone): today or later",
    )
    reason: str = Text


class FreezeBody(Model):
    """A pause (manager): `days` from today (today counted) or through `until`; at most
    the type's `max_freeze_days` (longer is a 422 naming the maximum)."""

    days: int | None = Field(default=None, ge=1, le=3650, description="days, today counted")
    until: date | None = Field(
        default=None, le=date(2999, 12, 31), description="last frozen day (spa's zone)"
    )
    reason: str = Text


class UnfreezeBody(Model):
    """An early end to a freeze: the days not used come back off the expiry."""

    reason: str = Text


class ForfeitBody(Model):
    reason: str = Text


class BookBody(Model):
    """A booking change the platform did not send (never consumes a session)."""

    appointment_id: str = Field(min_length=1, max_length=120)
    change: Literal["booked", "rescheduled", "confirmed", "checked_in", "cancelled"] = "booked"
    scheduled_at: AwareDatetime | None = Field(
        default=None, description="the appointment's time, with its UTC offset"
    )
    provider_id: str | None = Field(default=None, max_length=200)
    rebooked_from: str | None = Field(
        default=None, max_length=120, description="earlier appointment id of the same visit"
    )
    request_id: str | None = Field(
        default=None, max_length=120, description="idempotency key: a retry sends the same"
    )


class ProviderOut(Model):
    provider_id: str
    name: str
    role: str | None
    active: bool


class CancelBody(Model):
    reason: str = Text
    issue_refund: bool = Field(
        default=False,
        description="refund the pro-rata amount through Stripe (packages paid through Stripe)",
    )


class SaleBody(Model):
    client_id: str = Field(min_length=1, max_length=200)
    type_code: str = Field(min_length=1, max_length=200)
    shared_with: list[str] = Field(default_factory=list, max_length=10)
    purchase_id: str | None = Field(default=None, min_length=1, max_length=200)
    payment_intent_id: str | None = Field(
        default=None,
        min_length=4,
        max_length=200,
        description="the Stripe payment, so a cancel can refund through Stripe",
    )
    purchased_on: date | None = Field(
        default=None,
        ge=date(1970, 1, 1),
        description="the day it was bought, in the spa's zone (default: now); a day before "
        "today backdates the sale to that day's start and needs a manager",
    )
    expires_on: date | None = Field(
        default=None,
        le=date(2999, 12, 31),
        description="the last good day, in the spa's zone (default: the type's months from "
        "the purchase); never past",
    )
    location_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=150,
        description="where it is sold (GET /api/locations; default: the client's home "
        "location, else the default location); "
        "its reminders go out at that location's local hour, and the days above are that "
        "location's",
    )


class RenewalLinkOut(Model):
    """A checkout the client pays on their phone at the desk; the same all day."""

    package_id: str
    client_id: str
    type_code: str
    name: str
    price_cents: int
    url: str
    status: Literal["created", "not_configured"] = Field(
        description="created: a Stripe Checkout Session; not_configured: the spa's renewal page"
    )
    session_id: str | None = None
    offer_key: str = Field(description="the idempotency key of the offer (package and day)")


class SaleOut(Model):
    purchase_id: str
    package_ids: list[str]
    already_sold: bool
    location_id: str | None = Field(
        default=None, description="where it was sold (null: the spa configured no location)"
    )


class AssignBody(Model):
    package_id: str = Field(min_length=1, max_length=200)
    amount_cents: int | None = Field(default=None, gt=0, le=10_000_000)
    allow_same_day: bool = Field(
        default=False, description="the package already redeemed a visit that day: this is another"
    )


class DismissBody(Model):
    reason: str = Text


class ResolveOut(Model):
    item_id: str
    status: str
    package_id: str | None = None
    detail: str


class LinkBody(Model):
    platform: Literal["boulevard", "mindbody", "zenoti", "jane", "csv", "hubspot", "gohighlevel"]
    external_id: str = Field(min_length=1, max_length=300)


class CatalogBody(Model):
    platform: Literal["*", "boulevard", "mindbody", "zenoti", "jane", "csv"] = "*"
    service_key: str = Field(min_length=1, max_length=300, description="service id or name")
    category: str = Field(min_length=1, max_length=100)
    label: str | None = Field(default=None, max_length=300)


class RowProblem(Model):
    line: int = Field(description="line number in the file (the header is line 1)")
    message: str


class ImportReport(Model):
    rows: int = Field(description="data rows read")
    accepted: int = Field(description="rows handed to their visit workflows")
    skipped: int = Field(default=0, description="rows that are not outcomes, or repeats")
    errors: list[RowProblem]


class WebhookAck(Model):
    status: Literal["accepted", "duplicate", "ignored"]
    event_key: str
    detail: str
    visit_workflow_id: str | None = None
    outcome: VisitOutcome | None = Field(
        default=None,
        description="what the visit did with a completion, no-show or late cancel, when it "
        "settled it before the answer (null: not waited for, or not settled within "
        "PUNCHCARD_WEBHOOK_SETTLE_SECONDS; it will be, nothing more to send)",
    )
    package_id: str | None = Field(
        default=None, description="the package it was redeemed or recorded on"
    )


class Health(Model):
    status: Literal["ok", "degraded"]
    temporal: str
    database: str


class Me(Model):
    staff_id: str
    name: str
    role: str
