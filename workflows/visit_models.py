"""Pydantic models for appointment intake: one visit workflow per booking-platform appointment.

Every source (Boulevard and Mindbody webhooks, Zenoti polling, CSV import, the front desk)
turns what it heard into a `VisitEvent`; the visit workflow routes it to exactly one package.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from workflows import policies
from workflows.calls import Contract
from workflows.models import (
    AppointmentNotice,
    AttendanceRequest,
    Model,
    PackageAnswer,
    RedeemRequest,
)
from workflows.text import CleanText, Identifier


class Platform(StrEnum):
    BOULEVARD = "boulevard"
    MINDBODY = "mindbody"
    ZENOTI = "zenoti"
    JANE = "jane"
    CSV = "csv"  # an export from any platform, imported by staff
    DESK = "desk"  # recorded at the front desk


class VisitChange(StrEnum):
    """What happened to the appointment. Only COMPLETED consumes (rule 1)."""

    BOOKED = "booked"
    RESCHEDULED = "rescheduled"
    UPDATED = "updated"
    CONFIRMED = "confirmed"
    ARRIVED = "arrived"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    LATE_CANCEL = "late_cancel"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # e.g. a Mindbody cancellation carrying ids only: fetch the rest


# Far above any treatment, far below what a 64-bit ledger column holds.
MAX_AMOUNT_CENTS = 100_000_000


class VisitEvent(Model):
    """One thing a source reported about one appointment, already checked and normalised.

    `event_key` is the source's own idempotency key (Boulevard idempotencyKey, Mindbody
    messageId, CSV "<file sha>:<appointment>"); the same key twice changes nothing.
    Identifiers with control characters or over 150 characters are refused, free text is
    cleaned (workflows.text), so no value can make an intake activity fail forever.
    """

    event_key: Identifier
    platform: Platform
    appointment_id: Identifier
    change: VisitChange
    client_id: Identifier | None = Field(
        default=None, description="Punchcard client, when resolved"
    )
    external_client_id: Identifier | None = None
    service_key: Identifier | None = Field(default=None, description="platform service id")
    service_name: CleanText = None
    category: Identifier | None = Field(default=None, description="set when the source knows it")
    scheduled_at: datetime | None = None
    service_date: date | None = None
    amount_cents: int | None = Field(
        default=None, gt=0, le=MAX_AMOUNT_CENTS, description="for dollar packages"
    )
    provider_id: Identifier | None = None
    rebooked_from: Identifier | None = Field(
        default=None, description="the appointment this one replaces, as the package knows it"
    )
    site_id: Identifier | None = Field(default=None, description="Mindbody site, for re-fetching")
    external_location_id: Identifier | None = Field(
        default=None,
        description="the platform's id of where it takes place (Boulevard locationId, Mindbody "
        "LocationId within `site_id`, Zenoti center)",
    )
    location_id: Identifier | None = Field(
        default=None, description="the Punchcard location that id maps to, when one does"
    )
    occurred_at: datetime
    source: str = Field(default="webhook", description="webhook | poll | csv | desk")
    actor: Identifier = "system"


class VisitInput(Model):
    platform: Platform
    appointment_id: str
    idle_days: float = Field(default=30, gt=0, description="close after this long without events")
    carried: VisitState | None = None


class VisitOutcome(StrEnum):
    REDEEMED = "redeemed"  # a package took the completion
    NOTED = "noted"  # a booking change passed to a package (never consumes)
    RECORDED = "recorded"  # a no-show / late cancel recorded on a package
    IN_REVIEW = "in_review"  # no package took it: staff decide
    DISMISSED = "dismissed"
    IGNORED = "ignored"  # nothing to do (no package covers a booking, a duplicate…)
    REFUSED = "refused"  # a package refused a check-in or booking note (zero balance…)
    FAILED = "failed"  # an activity failed for good: staff alerted, a review item opened


class VisitStep(Model):
    """What the visit workflow did with one event: the visit's own audit line."""

    event_key: str
    change: VisitChange
    outcome: VisitOutcome
    package_id: str | None = None
    detail: str
    at: datetime


class VisitState(Model):
    client_id: str | None = None
    service_name: str | None = None
    category: str | None = None
    service_date: date | None = None  # the appointment's day, once a delivery named it
    location_id: str | None = None  # where it takes place, once a delivery named a location
    routed_package_id: str | None = None  # where the completion went; sticky
    noted_package_id: str | None = None  # where booking changes went
    review_item_id: str | None = None
    review_open: bool = False
    pending_completion: VisitEvent | None = None  # the completion waiting in review
    dismissed: bool = False  # staff decided this completion takes no session
    steps: list[VisitStep] = Field(default_factory=list)
    seen: dict[str, int] = Field(default_factory=dict)  # event key -> index into steps
    events_this_run: int = 0


class VisitView(Model):
    """The `state` query of a visit workflow."""

    platform: Platform
    appointment_id: str
    state: VisitState
    pending: int


class ResolveReview(Model):
    """Staff decision on a visit in the review queue (manager only)."""

    action: Literal["assign", "dismiss"]
    package_id: str | None = None
    amount_cents: int | None = Field(default=None, gt=0)
    allow_same_day: bool = Field(
        default=False, description="a second visit on the same day is real: redeem it"
    )
    reason: str | None = None
    actor: str = Field(min_length=1)


class ResolveAnswer(Model):
    outcome: VisitOutcome
    package_id: str | None = None
    detail: str
    answer: PackageAnswer | None = None


# --- activity inputs and results (the contracts are at the end) --------------------------


class CandidateQuery(Model):
    platform: Platform
    appointment_id: str
    client_id: str
    service_key: str | None = None
    service_name: str | None = None
    category: str | None = None
    on: date


class Candidate(Model):
    package_id: str
    kind: str
    remaining: int
    status: str
    match_priority: int
    expires_at: datetime | None
    purchased_at: datetime


class Candidates(Model):
    """Packages of the client covering the visit's category, best first (rule 4)."""

    category: str | None = Field(description="None: the service is not in the catalog")
    prior_package_id: str | None = Field(
        default=None, description="a route recorded by an earlier run for this appointment"
    )
    prior_dismissed: bool = Field(
        default=False, description="an earlier run's staff dismissed this completion"
    )
    packages: list[Candidate] = Field(default_factory=list)


class RedeemDelivery(Model):
    update: Literal["redeem"] = "redeem"
    request: RedeemRequest


class NoteDelivery(Model):
    update: Literal["note_appointment"] = "note_appointment"
    request: AppointmentNotice


class AttendanceDelivery(Model):
    update: Literal["record_attendance"] = "record_attendance"
    request: AttendanceRequest


class PackageDelivery(Model):
    """One message for one package, sent by an activity (workflows cannot update workflows).
    `message.update` names the package workflow's update the request goes to."""

    package_id: str
    message: Annotated[
        RedeemDelivery | NoteDelivery | AttendanceDelivery, Field(discriminator="update")
    ]


class DeliveryAnswer(Model):
    accepted: bool
    rule: str | None = None  # why it was refused: ZeroBalance, PackageExpired…
    detail: str
    answer: PackageAnswer | None = None


class ReviewItemInput(Model):
    item_id: str
    kind: Literal["unmatched_visit", "follow_up", "payment"] = "unmatched_visit"
    reason: str
    detail: str
    client_id: str | None = None
    platform: str | None = None
    appointment_id: str | None = None
    service_name: str | None = None
    category: str | None = None
    visit_workflow_id: str | None = None


class CloseReviewInput(Model):
    item_id: str
    status: Literal["assigned", "dismissed", "done"]
    resolved_by: str
    resolution: str
    package_id: str | None = None


class RouteInput(Model):
    platform: Platform
    appointment_id: str
    package_id: str | None
    outcome: Literal["redeemed", "dismissed"] = "redeemed"
    location_id: str | None = None  # where the visit took place, when the platform said


class EnrichInput(Model):
    event: VisitEvent
    known_date: date | None = Field(
        default=None, description="the appointment's day, from an earlier delivery"
    )


DESK_COMPLETE = "desk_complete"  # the visit workflow's update for a desk completion


class DeskCompletion(Model):
    """A completion recorded at the front desk on the package staff chose.

    It goes through the appointment's visit like every other source, so the route is
    sticky both ways: whichever of the desk and the platform comes second takes nothing.
    """

    event: VisitEvent
    package_id: Identifier
    allow_same_day: bool = False


class RouteQuery(Model):
    platform: Platform
    appointment_id: str


class PriorRoute(Model):
    """What an earlier run of the visit decided, from `appointment_routes`."""

    package_id: str | None = None
    dismissed: bool = False


class SubmitVisits(Model):
    """Visits found by a poller: clients are resolved through client_links by the activity."""

    visits: list[VisitEvent]


class SubmitResult(Model):
    accepted: int = Field(description="events handed to their visit workflows")
    unknown_clients: list[str] = Field(
        default_factory=list, description="appointment ids whose client is not linked"
    )


VisitInput.model_rebuild()


class VisitAlertInput(Model):
    """A staff alert about a visit no package took (so no package id, maybe no client)."""

    alert_key: str
    kind: str = "visit_failed"
    message: str
    client_id: str | None = None
    package_id: str | None = None


class EscalateInput(Model):
    older_than_hours: float = Field(default=24, gt=0)


class EscalateResult(Model):
    escalated: int


# --- activity contracts ----------------------------------------------------------------
#
# Routing touches only Punchcard's own database, so it runs as local activities: a marker
# each in the visit's history, no server round trip. Enriching a Mindbody event calls
# Mindbody: a regular activity. Handing over to the package is local too: it waits for the
# package's update, holding the visit's workflow task (and its slot) meanwhile, which is
# safe only because visits run on a worker and queue of their own (workers/pair.py): on a
# shared worker a burst of visits filled every slot and no package task could start
# (bench/burst.py stalled at 1,099 of 2,000; tests/workflows/test_visit_slots.py).

FIND_CANDIDATES = Contract(
    name="intake.find_candidates",
    arg=CandidateQuery,
    result=Candidates,
    options=policies.INTAKE,
    local=True,
)
DELIVER_TO_PACKAGE = Contract(
    name="intake.deliver_to_package",
    arg=PackageDelivery,
    result=DeliveryAnswer,
    options=policies.INTAKE,
    local=True,
)
# The same hand-over as a regular activity: what visits recorded before LOCAL_HANDOVER
# (1.0, tests/histories v7) did; only their replay takes it. Remove with the patch.
DELIVER_TO_PACKAGE_V1 = Contract(
    name="intake.deliver_to_package",
    arg=PackageDelivery,
    result=DeliveryAnswer,
    options=policies.INTAKE,
)
# Patch id: the hand-over became a local activity on the visits' own worker (1.1).
# Retire it (deprecate_patch, then remove DELIVER_TO_PACKAGE_V1) once no visit run started
# before 1.1 can be open: visit_idle_days after the 1.1 deploy, plus the namespace retention
# for replays of closed ones.
LOCAL_HANDOVER = "visit-local-handover"
OPEN_REVIEW_ITEM = Contract(
    name="intake.open_review_item",
    arg=ReviewItemInput,
    result=type(None),
    options=policies.INTAKE,
    local=True,
)
CLOSE_REVIEW_ITEM = Contract(
    name="intake.close_review_item",
    arg=CloseReviewInput,
    result=type(None),
    options=policies.INTAKE,
    local=True,
)
RECORD_ROUTE = Contract(
    name="intake.record_route",
    arg=RouteInput,
    result=type(None),
    options=policies.INTAKE,
    local=True,
)
GET_ROUTE = Contract(
    name="intake.get_route",
    arg=RouteQuery,
    result=PriorRoute,
    options=policies.INTAKE,
    local=True,
)
ALERT_STAFF = Contract(
    name="intake.alert_staff",
    arg=VisitAlertInput,
    result=type(None),
    options=policies.STAFF_ALERT,
    local=True,
)
ENRICH_VISIT = Contract(
    name="intake.enrich_visit",
    arg=EnrichInput,
    result=VisitEvent,
    options=policies.INTAKE,
)
SUBMIT_VISITS = Contract(
    name="intake.submit_visits",
    arg=SubmitVisits,
    result=SubmitResult,
    options=policies.POLL_SUBMIT,
)
ESCALATE_REVIEWS = Contract(
    name="intake.escalate_reviews",
    arg=EscalateInput,
    result=EscalateResult,
    options=policies.INTAKE,
)
