"""The visit workflow: one per booking-platform appointment, routing its events to packages.

Every source signals events here (signal-with-start), so all deliveries of one
appointment — duplicates, retries, two copies racing — are handled one at a time by one
entity. A completion goes to exactly one package (rule 4), and the choice is sticky: it
is kept in state and in Postgres (`appointment_routes`), so a late duplicate after this
workflow closed still finds the same package. What no package takes goes to the manual
review queue, and the workflow waits for a manager to assign or dismiss it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.policies as policies
    import workflows.visit_models as vm
    from workflows.calls import call
    from workflows.ids import visit_review_item_id
    from workflows.models import AppointmentNotice, AttendanceRequest, RedeemRequest
    from workflows.visit_models import (
        Candidate,
        Candidates,
        DeliveryAnswer,
        ResolveAnswer,
        ResolveReview,
        VisitChange,
        VisitEvent,
        VisitInput,
        VisitOutcome,
        VisitState,
        VisitStep,
        VisitView,
    )

# A refusal for one of these reasons means "this package cannot take it": try the next.
SKIP_RULES = frozenset(
    {
        "ZeroBalance",
        "PackageExpired",
        "PackageClosed",
        "PackageCancelled",
        "PackageInReview",
        "PackageFrozen",  # paused by a manager: the visit goes to another package if any
        "AmountAboveBalance",
        "AmountRequired",  # a dollar package, and the platform sent no amount
        "AmountNotAllowed",
        "NoPackage",
    }
)
MAX_EVENTS_PER_RUN = 200

# A visit whose outcome is settled closes at once instead of idling: a late delivery
# starts a new run, which finds the route in `appointment_routes` and changes nothing.
TERMINAL_CHANGES = frozenset({VisitChange.CANCELLED, VisitChange.NO_SHOW, VisitChange.LATE_CANCEL})

_NOTE_CHANGES = {
    VisitChange.BOOKED: "booked",
    VisitChange.RESCHEDULED: "rescheduled",
    VisitChange.CONFIRMED: "confirmed",
    VisitChange.ARRIVED: "checked_in",
    VisitChange.CANCELLED: "cancelled",
}


@workflow.defn(name="VisitWorkflow")
class VisitWorkflow:
    @workflow.init
    def __init__(self, input: VisitInput) -> None:
        self._input = input
        self._state = input.carried or VisitState()
        self._queue: list[VisitEvent] = []
        self._lock = asyncio.Lock()
        self._wake = False

    @workflow.run
    async def run(self, input: VisitInput) -> VisitState:
        idle = timedelta(days=input.idle_days)
        while True:
            if self._finished():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._finished():
                    break
                continue
            if not (self._queue or self._wake):
                try:
                    await workflow.wait_condition(
                        lambda: bool(self._queue) or self._wake or self._finished(),
                        timeout=None if self._state.review_open else idle,
                        timeout_summary=None if self._state.review_open else "idle: close",
                    )
                except TimeoutError:
                    if not self._queue and not self._state.review_open:
                        break
            self._wake = False
            while self._queue:
                event = self._queue.pop(0)
                async with self._lock:
                    await self._handle(event)
            if self._state.events_this_run >= MAX_EVENTS_PER_RUN:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._queue:  # events came in meanwhile: handle them first
                    continue
                workflow.continue_as_new(
                    input.model_copy(
                        update={"carried": self._state.model_copy(update={"events_this_run": 0})}
                    )
                )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    def _finished(self) -> bool:
        """Nothing more this appointment can do: completed (or dismissed), or ended by a
        cancellation or no-show, with no review open and nothing queued."""
        if self._queue or self._state.review_open or self._lock.locked():
            return False
        state = self._state
        ended = bool(state.steps) and state.steps[-1].change in TERMINAL_CHANGES
        return state.routed_package_id is not None or state.dismissed or ended

    # --- messages -----------------------------------------------------------------------

    @workflow.signal(name="event")
    def event(self, event: VisitEvent) -> None:
        self._queue.append(event)

    @workflow.update(name="resolve")
    async def resolve(self, request: ResolveReview) -> ResolveAnswer:
        async with self._lock:
            if not self._state.review_open:
                # Settled while this request waited (a race between two managers).
                raise ApplicationError(
                    f"appointment {self._input.appointment_id} is not in review any more",
                    type="NotInReview",
                )
            if request.action == "dismiss":
                answer = await self._dismiss(request)
            else:
                answer = await self._assign(request)
            self._wake = True
            return answer

    @resolve.validator
    def _check_resolve(self, request: ResolveReview) -> None:
        if not self._state.review_open:
            raise ApplicationError(
                f"appointment {self._input.appointment_id} is not in review", type="NotInReview"
            )
        if request.action == "assign" and not request.package_id:
            raise ApplicationError("assign needs a package_id", type="BadRequest")
        if request.action == "dismiss" and not (request.reason or "").strip():
            raise ApplicationError("dismiss needs a reason", type="BadRequest")

    @workflow.update(name=vm.DESK_COMPLETE)
    async def desk_complete(self, request: vm.DeskCompletion) -> DeliveryAnswer:
        """The desk's completion on the package it names, answered with the package's answer."""
        async with self._lock:
            try:
                return await self._desk(request)
            except ActivityError as err:
                _unless_cut_short(err)
                kind, detail = _failure(err)
                return DeliveryAnswer(accepted=False, rule=kind, detail=detail)

    @workflow.query(name="state")
    def state(self) -> VisitView:
        return VisitView(
            platform=self._input.platform,
            appointment_id=self._input.appointment_id,
            state=self._state,
            pending=len(self._queue),
        )

    # --- routing --------------------------------------------------------------------------

    async def _handle(self, event: VisitEvent) -> None:
        """Process one event; an activity that failed for good ends it for staff to see."""
        try:
            await self._process(event)
        except ActivityError as err:
            _unless_cut_short(err)
            await self._failed(event, err)

    async def _process(self, event: VisitEvent) -> None:
        if event.event_key in self._state.seen:
            return
        self._state = self._state.model_copy(
            update={"events_this_run": self._state.events_this_run + 1}
        )
        if event.client_id is None and self._state.client_id is not None:
            event = event.model_copy(update={"client_id": self._state.client_id})
        if event.change is VisitChange.UNKNOWN or event.client_id is None:
            enrich = vm.EnrichInput(event=event, known_date=self._state.service_date)
            # A failure goes to _handle: a review item and a staff alert.
            event = await call(vm.ENRICH_VISIT, enrich, summary="fetch the appointment")
        if event.client_id is None:
            self._step(event, VisitOutcome.IGNORED, None, "client unknown: event recorded only")
            return
        self._remember(event)
        if event.change is VisitChange.COMPLETED:
            await self._complete(event)
        elif event.change in (VisitChange.NO_SHOW, VisitChange.LATE_CANCEL):
            await self._absence(event)
        elif event.change is VisitChange.UNKNOWN:
            self._step(event, VisitOutcome.IGNORED, None, "status unknown: event recorded only")
        else:
            await self._note(event)

    async def _complete(self, event: VisitEvent) -> None:
        if self._state.review_open:
            self._step(event, VisitOutcome.IN_REVIEW, None, "already waiting in the review queue")
            return
        if not self._already_settled(event):
            found = await self._candidates(event)
            if not self._already_settled(event):
                await self._route(event, found)

    def _already_settled(self, event: VisitEvent) -> bool:
        """A completion under another key (a poll after the webhook, a redelivery): the
        route is sticky, so it is recorded here and the package is not asked again."""
        routed = self._state.routed_package_id
        if self._state.dismissed:
            self._step(event, VisitOutcome.IGNORED, None, "dismissed by staff: not redeemed")
        elif routed is not None:
            self._step(event, VisitOutcome.REDEEMED, routed, f"already completed on {routed}")
        else:
            return False
        return True

    async def _route(self, event: VisitEvent, found: Candidates) -> None:
        if found.category is None:
            await self._review(
                event,
                "unknown_service",
                f"service {event.service_name or event.service_key!r} is not in the catalog: "
                "map it to a category, then assign this visit",
            )
            return
        if not found.packages:
            await self._review(
                event,
                "no_match",
                f"no active package of client {event.client_id} covers {found.category}",
            )
            return
        first_refusal: DeliveryAnswer | None = None
        for candidate in _redeem_order(found.packages):
            message = self._redeem_message(event)
            if candidate.kind != "dollars":  # a price column means nothing to a session count
                message = message.model_copy(update={"amount_cents": None})
            answer = await self._deliver(candidate.package_id, vm.RedeemDelivery(request=message))
            if answer.accepted:
                await self._routed(event, candidate.package_id, answer)
                return
            first_refusal = first_refusal or answer
            if answer.rule not in SKIP_RULES:
                break
        assert first_refusal is not None
        await self._review(event, "refused", first_refusal.detail, rule=first_refusal.rule)

    async def _absence(self, event: VisitEvent) -> None:
        if self._state.routed_package_id is not None:
            self._step(event, VisitOutcome.IGNORED, None, "already completed: absence ignored")
            return
        target = self._state.noted_package_id or await self._best_for_note(event)
        if self._state.routed_package_id is not None:  # an earlier run completed it
            self._step(event, VisitOutcome.IGNORED, None, "already completed: absence ignored")
            return
        if target is None:
            self._step(event, VisitOutcome.IGNORED, None, "no package covers it: recorded only")
            return
        outcome = "no_show" if event.change is VisitChange.NO_SHOW else "late_cancel"
        request = AttendanceRequest(
            **self._base_message(event, key=f"{outcome}:{self._appointment_ref()}"),
            outcome=outcome,
        )
        answer = await self._deliver(target, vm.AttendanceDelivery(request=request))
        result = VisitOutcome.RECORDED if answer.accepted else VisitOutcome.REFUSED
        self._step(event, result, target, answer.detail)

    async def _note(self, event: VisitEvent) -> None:
        if self._state.routed_package_id is not None:
            self._step(event, VisitOutcome.IGNORED, None, "already completed: no effect")
            return
        change = _NOTE_CHANGES.get(event.change)
        if change is None:  # an update with nothing a package needs to know
            change = "booked" if self._state.noted_package_id is None else None
        if change is None:
            self._step(event, VisitOutcome.IGNORED, None, "updated: nothing for the package")
            return
        target = self._state.noted_package_id or await self._best_for_note(event)
        if self._state.routed_package_id is not None:  # an earlier run completed it
            self._step(event, VisitOutcome.IGNORED, None, "already completed: no effect")
            return
        if target is None:
            self._step(event, VisitOutcome.IGNORED, None, "no package covers this appointment")
            return
        notice = AppointmentNotice(
            **self._base_message(event, key=f"visit:{event.event_key}"),
            change=change,
            scheduled_at=event.scheduled_at,
        )
        answer = await self._deliver(target, vm.NoteDelivery(request=notice))
        if answer.accepted:
            self._state = self._state.model_copy(update={"noted_package_id": target})
        result = VisitOutcome.NOTED if answer.accepted else VisitOutcome.REFUSED
        self._step(event, result, target, answer.detail)

    async def _desk(self, request: vm.DeskCompletion) -> DeliveryAnswer:
        event, chosen = request.event, request.package_id
        if self._state.routed_package_id is None and not self._state.dismissed:
            prior = await call(
                vm.GET_ROUTE,
                vm.RouteQuery(
                    platform=self._input.platform, appointment_id=self._input.appointment_id
                ),
            )
            self._state = self._state.model_copy(
                update={"routed_package_id": prior.package_id, "dismissed": prior.dismissed}
            )
        ref = self._appointment_ref()
        if self._state.dismissed:
            return DeliveryAnswer(
                accepted=False,
                rule="Dismissed",
                detail=f"staff dismissed the completion of {ref}: it takes no session",
            )
        routed = self._state.routed_package_id
        if routed is not None and routed != chosen:
            return DeliveryAnswer(
                accepted=False,
                rule="AlreadyCompleted",
                detail=f"appointment {ref} was already completed on package {routed}",
            )
        message = self._redeem_message(event)
        if request.allow_same_day:
            message = message.model_copy(update={"allow_same_day": True})
        answer = await self._deliver(chosen, vm.RedeemDelivery(request=message))
        if not answer.accepted:  # not `seen`: the desk may retry (a same-day confirmation)
            self._append(
                VisitStep(
                    event_key=event.event_key,
                    change=event.change,
                    outcome=VisitOutcome.REFUSED,
                    package_id=chosen,
                    detail=answer.detail,
                    at=workflow.now(),
                )
            )
            return answer
        if routed is not None:  # the same package again: it answered as the first time
            self._step(event, VisitOutcome.REDEEMED, chosen, f"already routed: {answer.detail}")
            return answer
        await self._routed(event, chosen, answer)
        if self._state.review_open:  # the platform's copy waited in review: settled now
            await call(
                vm.CLOSE_REVIEW_ITEM,
                vm.CloseReviewInput(
                    item_id=self._state.review_item_id or "",
                    status="assigned",
                    resolved_by=event.actor,
                    resolution=f"completed at the desk on {chosen}: {answer.detail}",
                    package_id=chosen,
                ),
            )
            self._state = self._state.model_copy(update={"review_open": False})
            self._wake = True
        return answer

    async def _assign(self, request: ResolveReview) -> ResolveAnswer:
        assert request.package_id is not None
        event = self._last_completion()
        message = self._redeem_message(event).model_copy(
            update={
                "actor": request.actor,
                "source": "review",
                "amount_cents": request.amount_cents,
                "allow_same_day": request.allow_same_day,
            }
        )
        answer = await self._deliver(request.package_id, vm.RedeemDelivery(request=message))
        if not answer.accepted:
            raise ApplicationError(answer.detail, type=answer.rule or "Refused")
        await self._routed(event, request.package_id, answer, actor=request.actor)
        await call(
            vm.CLOSE_REVIEW_ITEM,
            vm.CloseReviewInput(
                item_id=self._state.review_item_id or "",
                status="assigned",
                resolved_by=request.actor,
                resolution=f"assigned to {request.package_id}: {answer.detail}",
                package_id=request.package_id,
            ),
        )
        self._state = self._state.model_copy(update={"review_open": False})
        return ResolveAnswer(
            outcome=VisitOutcome.REDEEMED,
            package_id=request.package_id,
            detail=answer.detail,
            answer=answer.answer,
        )

    async def _dismiss(self, request: ResolveReview) -> ResolveAnswer:
        reason = (request.reason or "").strip()
        await call(
            vm.CLOSE_REVIEW_ITEM,
            vm.CloseReviewInput(
                item_id=self._state.review_item_id or "",
                status="dismissed",
                resolved_by=request.actor,
                resolution=reason,
            ),
        )
        await call(
            vm.RECORD_ROUTE,
            vm.RouteInput(
                platform=self._input.platform,
                appointment_id=self._input.appointment_id,
                package_id=None,
                outcome="dismissed",
            ),
        )
        self._state = self._state.model_copy(update={"review_open": False, "dismissed": True})
        self._append(
            VisitStep(
                event_key=f"dismiss:{workflow.now().isoformat()}",
                change=VisitChange.COMPLETED,
                outcome=VisitOutcome.DISMISSED,
                detail=f"dismissed by {request.actor}: {reason}",
                at=workflow.now(),
            )
        )
        return ResolveAnswer(outcome=VisitOutcome.DISMISSED, detail=reason)

    # --- helpers --------------------------------------------------------------------------

    async def _candidates(self, event: VisitEvent) -> Candidates:
        assert event.client_id is not None
        on = event.service_date or workflow.now().date()
        found = await call(
            vm.FIND_CANDIDATES,
            vm.CandidateQuery(
                platform=self._input.platform,
                appointment_id=self._input.appointment_id,
                client_id=event.client_id,
                service_key=event.service_key,
                service_name=event.service_name,
                category=event.category,
                on=on,
            ),
        )
        self._adopt(found)
        return found

    def _adopt(self, found: Candidates) -> None:
        """What an earlier run decided (a closed visit heard again): sticky here too."""
        if found.prior_package_id is not None or found.prior_dismissed:
            self._state = self._state.model_copy(
                update={
                    "routed_package_id": self._state.routed_package_id or found.prior_package_id,
                    "dismissed": self._state.dismissed or found.prior_dismissed,
                }
            )

    async def _best_for_note(self, event: VisitEvent) -> str | None:
        """The package a booking change concerns: one with a balance if any covers the
        service, else a zero-balance one (so a booking at zero alerts staff now)."""
        found = await self._candidates(event)
        ordered = _redeem_order(found.packages)
        return ordered[0].package_id if ordered else None

    async def _deliver(
        self, package_id: str, message: vm.RedeemDelivery | vm.NoteDelivery | vm.AttendanceDelivery
    ) -> DeliveryAnswer:
        contract = (
            vm.DELIVER_TO_PACKAGE
            if workflow.patched(vm.LOCAL_HANDOVER)
            else vm.DELIVER_TO_PACKAGE_V1
        )
        return await call(
            contract,
            vm.PackageDelivery(package_id=package_id, message=message),
            summary=f"{message.update} on {package_id}",
        )

    async def _routed(
        self,
        event: VisitEvent,
        package_id: str,
        answer: DeliveryAnswer,
        *,
        actor: str | None = None,
    ) -> None:
        # Sticky first: should recording the route fail for good, the visit still knows
        # the package took it, and no one can assign it elsewhere.
        self._state = self._state.model_copy(update={"routed_package_id": package_id})
        await call(
            vm.RECORD_ROUTE,
            vm.RouteInput(
                platform=self._input.platform,
                appointment_id=self._input.appointment_id,
                package_id=package_id,
                location_id=self._state.location_id,
            ),
        )
        detail = answer.detail if actor is None else f"assigned by {actor}: {answer.detail}"
        self._step(event, VisitOutcome.REDEEMED, package_id, detail)

    async def _failed(self, event: VisitEvent, err: ActivityError) -> None:
        """Record the failure, open a review item with its reason and alert staff. A
        completion no package took waits in review (staff assign or dismiss it); anything
        else is a follow-up item staff dismiss when done."""
        kind, detail = _failure(err)
        item_id = self._item_id(event)
        waiting = self._state.review_open or self._state.routed_package_id is not None
        if event.change is VisitChange.COMPLETED and not waiting:
            opened = await self._try(
                self._review(event, "failed", detail, rule=kind, outcome=VisitOutcome.FAILED)
            )
        else:
            opened = await self._try(
                call(
                    vm.OPEN_REVIEW_ITEM,
                    vm.ReviewItemInput(
                        item_id=item_id,
                        kind="follow_up",
                        reason=f"failed:{kind}",
                        detail=detail,
                        client_id=event.client_id,
                        platform=self._input.platform,
                        appointment_id=self._input.appointment_id,
                        service_name=event.service_name or event.service_key,
                        category=self._state.category,
                    ),
                )
            )
            self._step(event, VisitOutcome.FAILED, None, detail)
        if not opened:
            detail = f"{detail} (the review item could not be opened either)"
        await self._try(
            call(
                vm.ALERT_STAFF,
                vm.VisitAlertInput(
                    alert_key=f"failed:{item_id}",
                    client_id=event.client_id,
                    message=f"{self._appointment_ref()}: {detail}",
                ),
            )
        )
        if event.event_key not in self._state.seen:  # _review could not record it
            self._step(event, VisitOutcome.FAILED, None, detail)

    async def _try(self, work: Awaitable[None]) -> bool:
        """Await a last-resort call; its own failure is logged, never raised."""
        try:
            await work
        except ActivityError as err:
            workflow.logger.error("visit %s: %s", self._appointment_ref(), _failure(err)[1])
            return False
        return True

    def _item_id(self, event: VisitEvent) -> str:
        return visit_review_item_id(
            self._input.platform, self._input.appointment_id, event.event_key
        )

    async def _review(
        self,
        event: VisitEvent,
        reason: str,
        detail: str,
        *,
        rule: str | None = None,
        outcome: VisitOutcome = VisitOutcome.IN_REVIEW,
    ) -> None:
        item_id = self._item_id(event)
        # In review before the item is visible: a manager who assigns it the moment it
        # appears must not be told "not in review" (the update waits for the lock).
        before = self._state
        self._state = self._state.model_copy(
            update={"review_item_id": item_id, "review_open": True, "pending_completion": event}
        )
        try:
            await call(
                vm.OPEN_REVIEW_ITEM,
                vm.ReviewItemInput(
                    item_id=item_id,
                    reason=reason if rule is None else f"{reason}:{rule}",
                    detail=detail,
                    client_id=event.client_id,
                    platform=self._input.platform,
                    appointment_id=self._input.appointment_id,
                    service_name=event.service_name or event.service_key,
                    category=self._state.category,
                    visit_workflow_id=workflow.info().workflow_id,
                ),
            )
        except ActivityError:
            self._state = before
            raise
        self._step(event, outcome, None, detail)

    def _remember(self, event: VisitEvent) -> None:
        self._state = self._state.model_copy(
            update={
                "client_id": event.client_id,
                "service_name": event.service_name or self._state.service_name,
                "category": event.category or self._state.category,
                "service_date": event.service_date or self._state.service_date,
                "location_id": event.location_id or self._state.location_id,
            }
        )

    def _last_completion(self) -> VisitEvent:
        if self._state.pending_completion is None:
            raise ApplicationError("no completion waits in review", type="NotInReview")
        return self._state.pending_completion

    def _appointment_ref(self) -> str:
        """The appointment id as packages know it: unique across platforms."""
        return f"{self._input.platform}:{self._input.appointment_id}"

    def _base_message(self, event: VisitEvent, *, key: str) -> dict[str, Any]:
        """The fields every package message from a visit carries."""
        return {
            "key": key,
            "actor": event.actor,
            "source": f"{event.platform}-{event.source}",
            "appointment_id": self._appointment_ref(),
            "provider_id": event.provider_id or None,
        }

    def _redeem_message(self, event: VisitEvent) -> RedeemRequest:
        return RedeemRequest(
            **self._base_message(event, key=f"complete:{self._appointment_ref()}"),
            service_id=event.service_key or None,
            service_date=event.service_date,
            amount_cents=event.amount_cents or None,
            rebooked_from=event.rebooked_from or None,
        )

    def _step(
        self, event: VisitEvent, outcome: VisitOutcome, package_id: str | None, detail: str
    ) -> None:
        self._append(
            VisitStep(
                event_key=event.event_key,
                change=event.change,
                outcome=outcome,
                package_id=package_id,
                detail=detail,
                at=workflow.now(),
            )
        )
        self._state.seen[event.event_key] = len(self._state.steps) - 1

    def _append(self, step: VisitStep) -> None:
        self._state.steps.append(step)


def _redeem_order(packages: list[Candidate]) -> list[Candidate]:
    """Packages with a balance first (already in rule-4 order), then empty ones, so a
    refusal names the package the client would have used."""
    return [p for p in packages if p.remaining > 0] + [p for p in packages if p.remaining <= 0]


class WorkerStopped(Exception):
    """Fails the workflow task (not the visit): raised when a local activity was cut short
    by its worker stopping, so the task, and the event, run again after the restart with
    nothing recorded, instead of ending in review."""


def _unless_cut_short(err: ActivityError) -> None:
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == policies.WORKER_SHUTDOWN:
        raise WorkerStopped(str(cause.message)) from err


def _failure(err: ActivityError) -> tuple[str, str]:
    """The failure's type and a line for staff naming the activity and the reason."""
    cause = err.cause
    kind = (cause.type if isinstance(cause, ApplicationError) else None) or type(
        cause or err
    ).__name__
    message = getattr(cause, "message", None) or str(cause or err)
    return kind, f"{err.activity_type} failed for good ({kind}): {message[:500]}"


__all__ = ["VisitWorkflow"]
