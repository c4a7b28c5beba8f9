"""Bodies of the setup endpoints (clients, package types, staff) and of the read-outs the
CLI has too (alerts, the message log, review items). Every string and number is bounded
here, so a refusal is a 422 naming the field; request bodies also refuse unknown fields
(a misspelt one would otherwise be dropped without a word)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from activities.repository import E164, Role
from workflows.models import ExpiryStart, Model, PackageKind

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+~-]*$"
Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=150, pattern=ID_PATTERN),
    Field(description="letters, digits and . _ : @ + ~ - (at most 150), starting alphanumeric"),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Phone = Annotated[
    str, StringConstraints(max_length=16, pattern=E164), Field(description="E.164: +15555550123")
]
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class Body(Model):
    """A request body: unknown fields are refused, by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- clients ------------------------------------------------------------------------------


class ClientCreate(Body):
    client_id: Id
    name: Name = Field(description="full name, as the client is greeted")
    phone: Phone | None = None
    email: Email | None = None
    sms_opt_out: bool = Field(
        default=False, description="already opted out of SMS (e.g. in the system moved from)"
    )
    email_opt_out: bool = Field(default=False, description="already opted out of email")
    home_location_id: Id | None = Field(
        default=None,
        description="the client's location (a spa group): sales to them belong there unless "
        "one names another, so their reminders go out at its local hour (default: the "
        "default location)",
    )


class ClientUpdate(Body):
    """Only the fields sent change; `null` clears phone, email or the home location."""

    name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None
    home_location_id: Id | None = None

    @field_validator("name")
    @classmethod
    def _name_not_cleared(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("a client keeps a name: send one, or leave the field out")
        return value


# --- package types ------------------------------------------------------------------------


class PackageTypeBody(Body):
    """What is sold; copied into each package at sale (later edits do not change it)."""

    name: Name = Field(description="what the client sees, e.g. 'Laser Hair Removal (6)'")
    kind: PackageKind = PackageKind.SESSIONS
    units: int = Field(
        gt=0, le=10_000_000, description="sessions; for a dollar package, cents of credit"
    )
    price_cents: int = Field(ge=0, le=100_000_000, description="the price, in cents")
    expiry_months: int | None = Field(
        default=None, gt=0, le=240, description="months a package is good; null: the spa default"
    )
    categories: list[Category] = Field(
        default_factory=list, max_length=50, description="service categories it covers"
    )
    no_show_forfeits: bool = Field(default=False, description="a no-show consumes a session")
    late_cancel_forfeits: bool = Field(
        default=False, description="a late cancel consumes a session"
    )
    vip_rollover_max: int = Field(
        default=0, ge=0, le=10_000, description="up to this many left at expiry go to review"
    )
    min_interval_days: int | None = Field(
        default=None, gt=0, le=3650, description="days between treatments (pace alert)"
    )
    enforce_zero_balance: bool = Field(
        default=True, description="refuse redemptions at zero balance"
    )
    match_priority: int = Field(
        default=100,
        ge=0,
        le=10_000,
        description="among packages covering a visit, lower goes first",
    )
    max_freeze_days: int = Field(
        default=90, ge=0, le=3650, description="longest freeze a manager may grant; 0: none"
    )
    expiry_starts: ExpiryStart = Field(
        default="purchase",
        description="first_visit: the expiry clock starts at the first completed visit",
    )
    max_unused_months: int = Field(
        default=24, gt=0, le=240, description="first_visit: a package never used expires then"
    )


class PackageTypeCreate(PackageTypeBody):
    type_code: Id = Field(description="the type's code, e.g. laser6")


class PackageTypeOut(Model):
    type_code: str
    name: str
    kind: PackageKind
    units: int = Field(description="sessions; for a dollar package, cents of credit")
    price_cents: int
    expiry_months: int | None = Field(description="null: the spa default")
    categories: list[str]
    no_show_forfeits: bool
    late_cancel_forfeits: bool
    vip_rollover_max: int
    min_interval_days: int | None
    enforce_zero_balance: bool
    match_priority: int
    max_freeze_days: int
    expiry_starts: ExpiryStart
    max_unused_months: int


# --- locations ----------------------------------------------------------------------------

Zone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(description="IANA time zone, e.g. America/Los_Angeles", examples=["America/New_York"]),
]
MindbodyId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^-?[0-9]{1,12}$")]


class LocationFields(Body):
    """Where a location is, and the ids its booking platforms give it (each names one
    location at most)."""

    boulevard_location_id: Id | None = Field(
        default=None, description="Boulevard locationId: urn:blvd:Location:<uuid> (or the UUID)"
    )
    mindbody_site_id: MindbodyId | None = Field(
        default=None, description="Mindbody SiteId (null: any site)"
    )
    mindbody_location_id: MindbodyId | None = Field(
        default=None, description="Mindbody LocationId within the site"
    )
    zenoti_center_id: Id | None = Field(default=None, description="Zenoti center id")
    jane_location_id: Id | None = Field(default=None, description="Jane location id")


class LocationCreate(LocationFields):
    location_id: Id = Field(description="a short id, e.g. soho")
    name: Name = Field(description="as staff and reports show it, e.g. 'Glow SoHo'")
    timezone: Zone
    is_default: bool = Field(
        default=False,
        description="sales naming no location, and packages sold before locations existed, "
        "belong to the default (the first location is the default until another is marked)",
    )


class LocationUpdate(LocationFields):
    """Only the fields sent change; `null` clears a platform id."""

    name: Name | None = None
    timezone: Zone | None = None
    is_default: bool | None = Field(default=None, description="true: make it the default")

    @field_validator("name", "timezone")
    @classmethod
    def _kept(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("a location keeps a name and a time zone: leave the field out")
        return value


class LocationOut(Model):
    location_id: str
    name: str
    timezone: str
    is_default: bool
    implied: bool = Field(
        description="true: no location is configured; this one is the spa's settings"
    )
    boulevard_location_id: str | None
    mindbody_site_id: str | None
    mindbody_location_id: str | None
    zenoti_center_id: str | None
    jane_location_id: str | None


# --- staff --------------------------------------------------------------------------------


class StaffCreate(Body):
    staff_id: Id = Field(description="a login-like id, e.g. maria")
    name: Name | None = Field(default=None, description="full name (default: the id)")
    role: Role = Role.FRONT_DESK


class StaffOut(Model):
    staff_id: str
    name: str
    role: Role
    active: bool = Field(description="false once the token is revoked")


class StaffToken(StaffOut):
    """The only answer that carries the token: it is stored hashed and never shown again."""

    token: str = Field(description="send as `Authorization: Bearer <token>`")


# --- read-outs ----------------------------------------------------------------------------


class AlertOut(Model):
    alert_key: str
    kind: str = Field(
        description="booking_at_zero, consumed_80, pace, expiry_review, refund_failed, …"
    )
    message: str
    client_id: str | None
    package_id: str | None
    created_at: datetime


class MessageOut(Model):
    """One message to a client: sent, failed, or withheld (and why)."""

    message_key: str
    channel: Literal["sms", "email"]
    kind: str = Field(description="e.g. reminder, low_balance, receipt")
    package_id: str | None
    recipient: str | None = Field(description="the phone or address it went to")
    subject: str | None
    body: str
    status: str = Field(
        description="sent, sending, rejected, opted_out, no_address or not_configured"
    )
    error: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime


class ReviewItemOut(Model):
    """An event staff must settle: a visit no package matched, a payment, a follow-up."""

    item_id: str
    kind: str = Field(description="unmatched_visit, payment or follow_up")
    reason: str = Field(description="why it is here, e.g. unknown_client, no_matching_package")
    detail: str
    status: str = Field(description="open, assigned, dismissed or done")
    client_id: str | None
    platform: str | None
    appointment_id: str | None
    service_name: str | None
    category: str | None
    visit_workflow_id: str | None = Field(description="the visit that waits for the decision")
    created_at: datetime
    escalated_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None
    package_id: str | None = Field(description="the package it was assigned to")
