"""Appointment intake: hand events to visit workflows, and the activities those workflows call.

`VisitGateway.submit` is the one door every source uses (webhooks, polling, CSV, desk):
a signal-with-start of the appointment's visit workflow, durable in Temporal once it
returns. Webhooks then wait, within a bound, for the run to settle the event
(`VisitGateway.wait_settled`, `activities.visit_settle`). The visit workflow then calls the activities below to find candidate packages,
deliver updates to them, and open or close review items.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date, timedelta
from typing import Any

import asyncpg
from temporalio import activity
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.booking.mindbody import MindbodyApi
from activities.booking.mindbody_appointments import visit_from_appointment
from activities.failures import classified
from activities.messaging.email import SmtpMailer
from activities.repository import (
    AppointmentRoutes,
    ClientLinkRepository,
    LocationRepository,
    ReviewQueue,
    ServiceCatalog,
)
from activities.visit_settle import Handover, wait_settled
from workflows import policies
from workflows import visit_models as vm
from workflows.ids import package_workflow_id, visit_workflow_id
from workflows.models import (
    PackageAnswer,
)
from workflows.package import PackageWorkflow
from workflows.visit import VisitWorkflow
from workflows.visit_models import (
    Candidate,
    CandidateQuery,
    Candidates,
    CloseReviewInput,
    DeliveryAnswer,
    EnrichInput,
    PackageDelivery,
    ReviewItemInput,
    RouteInput,
    SubmitResult,
    SubmitVisits,
    VisitChange,
    VisitEvent,
    VisitInput,
    VisitState,
)

log = logging.getLogger("punchcard.intake")

# The locations column that holds a polled platform's id for a location.
_LOCATION_FIELDS = {vm.Platform.ZENOTI: "zenoti_center_id", vm.Platform.JANE: "jane_location_id"}

# How far either side of today an appointment of unknown date is looked for.
WIDE_WINDOW = timedelta(days=366)


async def _send_update(
    handle: WorkflowHandle[Any, Any], delivery: PackageDelivery
) -> PackageAnswer:
    """The package workflow's update for the delivery (names from the class itself)."""
    match delivery.message:
        case vm.RedeemDelivery(request=redeem):
            return await handle.execute_update(PackageWorkflow.redeem, redeem, id=redeem.key)
        case vm.NoteDelivery(request=note):
            return await handle.execute_update(PackageWorkflow.note_appointment, note, id=note.key)
        case vm.AttendanceDelivery(request=attendance):
            return await handle.execute_update(
                PackageWorkflow.record_attendance, attendance, id=attendance.key
            )


class VisitGateway:
    """Signal-with-start of visit workflows: the durable hand-off for every source.

    `review` lets `wait_settled` stop early for a visit that went to the review queue
    (its run stays open until staff decide); without it that wait lasts its bound.
    """

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        idle_days: float,
        review: ReviewQueue | None = None,
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._idle_days = idle_days
        self._review = review

    async def submit(self, event: VisitEvent) -> str:
        """Returns the visit workflow id once the event is in its history."""
        return (await self.hand_over(event)).id

    async def hand_over(self, event: VisitEvent) -> WorkflowHandle[VisitWorkflow, VisitState]:
        """Signal-with-start; the handle names the run that got the event."""
        return await self._client.start_workflow(
            VisitWorkflow.run,
            VisitInput(
                platform=event.platform,
                appointment_id=event.appointment_id,
                idle_days=self._idle_days,
            ),
            id=visit_workflow_id(event.platform, event.appointment_id),
            task_queue=self._task_queue,
            start_signal="event",
            start_signal_args=[event],
            # A closed visit may hear again (a late duplicate): a new run, same routes.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )

    async def wait_settled(
        self,
        handle: WorkflowHandle[VisitWorkflow, VisitState],
        event: VisitEvent,
        *,
        within: float,
    ) -> Handover:
        """What the run did with `event`, once it closed or sent it to review; bare after
        `within` seconds (0: at once). Reads only: it cannot hurt the run."""
        return await wait_settled(handle, event, within=within, review=self._review)

    async def complete_at_desk(
        self, event: VisitEvent, package_id: str, *, allow_same_day: bool = False
    ) -> DeliveryAnswer:
        """Update-with-start of the appointment's visit: the package's answer, or why not."""
        start = WithStartWorkflowOperation(
            VisitWorkflow.run,
            VisitInput(
                platform=event.platform,
                appointment_id=event.appointment_id,
                idle_days=self._idle_days,
            ),
            id=visit_workflow_id(event.platform, event.appointment_id),
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        answer: object = await self._client.execute_update_with_start_workflow(
            VisitWorkflow.desk_complete,
            vm.DeskCompletion(event=event, package_id=package_id, allow_same_day=allow_same_day),
            start_workflow_operation=start,
        )
        # The SDK types an async handler's result as its coroutine: it is the answer.
        assert isinstance(answer, DeliveryAnswer)
        return answer


class IntakeActivities:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        client: Client,
        gateway: VisitGateway,
        mindbody: MindbodyApi | None = None,
        mailer: SmtpMailer | None = None,
        manager_email: str | None = None,
    ) -> None:
        self._client = client
        self._gateway = gateway
        self._mindbody = mindbody
        self._mailer = mailer
        self._manager_email = manager_email
        self._pool = pool
        self._links = ClientLinkRepository(pool)
        self._catalog = ServiceCatalog(pool)
        self._review = ReviewQueue(pool)
        self._routes = AppointmentRoutes(pool)
        self._locations = LocationRepository(pool)

    @activity.defn(name=vm.FIND_CANDIDATES.name)
    @classified
    async def find_candidates(self, query: CandidateQuery) -> Candidates:
        """Rule 4: active, unexpired packages of the client covering the category, ordered
        by explicit priority, then soonest expiry, then oldest purchase."""
        route = await self._routes.get(query.platform, query.appointment_id)
        prior = route.package_id if route else None
        dismissed = route is not None and route.outcome == "dismissed"
        category = query.category or await self._catalog.category_for(
            query.platform, query.service_key, query.service_name
        )
        if category is None:
            return Candidates(category=None, prior_package_id=prior, prior_dismissed=dismissed)
        rows = await self._pool.fetch(
            """
            SELECT p.package_id, p.kind, p.remaining, p.status, t.match_priority,
                   p.expires_at, p.purchased_at
            FROM packages p JOIN package_types t ON t.type_code = p.type_code
            WHERE p.client_id = $1 AND p.status = 'active' AND $2 = ANY (t.categories)
              AND (p.expires_at IS NULL OR p.expires_at > now())
            ORDER BY t.match_priority, p.expires_at NULLS LAST, p.purchased_at, p.package_id
            """,
            query.client_id,
            category,
        )
        return Candidates(
            category=category,
            prior_package_id=prior,
            prior_dismissed=dismissed,
            packages=[Candidate.model_validate(dict(r)) for r in rows],
        )

    @activity.defn(name=vm.DELIVER_TO_PACKAGE.name)
    @classified
    async def deliver_to_package(self, delivery: PackageDelivery) -> DeliveryAnswer:
        """Send one update to a package and report its answer; a refusal is an answer,
        not an error. Transient Temporal errors raise, so the activity retries."""
        message = delivery.message.request
        handle = self._client.get_workflow_handle(package_workflow_id(delivery.package_id))
        try:
            answer = await _send_update(handle, delivery)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError):
                return DeliveryAnswer(
                    accepted=False, rule=cause.type or "Refused", detail=cause.message
                )
            raise
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            # Closed (or never sold): a duplicate still gets the first answer.
            try:
                first = await handle.query(PackageWorkflow.answer, message.key)
            except RPCError:
                first = None
            if isinstance(first, PackageAnswer):
                return DeliveryAnswer(accepted=True, detail=first.message, answer=first)
            return DeliveryAnswer(
                accepted=False,
                rule="PackageClosed",
                detail=f"package {delivery.package_id} is closed or does not exist",
            )
        return DeliveryAnswer(accepted=True, detail=answer.message, answer=answer)

    @activity.defn(name=vm.OPEN_REVIEW_ITEM.name)
    @classified
    async def open_review_item(self, item: ReviewItemInput) -> None:
        added = await self._review.open(**item.model_dump())
        log.info("review item %s %s", item.item_id, "opened" if added else "already open")

    @activity.defn(name=vm.CLOSE_REVIEW_ITEM.name)
    @classified
    async def close_review_item(self, close: CloseReviewInput) -> None:
        await self._review.close(
            close.item_id,
            status=close.status,
            resolved_by=close.resolved_by,
            resolution=close.resolution,
            package_id=close.package_id,
        )

    @activity.defn(name=vm.ALERT_STAFF.name)
    @classified
    async def alert_staff(self, alert: vm.VisitAlertInput) -> None:
        """Once per key (retries add nothing), into the queue the desk and managers work."""
        await self._pool.execute(
            """
            INSERT INTO staff_alerts (alert_key, package_id, client_id, kind, message)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (alert_key) DO NOTHING
            """,
            alert.alert_key,
            alert.package_id,
            alert.client_id,
            alert.kind,
            alert.message,
        )
        log.warning("staff alert %s (%s)", alert.alert_key, alert.kind)

    @activity.defn(name=vm.GET_ROUTE.name)
    @classified
    async def get_route(self, query: vm.RouteQuery) -> vm.PriorRoute:
        route = await self._routes.get(query.platform, query.appointment_id)
        if route is None:
            return vm.PriorRoute()
        return vm.PriorRoute(package_id=route.package_id, dismissed=route.outcome == "dismissed")

    @activity.defn(name=vm.RECORD_ROUTE.name)
    @classified
    async def record_route(self, route: RouteInput) -> None:
        await self._routes.record(
            route.platform,
            route.appointment_id,
            route.package_id,
            outcome=route.outcome,
            location_id=route.location_id,
        )

    @activity.defn(name=vm.ENRICH_VISIT.name)
    @classified
    async def enrich_visit(self, input: EnrichInput) -> VisitEvent:
        """Fill what the event lacks: the client (through client links) and, for a
        Mindbody cancellation that carried ids only, the appointment from the Public API."""
        event = input.event
        if event.change is VisitChange.UNKNOWN and event.platform == vm.Platform.MINDBODY:
            if self._mindbody is None:
                raise ApplicationError(
                    "a Mindbody event carried ids only and PUNCHCARD_MINDBODY_API_KEY is not "
                    "set, so its status cannot be fetched",
                    type="BadConfiguration",
                    non_retryable=True,
                )
            found = await self._find_mindbody(event, input.known_date)
            if found is None:
                raise _not_found(event)
            try:
                event = visit_from_appointment(event, found)
            except ValueError as err:  # pydantic errors too: retrying cannot fix them
                raise ApplicationError(
                    f"Mindbody appointment {event.appointment_id} is unreadable: {err}",
                    type="ProviderRejected",
                    non_retryable=True,
                ) from None
        if event.client_id is None and event.external_client_id:
            client_id = await self._links.resolve(event.platform, event.external_client_id)
            event = event.model_copy(update={"client_id": client_id})
        return event

    async def _find_mindbody(self, event: VisitEvent, known: date | None) -> dict[str, Any] | None:
        """staffappointments searches only its StartDate..EndDate window (today when they
        are missing), so ask around the day an earlier delivery named, then a wide window."""
        assert self._mindbody is not None
        today = date.today()
        windows = [(today - WIDE_WINDOW, today + WIDE_WINDOW)]
        if known is not None:
            windows.insert(0, (known - timedelta(days=1), known + timedelta(days=1)))
        for start, end in windows:
            found = await self._mindbody.get_appointment(
                event.site_id or "", event.appointment_id, start_date=start, end_date=end
            )
            if found is not None:
                return found
        return None

    @activity.defn(name=vm.SUBMIT_VISITS.name)
    @classified
    async def submit_visits(self, batch: SubmitVisits) -> SubmitResult:
        """Hand polled visits to their workflows; unlinked clients go to the review queue."""
        accepted, unknown = 0, []
        for event in batch.visits:
            if event.location_id is None and event.external_location_id:
                field = _LOCATION_FIELDS.get(event.platform)
                location_id = field and await self._locations.for_platform_id(
                    field, event.external_location_id
                )
                event = event.model_copy(update={"location_id": location_id or None})
            if event.client_id is None and event.external_client_id:
                client_id = await self._links.resolve(event.platform, event.external_client_id)
                event = event.model_copy(update={"client_id": client_id})
            if event.client_id is None:
                unknown.append(event.appointment_id)
                if event.change is VisitChange.COMPLETED:
                    await self._review.open(
                        item_id=f"client:{event.platform}:{event.appointment_id}",
                        kind="unmatched_visit",
                        reason="unknown_client",
                        detail=(
                            f"{event.platform} client {event.external_client_id!r} is not "
                            f"linked to a Punchcard client (appointment {event.appointment_id})"
                        ),
                        platform=event.platform,
                        appointment_id=event.appointment_id,
                        service_name=event.service_name,
                    )
                continue
            await self._gateway.submit(event)
            accepted += 1
        return SubmitResult(accepted=accepted, unknown_clients=unknown)

    @activity.defn(name=vm.ESCALATE_REVIEWS.name)
    @classified
    async def escalate_reviews(self, input: vm.EscalateInput) -> vm.EscalateResult:
        """Alert the manager about review items waiting longer than `older_than_hours`:
        one staff alert per item and one email listing them all."""
        items = await self._review.overdue(input.older_than_hours)
        if not items:
            return vm.EscalateResult(escalated=0)
        lines = [f"- {i.created_at:%Y-%m-%d %H:%M} {i.reason}: {i.detail}" for i in items]
        body = (
            f"{len(items)} review item(s) have waited more than "
            f"{input.older_than_hours:g} hours:\n\n" + "\n".join(lines)
        )
        if self._mailer is not None and self._manager_email:
            digest = hashlib.sha256("|".join(i.item_id for i in items).encode()).hexdigest()
            await self._mailer.send(
                self._manager_email,
                f"Punchcard: {len(items)} review item(s) waiting",
                body,
                f"review-escalation/{digest[:24]}",
            )
        await self._review.mark_escalated([i.item_id for i in items])
        return vm.EscalateResult(escalated=len(items))


def _not_found(event: VisitEvent) -> ApplicationError:
    """Retry a few times (the API may lag the webhook), then give up so staff hear of it."""
    text = (
        f"Mindbody has no appointment {event.appointment_id} at site {event.site_id} within "
        f"{WIDE_WINDOW.days} days of today: its {event.event_key} delivery could not be resolved"
    )
    final = activity.info().attempt >= policies.UNRESOLVED_ATTEMPTS
    return ApplicationError(text, type=policies.APPOINTMENT_NOT_FOUND, non_retryable=final)
