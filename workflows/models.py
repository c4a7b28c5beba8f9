"""Pydantic models for the package workflow: its input, state, messages and answers.

Every field added later gets a default so recorded histories still decode.
Amounts are integers: sessions for session packages, cents for dollar packages.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    """Base for every Punchcard message; values are frozen.

    Unknown fields are ignored, not refused: during a rolling deploy an older worker reads
    payloads a newer one wrote (a field added to an input, a result, carried state), and
    must go on with what it knows. Bounds on what arrives from outside are enforced at the
    door (`starter.ingress`, the API's request models), not here."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class PackageKind(StrEnum):
    SESSIONS = "sessions"
    DOLLARS = "dollars"


class PackageStatus(StrEnum):
    ACTIVE = "active"
    IN_REVIEW = "in_review"  # reached expiry under the VIP rollover policy; staff decide
    EXPIRED = "expired"
    CANCELLED = "cancelled"


CLOSED_STATUSES = frozenset({PackageStatus.EXPIRED, PackageStatus.CANCELLED})


class EntryKind(StrEnum):
    SALE = "sale"
    REDEMPTION = "redemption"
    REVERSAL = "reversal"
    NO_SHOW = "no_show"
    LATE_CANCEL = "late_cancel"
    BOOKING = "booking"
    TOP_UP = "top_up"
    EXTENSION = "extension"
    CANCELLATION = "cancellation"
    REMINDER = "reminder"
    EXPIRY = "expiry"
    EXPIRY_REVIEW = "expiry_review"
    PACE_ALERT = "pace_alert"
    REFUND = "refund"  # money back through Stripe (ours or the dashboard's)
    REFUND_FAILED = "refund_failed"  # Stripe refused: the cancellation is undone
    # A package brought in from the old system with what it had left: liability taken
    # over, not a sale (finance reads the two apart).
    OPENING_BALANCE = "opening_balance"
    # A manager fixing a wrong expiry date (either way, shortening included): a data
    # correction, not a grace, so finance and the audit trail read it apart from extension.
    EXPIRY_CORRECTION = "expiry_correction"
    # A manager pausing the package (medical leave, pregnancy): no unit moves; the expiry
    # moves by the requested span at freeze, and an early unfreeze gives back the days not
    # used, so the net move is the days actually frozen.
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    # The expiry clock of a package whose type starts it at the first visit, started.
    ACTIVATION = "activation"


ExpiryStart = Literal["purchase", "first_visit"]


class PackageTerms(Model):
    """What was sold, frozen at sale: later edits to the package type do not change it."""

    type_code: str
    name: str
    kind: PackageKind = PackageKind.SESSIONS
    units: int = Field(gt=0, description="sessions, or cents of credit for dollar packages")
    price_cents: int = Field(ge=0)
    categories: list[str] = Field(default_factory=list)
    no_show_forfeits: bool = False
    late_cancel_forfeits: bool = False
    vip_rollover_max: int = Field(default=0, ge=0)
    min_interval_days: int | None = Field(default=None, gt=0)
    enforce_zero_balance: bool = True
    # The longest freeze a manager may grant, in days (0: this type cannot be frozen).
    max_freeze_days: int = Field(default=90, ge=0)
    # "first_visit": the expiry clock starts at the first completed visit (then runs
    # `activation_months`); until then the package is bounded by the expiry given at sale
    # (the type's maximum unused age) and no reminder is planned.
    expiry_starts: ExpiryStart = "purchase"
    activation_months: int | None = Field(default=None, gt=0)


class ReminderSpec(Model):
    label: str
    before: timedelta
    renewal_link: bool = False


def default_reminders() -> list[ReminderSpec]:
    return [
        ReminderSpec(label="60d", before=timedelta(days=60)),
        ReminderSpec(label="30d", before=timedelta(days=30), renewal_link=True),
        ReminderSpec(label="14d", before=timedelta(days=14)),
    ]


class NoticePolicy(Model):
    """The spa's messaging rules, snapshotted at sale (workflows never read settings)."""

    spa_name: str = "Punchcard Med Spa"
    timezone: str = "America/New_York"
    local_hour: int | None = Field(default=10, ge=0, le=23)
    reminders: list[ReminderSpec] = Field(default_factory=default_reminders)
    renewal_url: str = "https://punchcard.invalid/renew/{package_id}"
    pace_warning: bool = True


class Entry(Model):
    """One line of a package's audit trail, mirrored 1:1 into the Postgres ledger."""

    seq: int
    key: str
    kind: EntryKind
    units_delta: int = 0
    balance_after: int
    value_cents: int = 0
    appointment_id: str | None = None
    provider_id: str | None = None
    actor: str
    source: str = "staff"
    reason: str | None = None
    outcome: str
    at: datetime


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    LATE_CANCEL = "late_cancel"
    CANCELLED = "cancelled"
    REVERSED = "reversed"


class AppointmentRecord(Model):
    appointment_id: str
    status: AppointmentStatus
    scheduled_at: datetime | None = None
    service_date: date | None = None
    consumed: int = 0  # units taken by this appointment (redemption or forfeit)
    consumed_value: int = 0  # their value in cents, given back whole by a reversal
    answer_key: str | None = None  # idempotency key of the message that set the status


# --- messages -------------------------------------------------------------------------


class PackageMessage(Model):
    """Fields every message carries; `key` is the idempotency key (appointment id, event id…)."""

    key: str = Field(min_length=1, max_length=200)
    actor: str = Field(default="system", min_length=1)
    source: str = "staff"


class RedeemRequest(PackageMessage):
    """A completed appointment. Only completions consume."""

    appointment_id: str = Field(min_length=1)
    amount_cents: int | None = Field(default=None, gt=0, description="dollar packages only")
    provider_id: str | None = None
    service_id: str | None = None
    service_date: date | None = None
    rebooked_from: str | None = None
    allow_same_day: bool = False


AppointmentChange = Literal["booked", "rescheduled", "confirmed", "checked_in", "cancelled"]


class AppointmentNotice(PackageMessage):
    """Booking lifecycle events: never consume. Check-in at zero is refused in enforce mode."""

    appointment_id: str = Field(min_length=1)
    change: AppointmentChange
    scheduled_at: datetime | None = None
    provider_id: str | None = None
    rebooked_from: str | None = None


class AttendanceRequest(PackageMessage):
    """A no-show or late cancel: recorded, consumes only under the type's forfeit policy."""

    appointment_id: str = Field(min_length=1)
    outcome: Literal["no_show", "late_cancel"]
    provider_id: str | None = None


class ReverseRequest(PackageMessage):
    appointment_id: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class AddUnitsRequest(PackageMessage):
    """Upgrade / top-up: adds to what remains, never replaces it."""

    units: int = Field(gt=0)
    paid_cents: int = Field(ge=0)
    reason: str = Field(default="top-up", min_length=1)


class ExtendRequest(PackageMessage):
    """Grace: a later expiry only (a shortening is refused; see `CorrectExpiryRequest`)."""

    new_expires_at: datetime
    reason: str = Field(min_length=1)


class CorrectExpiryRequest(PackageMessage):
    """A manager's correction of a wrong expiry (e.g. mistyped at import): earlier or later,
    never already past; recorded as `expiry_correction`, apart from a grace extension."""

    new_expires_at: datetime
    reason: str = Field(min_length=1)


class FreezeRequest(PackageMessage):
    """A manager's pause: frozen from now through `until` (a day in the spa's zone), at most
    the type's `max_freeze_days`; unfrozen automatically at that day's end."""

    until: date
    reason: str = Field(min_length=1)


class UnfreezeRequest(PackageMessage):
    """An early end to a freeze: the days not used are taken back off the expiry."""

    reason: str = Field(default="unfrozen early", min_length=1)


class CancelRequest(PackageMessage):
    reason: str = Field(min_length=1)
    issue_refund: bool = Field(
        default=False, description="refund the pro-rata amount through Stripe (paid by Stripe)"
    )


class StripeRefundNotice(PackageMessage):
    """A refund Stripe reports (charge.refunded); `key` is the refund id.

    One we issued ourselves carries our refund key in its metadata and changes nothing; one
    made in the Stripe dashboard cancels the package (full) or takes units off (partial).
    """

    refund_id: str = Field(min_length=1)
    amount_cents: int = Field(gt=0)
    charge_amount_cents: int = Field(ge=0)
    fully_refunded: bool = False
    punchcard_refund_key: str | None = None


class ForfeitRequest(PackageMessage):
    """Staff decision on a package in expiry review: forfeit what remains now."""

    reason: str = Field(min_length=1)


# --- answers, views -------------------------------------------------------------------


class PackageAnswer(Model):
    """The answer to an update; a duplicate delivery gets the very same answer."""

    package_id: str
    key: str
    outcome: str
    message: str
    entry_seq: int | None = None
    remaining: int
    status: PackageStatus
    refund_due_cents: int | None = None


class PackageSnapshot(Model):
    """Current balance of a package, as the front desk and reports read it."""

    package_id: str
    client_id: str
    type_code: str
    name: str
    kind: PackageKind
    status: PackageStatus
    remaining: int
    purchased_units: int
    paid_cents: int
    unused_value_cents: int
    purchased_at: datetime
    expires_at: datetime | None
    parent_purchase_id: str | None = None
    refund_due_cents: int | None = None
    pace_at_risk: bool = False
    payment_intent_id: str | None = None
    location_id: str | None = None  # where it was sold (None: the spa's default location)
    frozen_through: date | None = None  # the last frozen day (spa's zone) while frozen
    awaiting_activation: bool = False  # first-visit type, not used yet: expiry is the bound


# --- effects (the workflow's outbox) ---------------------------------------------------


class LedgerEffect(Model):
    """An entry to mirror into the ledger, with the balance exactly as it stood after it."""

    effect: Literal["ledger"] = "ledger"
    entry: Entry
    snapshot: PackageSnapshot


RENEWAL_LINK = "{renewal_link}"  # in a notice body: replaced by a fresh Checkout link


class ClientNoticeEffect(Model):
    effect: Literal["client_notice"] = "client_notice"
    key: str
    kind: str
    subject: str
    body: str
    renewal_offer: bool = False  # body holds RENEWAL_LINK


LifecycleEventType = Literal[
    "package.created",
    "package.redeemed",
    "package.reversed",
    "package.expiring",
    "package.expired",
    "package.renewed",
    "package.cancelled",
]


class LifecycleEvent(Model):
    """One outbound webhook event; `event_id` is stable across retries and redeliveries."""

    event_id: str = Field(min_length=1)
    type: LifecycleEventType
    occurred_at: datetime
    package: PackageSnapshot
    entry_seq: int | None = None
    appointment_id: str | None = None
    units_delta: int = 0
    value_cents: int = 0
    renews_package_id: str | None = None


class RefundEffect(Model):
    """A Stripe refund the cancellation owes; undone (units back) if Stripe refuses it."""

    key: str
    cancel_key: str
    amount_cents: int
    units: int
    value_cents: int
    reason: str


class StaffAlertEffect(Model):
    effect: Literal["staff_alert"] = "staff_alert"
    key: str
    kind: str
    message: str


Notice = Annotated[ClientNoticeEffect | StaffAlertEffect, Field(discriminator="effect")]


class PackageState(BaseModel):
    """Mutable state, carried whole across continue-as-new (unknown fields from a newer
    worker are ignored, as for `Model`)."""

    model_config = ConfigDict(extra="ignore")

    status: PackageStatus = PackageStatus.ACTIVE
    remaining: int
    purchased_units: int
    paid_cents: int
    expires_at: datetime | None
    next_seq: int = 1
    refund_due_cents: int | None = None
    # What the remaining units are worth: starts at the price, grows by what top-ups cost,
    # and each use takes its pro-rata share of it, so the values recorded add up exactly.
    unused_value_cents: int | None = None
    entries: list[Entry] = Field(default_factory=list)
    dropped_entries: int = 0
    answers: dict[str, PackageAnswer] = Field(default_factory=dict)
    appointments: dict[str, AppointmentRecord] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)
    reminders: dict[str, str] = Field(default_factory=dict)  # "60d@2027-01-01" -> sent|skipped
    pace_alerted: bool = False
    # While frozen: the freeze's first and last local days and its exclusive end instant.
    frozen_from: date | None = None
    frozen_through: date | None = None
    frozen_until: datetime | None = None
    # A first-visit package not used yet: its expiry is the unused bound, no reminders.
    awaiting_activation: bool = False
    ledger_outbox: list[LedgerEffect] = Field(default_factory=list)
    notice_outbox: list[Notice] = Field(default_factory=list)
    # Integrations: CRM and booking platforms get the latest state (a version each balance
    # change), subscribers get one event per lifecycle entry, Stripe gets owed refunds.
    sync_version: int = 0
    synced_version: int = 0
    event_outbox: list[LifecycleEvent] = Field(default_factory=list)
    refund_outbox: list[RefundEffect] = Field(default_factory=list)
    renewal_link: str | None = None
    last_session_at: datetime | None = None
    refunds: dict[str, int] = Field(default_factory=dict)  # Stripe refund id -> cents


class PaymentRef(Model):
    """The Stripe payment behind a package: what a refund is issued against."""

    payment_intent_id: str = Field(min_length=1)
    checkout_session_id: str | None = None
    amount_cents: int | None = None


class OpeningBalance(Model):
    """What a package brought in from the old system had left when it moved in.

    The package opens with an `opening_balance` entry instead of a sale: `remaining` units
    worth `value_cents` (the unused value of the price paid), dated when it was brought in.
    The terms carry what was bought and paid in the old system.
    """

    remaining: int = Field(ge=0, description="sessions, or cents of credit, left")
    value_cents: int = Field(ge=0, description="what the remaining units are worth")
    source: str = Field(default="import", min_length=1, max_length=40)
    source_id: str | None = Field(default=None, max_length=200, description="old purchase id")
    expired: bool = Field(
        default=False, description="brought in as already expired: kept for the record only"
    )


class PackageInput(Model):
    """Start (or continue-as-new) input of one package workflow."""

    package_id: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    terms: PackageTerms
    purchased_at: datetime
    expires_at: datetime | None
    parent_purchase_id: str | None = None
    # The other attendees of a shared (couples) purchase: each holds a package of their own;
    # listed so ops find the shared package under either client (search attributes).
    shared_with: list[str] = Field(default_factory=list)
    sold_by: str = "system"
    payment: PaymentRef | None = None
    renews_package_id: str | None = None
    notices: NoticePolicy = Field(default_factory=NoticePolicy)
    max_messages_per_run: int = Field(default=400, ge=2, le=1500)
    carried: PackageState | None = None
    # Brought in by an import instead of sold (None for every sale: old histories decode).
    opening: OpeningBalance | None = None
    # Where it was sold, of a spa with several locations (None: the spa configured none, or
    # sold before it did). `notices.timezone` is that location's zone: reminders go out at
    # its local hour, and its expiry day is counted there.
    location_id: str | None = None


class PackageView(Model):
    """The `state` query: everything staff need to answer "what does this client have?"."""

    snapshot: PackageSnapshot
    appointments: list[AppointmentRecord]
    reminders: dict[str, str]
    pending_effects: int
    messages_this_run: int
    # Reminders still to go out, by key, each when it is due (the location's local hour),
    # and the one timer the package waits on: reminder, pace check or expiry.
    planned_reminders: dict[str, datetime] = Field(default_factory=dict)
    next_deadline: datetime | None = None


class PackageOutcome(Model):
    package_id: str
    status: PackageStatus
    remaining: int
    forfeited_units: int = 0
    breakage_cents: int = 0
    refund_due_cents: int | None = None
