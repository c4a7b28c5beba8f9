"""The package entity workflow: one per purchased package, alive until expiry or cancel.

A thin shell around the package's book (`workflows.book`): update handlers are
synchronous and apply the book's rules (validators refuse with the rule's name), so an
accepted update is durable the moment it is answered. The rules queue effects — ledger
rows, client notices, staff alerts, integration writes — which the run loop drains:

- the ledger in order, every queued row in one local activity, inside the workflow task
  that accepted the update (no extra server round trip);
- everything else in one `effects.perform` activity per drain, in the background, for
  every pending entry at once. The cost of a redemption in history is therefore the same
  whatever the number of integrations configured.

Effects go out one activity at a time (the lane): what falls due while one is in flight
waits for it and then goes out together, so under a burst of updates the activities and
their workflow tasks grow with the provider round trips, not with the entries (and no
write-back runs alone behind another). A lane in flight longer than EFFECTS_PATIENCE (a
provider retrying) stops holding the others back: a timer, started only while effects
wait, lets the next activity start beside it.

Idempotency keys and their first answers live in the book's state and travel across
continue-as-new with any undrained effects.

Versioning: 1.0 is the baseline (tests/histories `v7`); no `workflow.patched` branch is
older than it. A logic change from here on gets `workflow.patched(ID)` with a comment
saying when it can be retired: once no run started before its release is open (longest
package life plus retention), `deprecate_patch`, then removed a release later.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as RetriesRanOut

with workflow.unsafe.imports_passed_through():
    import workflows.book.freeze as freezing
    import workflows.book.payments as payments
    import workflows.book.staff as staff
    import workflows.book.timers as timers
    import workflows.book.visits as visits
    import workflows.contracts as contracts
    import workflows.policies as policies
    import workflows.texts as texts
    import workflows.visibility as visibility
    from workflows.book.core import Refused
    from workflows.calls import call
    from workflows.models import (
        CLOSED_STATUSES,
        AddUnitsRequest,
        AppointmentNotice,
        AttendanceRequest,
        CancelRequest,
        ClientNoticeEffect,
        CorrectExpiryRequest,
        Entry,
        EntryKind,
        ExtendRequest,
        ForfeitRequest,
        FreezeRequest,
        LedgerEffect,
        LifecycleEvent,
        Notice,
        PackageAnswer,
        PackageInput,
        PackageMessage,
        PackageOutcome,
        PackageView,
        RedeemRequest,
        RefundEffect,
        ReverseRequest,
        StaffAlertEffect,
        StripeRefundNotice,
        UnfreezeRequest,
    )

__all__ = ["PackageWorkflow", "Refused"]

NOTICE_GRACE = timedelta(seconds=30)
# How long due effects wait for the effects activity in flight before one starts beside it.
EFFECTS_PATIENCE = timedelta(seconds=5)
LEDGER_REFUSED_ALERT = "ledger_refused"
EFFECT_FAILED_ALERT = "delivery_failed"
LEDGER_PAUSE = timedelta(minutes=1)
# In-flight keys of integration work, apart from notice keys (an event id and a notice key
# may be the same string: both derive from the entry key).
SYNC_KEY = "integration:sync"  # the one write-back in flight at a time


class _Lane:
    """The effects activity in flight that later effects wait for (see the module doc)."""

    def __init__(self, started: datetime) -> None:
        self.started = started
        self.overtaken = False  # in flight past EFFECTS_PATIENCE: no longer waited for
        self.watched = False  # a patience timer runs for it


def _event_key(event: LifecycleEvent) -> str:
    return f"integration:event:{event.event_id}"


def _refund_key(refund: RefundEffect) -> str:
    return f"integration:refund:{refund.key}"


@workflow.defn(name="PackageWorkflow")
class PackageWorkflow:
    @workflow.init
    def __init__(self, input: PackageInput) -> None:
        self._input = input
        fresh = input.carried is None
        self._book = staff.open_book(input, started_at=workflow.now() if fresh else None)
        self._state = self._book.state
        self._handled_this_run = 0
        self._in_flight: set[str] = set()
        self._lane: _Lane | None = None
        self._tasks: list[asyncio.Task[None]] = []  # kept referenced until done
        self._broken: Exception | None = None
        self._alarm_rang = False

    # --- run loop ---------------------------------------------------------------------

    @workflow.run
    async def run(self, input: PackageInput) -> PackageOutcome:
        self._tasks.append(asyncio.create_task(self._alarm()))
        while True:
            if self._broken is not None:
                raise self._broken  # fails the workflow task, not the package: retried after a fix
            self._index()
            self._start_effects()
            await self._drain_ledger()
            if self._state.status in CLOSED_STATUSES:
                if await self._settled():
                    return self._book.outcome()
                continue
            if self._should_continue_as_new():
                await self._continue_as_new()
            await workflow.wait_condition(self._has_work)
            self._alarm_rang = False
            freezing.unfreeze_when_due(self._book, workflow.now())
            timers.fire_due(self._book, workflow.now())

    def _index(self) -> None:
        """Upsert the search attributes that changed since the last turn: one command for
        a whole burst of updates, none when nothing ops search by moved (a sale's are set
        at start). The current-details line is metadata, not a command."""
        index = visibility.index(
            self._input,
            status=self._state.status,
            remaining=self._state.remaining,
            expires_at=self._state.expires_at,
        )
        workflow.set_current_details(visibility.current_details(index, self._book.terms.kind))
        changes = index.changes(workflow.info().typed_search_attributes)
        if changes:
            workflow.upsert_search_attributes(changes)

    async def _alarm(self) -> None:
        """One timer for the next reminder, pace or expiry deadline, replaced only when that
        deadline moves (a fresh timer per wake-up would add two history events per update)."""
        while True:
            deadline = timers.next_deadline(self._book)
            if deadline is None:
                await workflow.wait_condition(lambda: timers.next_deadline(self._book) is not None)
                continue

            def moved(at: datetime = deadline) -> bool:
                return timers.next_deadline(self._book) != at

            try:
                await workflow.wait_condition(
                    moved,
                    timeout=max(deadline - workflow.now(), timedelta(0)),
                    timeout_summary=timers.deadline_label(self._book, deadline),
                )
            except TimeoutError:
                self._alarm_rang = True
                await workflow.wait_condition(lambda: not self._alarm_rang)

    def _has_work(self) -> bool:
        return (
            self._broken is not None
            or self._alarm_rang
            or bool(self._state.ledger_outbox)
            or (self._effects_due() and not self._lane_busy())
            or any(_refund_key(r) not in self._in_flight for r in self._state.refund_outbox)
            or self._should_continue_as_new()
        )

    def _effects_due(self) -> bool:
        return (
            bool(self._due_notices())
            or self._sync_due()
            or any(_event_key(e) not in self._in_flight for e in self._state.event_outbox)
        )

    def _lane_busy(self) -> bool:
        """An effects activity is in flight and due effects should wait for it."""
        return self._lane is not None and not self._lane.overtaken

    def _due_notices(self) -> list[Notice]:
        return [n for n in self._state.notice_outbox if n.key not in self._in_flight]

    def _sync_due(self) -> bool:
        return (
            self._state.sync_version > self._state.synced_version
            and SYNC_KEY not in self._in_flight
        )

    async def _settled(self) -> bool:
        """A closed package finishes only once every handler, ledger row and effect is done."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._start_effects()
        await self._drain_ledger()
        await workflow.wait_condition(lambda: not self._in_flight)
        return (
            self._state.status in CLOSED_STATUSES  # a refused refund reopens the package
            and not self._state.ledger_outbox
            and not self._state.notice_outbox
            and not self._state.event_outbox
            and not self._state.refund_outbox
            and self._state.synced_version >= self._state.sync_version
        )

    async def _continue_as_new(self) -> None:
        """Carry state, undrained ledger rows and unsettled effects into a fresh run.

        Effects still in flight get a short grace; any left are performed again by the
        next run, where each target's own dedupe (by key) keeps them single.
        """
        await workflow.wait_condition(workflow.all_handlers_finished)
        try:
            await workflow.wait_condition(
                lambda: not self._in_flight,
                timeout=NOTICE_GRACE,
                timeout_summary="effects in flight: grace before continue-as-new",
            )
        except TimeoutError:
            pass
        workflow.continue_as_new(self._input.model_copy(update={"carried": self._state}))

    def _should_continue_as_new(self) -> bool:
        return (
            self._handled_this_run >= self._input.max_messages_per_run
            or workflow.info().is_continue_as_new_suggested()
        )

    # --- the ledger ---------------------------------------------------------------------

    async def _drain_ledger(self) -> None:
        """Mirror entries into Postgres in order, every queued row in one local activity.
        Stops early for continue-as-new (the rest travels with the state) unless the
        package is closing. A failing ledger never fails the workflow: it is logged, and
        the same rows are retried after a pause; a row PostgreSQL refuses for good is
        alerted to staff and skipped."""
        while self._state.ledger_outbox:
            self._start_effects()  # a burst of updates must not hold confirmations back
            if self._should_continue_as_new() and self._state.status not in CLOSED_STATUSES:
                return
            batch = self._state.ledger_outbox[: contracts.MAX_LEDGER_BATCH]
            try:
                result = await call(
                    contracts.RECORD_LEDGER,
                    contracts.LedgerBatchInput(
                        package_id=self._input.package_id,
                        client_id=self._input.client_id,
                        effects=batch,
                        writer=contracts.LedgerWriter(
                            run_id=workflow.info().run_id,
                            history_length=workflow.info().get_current_history_length(),
                        ),
                    ),
                    summary=_ledger_summary(batch),
                )
            except ActivityError as err:
                workflow.logger.error(
                    "ledger write of entries %s… failed, retrying later: %s",
                    batch[0].entry.seq,
                    err.cause,
                )
                await workflow.sleep(LEDGER_PAUSE, summary="ledger: pause before retrying")
                continue
            if result.voided:
                workflow.logger.warning(
                    "ledger: %d row(s) of a lost workflow task voided", result.voided
                )
            del self._state.ledger_outbox[: result.written]
            if result.refused is not None:
                self._ledger_refused(self._state.ledger_outbox.pop(0), result.refused.reason)

    def _ledger_refused(self, effect: LedgerEffect, why: str) -> None:
        """The row can never be written as it stands: say so, loudly, once, and move on so
        the package (and its worker) keep working. The entry stays in the package's own
        history (the `history` query) for staff to record by hand."""
        entry = effect.entry
        workflow.logger.error(
            "ledger refused entry %s of package %s: %s", entry.seq, self._input.package_id, why
        )
        self._book.alert_staff(
            f"ledger-refused:{entry.seq}",
            LEDGER_REFUSED_ALERT,
            f"The ledger could not record entry {entry.seq} ({entry.kind.value}, key "
            f"{entry.key!r}) of {self._book.terms.name} ({self._input.package_id}): {why}. "
            "The package kept the entry and goes on; record it in the ledger by hand once "
            "the value is corrected.",
        )

    # --- effects ------------------------------------------------------------------------

    def _start_effects(self) -> None:
        """Every due notice, write-back and webhook goes out in one background activity, so
        a slow provider never holds the ledger; a key is in at most one activity at a time,
        and while the lane is busy due effects wait for it (bounded by EFFECTS_PATIENCE).
        Refunds keep their own activity: the book waits for Stripe's answer."""
        if self._lane_busy() and self._effects_due():
            self._watch_lane()
        if not self._lane_busy():
            notices = self._due_notices()
            events = [e for e in self._state.event_outbox if _event_key(e) not in self._in_flight]
            sync = self._sync_input() if self._sync_due() else None
            if notices or events or sync is not None:
                keys = [n.key for n in notices] + [_event_key(e) for e in events]
                if sync is not None:
                    keys.append(SYNC_KEY)
                lane = _Lane(workflow.now())
                self._lane = lane
                self._background(keys, self._perform(notices, events, sync), lane=lane)
        for refund in self._state.refund_outbox:
            if _refund_key(refund) not in self._in_flight:
                self._background([_refund_key(refund)], self._refund(refund))

    def _background(
        self, keys: list[str], work: Coroutine[Any, Any, None], *, lane: _Lane | None = None
    ) -> None:
        self._in_flight.update(keys)

        async def run() -> None:
            try:
                await work
            except Exception as err:  # not a provider failure (those are settled): a bug
                self._broken = err
            finally:
                self._in_flight.difference_update(keys)
                if lane is not None and self._lane is lane:
                    self._lane = None
                self._tasks = [t for t in self._tasks if not t.done()]

        self._tasks.append(asyncio.create_task(run()))

    def _watch_lane(self) -> None:
        """Effects wait for the lane: once it has been in flight EFFECTS_PATIENCE, stop
        waiting for it. One timer per lane, cancelled when the lane finishes first."""
        lane = self._lane
        if lane is None or lane.watched:
            return
        left = lane.started + EFFECTS_PATIENCE - workflow.now()
        if left <= timedelta(0):
            lane.overtaken = True
            return
        lane.watched = True

        async def watch() -> None:
            try:
                await workflow.wait_condition(
                    lambda: self._lane is not lane,
                    timeout=left,
                    timeout_summary="effects: wait for the activity in flight",
                )
            except TimeoutError:
                lane.overtaken = True

        self._tasks.append(asyncio.create_task(watch()))

    def _sync_input(self) -> contracts.PackageSync:
        """The latest state for the CRM and booking platforms (latest version wins)."""
        snap = self._book.snapshot(workflow.now())
        return contracts.PackageSync(
            version=self._state.sync_version,
            package_id=snap.package_id,
            client_id=snap.client_id,
            type_code=snap.type_code,
            name=snap.name,
            kind=snap.kind.value,
            status=snap.status.value,
            remaining=snap.remaining,
            purchased_units=snap.purchased_units,
            expires_at=snap.expires_at,
            last_session_at=self._state.last_session_at,
            renewal_url=self._state.renewal_link,
        )

    async def _perform(
        self,
        notices: list[Notice],
        events: list[LifecycleEvent],
        sync: contracts.PackageSync | None,
    ) -> None:
        """Perform, then settle: every effect sent in is done, refused or given up when the
        activity answers; failures (other than of staff alerts) become one staff alert."""
        offers = any(isinstance(n, ClientNoticeEffect) and n.renewal_offer for n in notices)
        effects = contracts.EffectsInput(
            package_id=self._input.package_id,
            client_id=self._input.client_id,
            notices=notices,
            offer=self._renewal_offer() if offers else None,
            events=events,
            sync=sync,
            attempt_limit=policies.EFFECTS_ATTEMPTS,
        )
        try:
            result = await call(
                contracts.PERFORM_EFFECTS, effects, summary=_effects_summary(effects)
            )
        except ActivityError as err:
            # Out of attempts before the activity could record it (e.g. the worker died on
            # the last one): the same as a give-up of every effect sent in.
            why = f"gave up: {err.cause}"
            workflow.logger.error("effects of %s gave up: %s", self._input.package_id, why)
            result = contracts.EffectsResult(failures=_all_failed(effects, why))
        if result.renewal_link and result.renewal_link != self._state.renewal_link:
            self._state.renewal_link = result.renewal_link
            self._state.sync_version += 1  # the CRM shows the latest renewal link
        settled = {n.key for n in notices}
        self._state.notice_outbox = [n for n in self._state.notice_outbox if n.key not in settled]
        sent_events = {e.event_id for e in events}
        self._state.event_outbox = [
            e for e in self._state.event_outbox if e.event_id not in sent_events
        ]
        if sync is not None:
            self._state.synced_version = max(self._state.synced_version, sync.version)
        self._alert_failures(result.failures)

    def _renewal_offer(self) -> contracts.RenewalOffer:
        return contracts.RenewalOffer(
            type_code=self._book.renewal_type_code(),
            name=self._book.terms.name,
            price_cents=self._book.terms.price_cents,
            fallback_url=self._book.renewal_url(),
        )

    def _alert_failures(self, failures: list[contracts.EffectFailure]) -> None:
        """One staff alert per distinct failure (target and reason): a CRM refusing every
        write-back the same way alerts once, not once per balance change."""
        for failure in failures:
            if failure.staff_alert:  # never alert about an alert: it is logged and recorded
                workflow.logger.error("staff alert %s failed: %s", failure.key, failure.reason)
                continue
            digest = hashlib.sha256(f"{failure.target}:{failure.reason}".encode()).hexdigest()
            self._book.alert_staff(
                f"effect-failed:{failure.target}:{digest[:16]}",
                EFFECT_FAILED_ALERT,
                f"{_TARGETS[failure.target]} for {self._book.terms.name} "
                f"({self._input.package_id}) failed for good: {failure.reason}",
            )

    async def _refund(self, effect: RefundEffect) -> None:
        """The refund step of a cancel: issued once (same Idempotency-Key on every attempt),
        then recorded; a refusal compensates the cancellation."""
        assert self._input.payment is not None  # the cancel validator saw to it
        try:
            result = await call(
                contracts.ISSUE_REFUND,
                contracts.RefundInput(
                    refund_key=effect.key,
                    package_id=self._input.package_id,
                    client_id=self._input.client_id,
                    payment_intent_id=self._input.payment.payment_intent_id,
                    amount_cents=effect.amount_cents,
                    reason=effect.reason,
                ),
                summary=f"Stripe: refund {texts.money(effect.amount_cents)}",
            )
        except ActivityError as err:
            now = workflow.now()
            if isinstance(err.cause, RetriesRanOut):
                payments.refund_unconfirmed(self._book, effect, why=str(err.cause), now=now)
            else:
                why = str(err.cause.message if isinstance(err.cause, ApplicationError) else err)
                payments.refund_refused(self._book, effect, why=why, now=now)
        else:
            payments.refund_issued(
                self._book,
                effect,
                refund_id=result.refund_id,
                amount=result.amount_cents,
                now=workflow.now(),
            )
        self._state.refund_outbox = [r for r in self._state.refund_outbox if r.key != effect.key]

    # --- updates ------------------------------------------------------------------------

    def _known(self, msg: PackageMessage) -> PackageAnswer | None:
        """Count the message; a known key gets its first answer and changes nothing."""
        self._handled_this_run += 1
        return self._book.known_answer(msg.key)

    @workflow.update(name="redeem")
    def redeem(self, msg: RedeemRequest) -> PackageAnswer:
        known = self._known(msg)
        if known is not None:
            return known
        if self._state.awaiting_activation:
            # A marker in every history where a first visit started the expiry clock (1.1):
            # only packages of a first_visit type, sold from 1.1 on, ever await it. Retire
            # with deprecate_patch once no run started before 1.1 is open.
            workflow.patched("package-activation")
        return visits.redeem(self._book, msg, workflow.now())

    @redeem.validator
    def _check_redeem(self, msg: RedeemRequest) -> None:
        visits.check_redeem(self._book, msg, workflow.now())

    @workflow.update(name="record_attendance")
    def record_attendance(self, msg: AttendanceRequest) -> PackageAnswer:
        return self._known(msg) or visits.record_attendance(self._book, msg, workflow.now())

    @record_attendance.validator
    def _check_attendance(self, msg: AttendanceRequest) -> None:
        visits.check_attendance(self._book, msg, workflow.now())

    @workflow.update(name="reverse")
    def reverse(self, msg: ReverseRequest) -> PackageAnswer:
        return self._known(msg) or visits.reverse(self._book, msg, workflow.now())

    @reverse.validator
    def _check_reverse(self, msg: ReverseRequest) -> None:
        visits.check_reverse(self._book, msg)

    @workflow.update(name="note_appointment")
    def note_appointment(self, msg: AppointmentNotice) -> PackageAnswer:
        return self._known(msg) or visits.note_appointment(self._book, msg, workflow.now())

    @note_appointment.validator
    def _check_note(self, msg: AppointmentNotice) -> None:
        visits.check_note(self._book, msg, workflow.now())

    @workflow.update(name="add_units")
    def add_units(self, msg: AddUnitsRequest) -> PackageAnswer:
        return self._known(msg) or staff.add_units(self._book, msg, workflow.now())

    @add_units.validator
    def _check_add_units(self, msg: AddUnitsRequest) -> None:
        staff.check_add_units(self._book, msg, workflow.now())

    @workflow.update(name="extend")
    def extend(self, msg: ExtendRequest) -> PackageAnswer:
        return self._known(msg) or staff.extend(self._book, msg, workflow.now())

    @extend.validator
    def _check_extend(self, msg: ExtendRequest) -> None:
        staff.check_extend(self._book, msg, workflow.now())

    @workflow.update(name="correct_expiry")
    def correct_expiry(self, msg: CorrectExpiryRequest) -> PackageAnswer:
        return self._known(msg) or staff.correct_expiry(self._book, msg, workflow.now())

    @correct_expiry.validator
    def _check_correct_expiry(self, msg: CorrectExpiryRequest) -> None:
        staff.check_correct_expiry(self._book, msg, workflow.now())

    @workflow.update(name="forfeit")
    def forfeit(self, msg: ForfeitRequest) -> PackageAnswer:
        return self._known(msg) or staff.forfeit(self._book, msg, workflow.now())

    @forfeit.validator
    def _check_forfeit(self, msg: ForfeitRequest) -> None:
        staff.check_forfeit(self._book, msg)

    @workflow.update(name="freeze")
    def freeze(self, msg: FreezeRequest) -> PackageAnswer:
        known = self._known(msg)
        if known is not None:
            return known
        # A marker in every history with a freeze (1.1): runs without one never saw a
        # freeze, so their replay is unchanged (tests/histories v7/v8). Retire with
        # deprecate_patch once no run started before 1.1 is open.
        workflow.patched("package-freeze")
        return freezing.freeze(self._book, msg, workflow.now())

    @freeze.validator
    def _check_freeze(self, msg: FreezeRequest) -> None:
        freezing.check_freeze(self._book, msg, workflow.now())

    @workflow.update(name="unfreeze")
    def unfreeze(self, msg: UnfreezeRequest) -> PackageAnswer:
        known = self._known(msg)
        if known is not None:
            return known
        workflow.patched("package-freeze")
        return freezing.unfreeze(self._book, msg, workflow.now())

    @unfreeze.validator
    def _check_unfreeze(self, msg: UnfreezeRequest) -> None:
        freezing.check_unfreeze(self._book, msg)

    @workflow.update(name="cancel")
    def cancel(self, msg: CancelRequest) -> PackageAnswer:
        return self._known(msg) or staff.cancel(self._book, msg, workflow.now())

    @cancel.validator
    def _check_cancel(self, msg: CancelRequest) -> None:
        staff.check_cancel(self._book, msg)

    @workflow.update(name="stripe_refund")
    def stripe_refund(self, msg: StripeRefundNotice) -> PackageAnswer:
        return self._known(msg) or payments.stripe_refund(self._book, msg, workflow.now())

    @stripe_refund.validator
    def _check_stripe_refund(self, msg: StripeRefundNotice) -> None:
        if msg.key not in self._state.answers:
            payments.check_stripe_refund(self._book, msg)

    # --- queries ------------------------------------------------------------------------

    @workflow.query(name="state")
    def state(self) -> PackageView:
        return PackageView(
            snapshot=self._book.snapshot(workflow.now()),
            appointments=list(self._state.appointments.values()),
            reminders=dict(self._state.reminders),
            pending_effects=(
                len(self._state.ledger_outbox)
                + len(self._state.notice_outbox)
                + len(self._state.event_outbox)
                + len(self._state.refund_outbox)
                + (self._state.sync_version > self._state.synced_version)
                + (SYNC_KEY in self._in_flight)
            ),
            messages_this_run=self._handled_this_run,
            planned_reminders=timers.planned_reminders(self._book),
            next_deadline=timers.next_deadline(self._book),
        )

    @workflow.query(name="answer")
    def answer(self, key: str) -> PackageAnswer | None:
        """The first answer given to `key`: duplicates still get it after the package closed."""
        return self._book.known_answer(key)

    @workflow.query(name="history")
    def history(self) -> list[Entry]:
        return list(self._state.entries)


_TARGETS: dict[contracts.EffectTarget, str] = {
    "sms": "The client's text",
    "email": "The client's email",
    "staff_alert": "A staff alert",
    "staff_email": "A staff alert email",
    "checkout": "The renewal checkout link",
    "crm": "The CRM write-back",
    "booking": "The booking-platform write-back",
    "webhook": "A lifecycle webhook",
}


def _all_failed(effects: contracts.EffectsInput, why: str) -> list[contracts.EffectFailure]:
    failures = [
        contracts.EffectFailure(
            key=n.key,
            target="staff_alert" if isinstance(n, StaffAlertEffect) else "sms",
            staff_alert=isinstance(n, StaffAlertEffect),
            reason=why,
        )
        for n in effects.notices
    ]
    failures += [
        contracts.EffectFailure(key=e.event_id, target="webhook", staff_alert=False, reason=why)
        for e in effects.events
    ]
    if effects.sync is not None:
        key = f"sync:v{effects.sync.version}"
        failures.append(
            contracts.EffectFailure(key=key, target="crm", staff_alert=False, reason=why)
        )
    return failures


def _ledger_summary(batch: list[LedgerEffect]) -> str:
    """ "ledger: redemption appt a1", "ledger: reminder 30d", "ledger: 3 rows (sale …)"."""
    entry = batch[0].entry
    what = entry.kind.value.replace("_", " ")
    if entry.appointment_id:
        first = f"{what} appt {entry.appointment_id}"
    elif entry.kind is EntryKind.REMINDER:
        first = entry.outcome or what
    else:
        first = what
    return f"ledger: {first}" if len(batch) == 1 else f"ledger: {len(batch)} rows ({first} …)"


def _effects_summary(effects: contracts.EffectsInput) -> str:
    """ "effects: 30-day reminder, CRM v4, webhook package.redeemed" (never a text or PII)."""
    parts = [_notice_label(n) for n in effects.notices]
    if effects.sync is not None:
        parts.append(f"write-back v{effects.sync.version} ({effects.sync.remaining} left)")
    parts += [f"webhook {e.type}" for e in effects.events]
    shown = ", ".join(parts[:4]) + (f" +{len(parts) - 4}" if len(parts) > 4 else "")
    return f"effects: {shown}"


def _notice_label(notice: Notice) -> str:
    """ "30-day reminder", "balance low", …: from the notice's kind and key (never its text)."""
    _, marker, rest = notice.key.partition("reminder:")
    label = rest.split("@")[0]
    if notice.kind == "reminder" and marker and label.endswith("d"):
        return f"{label.removesuffix('d')}-day reminder"
    return notice.kind.replace("_", " ")
