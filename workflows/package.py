"""The package entity workflow: one per purchased package, alive until expiry or cancel.

A thin shell around the package's book (`workflows.book`): update handlers are
synchronous and apply the book's rules (validators refuse with the rule's name), so an
accepted update is durable the moment it is answered. The rules queue effects — ledger
rows, client notices, staff alerts — which the run loop drains through activities: the
ledger in order, notices in the background. Idempotency keys and their first answers live
in the book's state and travel across continue-as-new with any undrained effects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as RetriesRanOut

with workflow.unsafe.imports_passed_through():
    import workflows.book.payments as payments
    import workflows.book.staff as staff
    import workflows.book.timers as timers
    import workflows.book.visits as visits
    import workflows.contracts as contracts
    import workflows.policies as policies
    import workflows.texts as texts
    import workflows.visibility as visibility
    from workflows.book.core import Refused
    from workflows.models import (
        CLOSED_STATUSES,
        RENEWAL_LINK,
        AddUnitsRequest,
        AppointmentNotice,
        AttendanceRequest,
        CancelRequest,
        ClientNoticeEffect,
        Entry,
        EntryKind,
        ExtendRequest,
        ForfeitRequest,
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
        StripeRefundNotice,
    )

__all__ = ["PackageWorkflow", "Refused"]

ResultT = TypeVar("ResultT")

NOTICE_GRACE = timedelta(seconds=30)
LEDGER_REFUSED_ALERT = "ledger_refused"
LEDGER_PAUSE = timedelta(minutes=1)
PATCH_NOTICES_DURING_DRAIN = "notices-start-during-ledger-drain"
# The ledger write is a few milliseconds of SQL: as a local activity it runs inside the
# workflow task that accepted the update, saving a server round trip per entry.
PATCH_LEDGER_LOCAL = "ledger-write-as-local-activity"
PATCH_STEADY_ALARM = "one-steady-timer-per-deadline"
PATCH_RECORD_GIVE_UP = "record-messages-that-ran-out-of-retries"
# CRM and booking write-back, lifecycle webhooks, Checkout links in renewal offers and
# the Stripe refund saga: activities older runs never scheduled.
PATCH_INTEGRATIONS = "integrations-and-stripe"
# A ledger row PostgreSQL refuses (policies.INVALID_DATA) is recorded as a failure and
# alerted to staff instead of being retried every minute forever. Retire once no package
# run started before it is open (longest package life plus retention): then
# deprecate_patch, and remove a release later.
PATCH_LEDGER_REFUSED = "ledger-refusal-alerts-staff"
# A backdated sale skips the reminders already due when its workflow starts (they went
# out at once before, with a stale balance). Retire like PATCH_LEDGER_REFUSED: once no run
# started before it is open, deprecate_patch, then remove a release later.
PATCH_SKIP_DUE_REMINDERS = "backdated-sale-skips-reminders-already-due"
# Search attributes (client ids, status, type, remaining, good-through) upserted whenever
# they change, at most once per turn of the run loop. Runs started before it never index
# (the patch is decided at run start) until they continue as new. Retire once no run
# started before it is open (longest package life plus retention): then deprecate_patch,
# and remove a release later.
PATCH_SEARCH_ATTRIBUTES = "search-attributes-upserted"
# In-flight keys of integration work, apart from notice keys (an event id and a notice key
# may be the same string: both derive from the entry key).
SYNC_KEY = "integration:sync"  # the one write-back in flight at a time


def _event_key(event: LifecycleEvent) -> str:
    return f"integration:event:{event.event_id}"


def _refund_key(refund: RefundEffect) -> str:
    return f"integration:refund:{refund.key}"


@workflow.defn(name="PackageWorkflow")
class PackageWorkflow:
    @workflow.init
    def __init__(self, input: PackageInput) -> None:
        self._input = input
        fresh = input.carried is None and workflow.patched(PATCH_SKIP_DUE_REMINDERS)
        self._book = staff.open_book(input, started_at=workflow.now() if fresh else None)
        self._state = self._book.state
        self._handled_this_run = 0
        self._in_flight: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []  # kept referenced until done
        self._broken: Exception | None = None
        self._alarm_rang = False
        self._indexing = False

    # --- run loop ---------------------------------------------------------------------

    @workflow.run
    async def run(self, input: PackageInput) -> PackageOutcome:
        steady_alarm = workflow.patched(PATCH_STEADY_ALARM)
        self._indexing = workflow.patched(PATCH_SEARCH_ATTRIBUTES)
        if steady_alarm:
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
            if steady_alarm:
                await workflow.wait_condition(self._has_work)
                self._alarm_rang = False
            else:
                deadline = timers.next_deadline(self._book)
                timeout = None if deadline is None else max(deadline - workflow.now(), timedelta(0))
                try:
                    await workflow.wait_condition(
                        self._has_work,
                        timeout=timeout,
                        timeout_summary=(
                            None
                            if deadline is None
                            else timers.deadline_label(self._book, deadline)
                        ),
                    )
                except TimeoutError:
                    pass
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
        if not self._indexing:
            return
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
            or any(n.key not in self._in_flight for n in self._state.notice_outbox)
            or self._integration_work()
            or self._should_continue_as_new()
        )

    def _integration_work(self) -> bool:
        return (
            (
                self._state.sync_version > self._state.synced_version
                and SYNC_KEY not in self._in_flight
            )
            or any(_event_key(e) not in self._in_flight for e in self._state.event_outbox)
            or any(_refund_key(r) not in self._in_flight for r in self._state.refund_outbox)
        )

    async def _settled(self) -> bool:
        """A closed package finishes only once every handler, ledger row and notice is done."""
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
        """Carry state, undrained ledger rows and undelivered notices into a fresh run.

        Notices still in flight get a short grace; any left are re-sent by the next run,
        where the messaging activities' own dedupe (by message key) keeps them single.
        """
        await workflow.wait_condition(workflow.all_handlers_finished)
        try:
            await workflow.wait_condition(
                lambda: not self._in_flight,
                timeout=NOTICE_GRACE,
                timeout_summary="notices in flight: grace before continue-as-new",
            )
        except TimeoutError:
            pass
        workflow.continue_as_new(self._input.model_copy(update={"carried": self._state}))

    def _should_continue_as_new(self) -> bool:
        return (
            self._handled_this_run >= self._input.max_messages_per_run
            or workflow.info().is_continue_as_new_suggested()
        )

    # --- outbox -------------------------------------------------------------------------

    async def _drain_ledger(self) -> None:
        """Mirror entries into Postgres in order. Stops early for continue-as-new (the rest
        travels with the state) unless the package is closing. A failing ledger never fails
        the workflow: it is logged, and the same row is retried after a pause."""
        while self._state.ledger_outbox:
            if workflow.patched(PATCH_NOTICES_DURING_DRAIN):
                self._start_effects()  # a burst of updates must not hold confirmations back
            if self._should_continue_as_new() and self._state.status not in CLOSED_STATUSES:
                return
            effect = self._state.ledger_outbox[0]
            local = workflow.patched(PATCH_LEDGER_LOCAL)
            try:
                await _call(
                    contracts.RECORD_LEDGER_ENTRY,
                    contracts.LedgerEntryInput(
                        package_id=self._input.package_id,
                        client_id=self._input.client_id,
                        entry=effect.entry,
                        snapshot=effect.snapshot,
                    ),
                    contracts.LedgerEntryResult,
                    policies.LEDGER,
                    local=local,
                    summary=_ledger_summary(effect.entry),
                )
            except ApplicationError as err:
                # A local activity's non-retryable failure arrives unwrapped (no ActivityError).
                if err.type == policies.INVALID_DATA and workflow.patched(PATCH_LEDGER_REFUSED):
                    self._ledger_refused(effect, err)
                    self._state.ledger_outbox.pop(0)
                    continue
                raise
            except ActivityError as err:
                refusal = err.cause
                if (
                    isinstance(refusal, ApplicationError)
                    and refusal.type == policies.INVALID_DATA
                    and workflow.patched(PATCH_LEDGER_REFUSED)
                ):
                    self._ledger_refused(effect, refusal)
                    self._state.ledger_outbox.pop(0)
                    continue
                workflow.logger.error(
                    "ledger write for entry %s failed, retrying later: %s",
                    effect.entry.seq,
                    err.cause,
                )
                await workflow.sleep(LEDGER_PAUSE, summary="ledger: pause before retrying")
                continue
            self._state.ledger_outbox.pop(0)

    def _ledger_refused(self, effect: LedgerEffect, refusal: ApplicationError) -> None:
        """The row can never be written as it stands: say so, loudly, once, and move on so
        the package (and its worker) keep working. The entry stays in the package's own
        history (the `history` query) for staff to record by hand."""
        entry = effect.entry
        why = refusal.message
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

    def _start_effects(self) -> None:
        """Notices and integrations go out in the background so a slow provider never holds
        the ledger; each runs once at a time under its key."""
        for notice in self._state.notice_outbox:
            if notice.key not in self._in_flight:
                self._in_flight.add(notice.key)
                self._tasks.append(asyncio.create_task(self._deliver(notice)))
        if not self._integration_work():
            return
        if not workflow.patched(PATCH_INTEGRATIONS):
            # A run from before integrations existed: it never owed them.
            self._state.event_outbox.clear()
            self._state.refund_outbox.clear()
            self._state.synced_version = self._state.sync_version
            return
        if (
            self._state.sync_version > self._state.synced_version
            and SYNC_KEY not in self._in_flight
        ):
            self._background(SYNC_KEY, self._sync())
        for event in self._state.event_outbox:
            if _event_key(event) not in self._in_flight:
                self._background(_event_key(event), self._publish(event))
        for refund in self._state.refund_outbox:
            if _refund_key(refund) not in self._in_flight:
                self._background(_refund_key(refund), self._refund(refund))

    def _background(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        self._in_flight.add(key)

        async def run() -> None:
            try:
                await work
            except Exception as err:  # not a provider failure (those are handled): a bug
                self._broken = err
            finally:
                self._in_flight.discard(key)
                self._tasks = [t for t in self._tasks if not t.done()]

        self._tasks.append(asyncio.create_task(run()))

    async def _sync(self) -> None:
        """Write the latest state to the CRM and booking platforms; changes made meanwhile
        are picked up by the next round (latest wins)."""
        version = self._state.sync_version
        snap = self._book.snapshot(workflow.now())
        sync = contracts.PackageSync(
            version=version,
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
        results = await asyncio.gather(
            _call(
                contracts.SYNC_CRM,
                sync,
                contracts.SyncResult,
                policies.WRITE_BACK,
                summary=f"CRM: sync v{version} ({sync.status}, {sync.remaining} left)",
            ),
            _call(
                contracts.WRITE_BACK_BOOKING,
                sync,
                contracts.SyncResult,
                policies.WRITE_BACK,
                summary=f"booking: write back v{version} ({sync.remaining} left)",
            ),
            return_exceptions=True,
        )
        for name, result in zip(
            (contracts.SYNC_CRM, contracts.WRITE_BACK_BOOKING), results, strict=True
        ):
            if isinstance(result, ActivityError):
                workflow.logger.warning("%s v%s gave up: %s", name, version, result.cause)
            elif isinstance(result, BaseException):
                raise result
        self._state.synced_version = max(self._state.synced_version, version)

    async def _publish(self, event: LifecycleEvent) -> None:
        try:
            await _call(
                contracts.PUBLISH_EVENT,
                event,
                contracts.PublishResult,
                policies.EVENTS,
                summary=f"webhook: {event.type}",
            )
        except ActivityError as err:
            # Each subscriber's attempts are in event_deliveries; the event is not lost there.
            workflow.logger.warning("event %s gave up: %s", event.event_id, err.cause)
        self._state.event_outbox = [
            e for e in self._state.event_outbox if e.event_id != event.event_id
        ]

    async def _refund(self, effect: RefundEffect) -> None:
        """The refund step of a cancel: issued once (same Idempotency-Key on every attempt),
        then recorded; a refusal compensates the cancellation."""
        assert self._input.payment is not None  # the cancel validator saw to it
        try:
            result = await _call(
                contracts.ISSUE_REFUND,
                contracts.RefundInput(
                    refund_key=effect.key,
                    package_id=self._input.package_id,
                    client_id=self._input.client_id,
                    payment_intent_id=self._input.payment.payment_intent_id,
                    amount_cents=effect.amount_cents,
                    reason=effect.reason,
                ),
                contracts.RefundResult,
                policies.REFUND,
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

    async def _deliver(self, notice: Notice) -> None:
        """Send one notice; it leaves the outbox only once its activities are settled."""
        try:
            await self._send(notice)
        except Exception as err:
            # Not a provider failure (those are ActivityErrors, settled in _send): a bug.
            # Keep the notice and fail the workflow task from the run loop so it is seen.
            self._broken = err
            return
        finally:
            self._in_flight.discard(notice.key)
            self._tasks = [t for t in self._tasks if not t.done()]
        self._state.notice_outbox = [n for n in self._state.notice_outbox if n.key != notice.key]

    async def _renewal_link(self, notice: ClientNoticeEffect) -> str:
        """A Stripe Checkout link for renewing this package (the spa's renewal page when
        Stripe is not configured or cannot be reached)."""
        if not workflow.patched(PATCH_INTEGRATIONS):
            return self._book.renewal_url()
        try:
            result = await _call(
                contracts.CREATE_RENEWAL_CHECKOUT,
                contracts.RenewalCheckoutInput(
                    offer_key=notice.key,
                    package_id=self._input.package_id,
                    client_id=self._input.client_id,
                    type_code=self._book.renewal_type_code(),
                    name=self._book.terms.name,
                    price_cents=self._book.terms.price_cents,
                ),
                contracts.RenewalCheckoutResult,
                policies.CHECKOUT,
                summary=f"Stripe: renewal checkout for {_notice_label(notice)}",
            )
        except ActivityError as err:
            workflow.logger.warning("renewal checkout for %s failed: %s", notice.key, err.cause)
            return self._book.renewal_url()
        if result.url != self._state.renewal_link:
            self._state.renewal_link = result.url
            self._state.sync_version += 1  # the CRM shows the latest renewal link
        return result.url

    async def _send(self, notice: Notice) -> None:
        calls: list[tuple[str, object]]
        if isinstance(notice, ClientNoticeEffect):
            body = notice.body
            if notice.renewal_offer:
                body = body.replace(RENEWAL_LINK, await self._renewal_link(notice))
            message = contracts.ClientMessageInput(
                message_key=notice.key,
                client_id=self._input.client_id,
                package_id=self._input.package_id,
                kind=notice.kind,
                subject=notice.subject,
                body=body,
            )
            calls = [(contracts.SEND_CLIENT_SMS, message), (contracts.SEND_CLIENT_EMAIL, message)]
        else:
            alert = contracts.StaffAlertInput(
                alert_key=notice.key,
                package_id=self._input.package_id,
                client_id=self._input.client_id,
                kind=notice.kind,
                message=notice.message,
            )
            await _call(
                contracts.RECORD_STAFF_ALERT,
                alert,
                contracts.StaffAlertResult,
                policies.STAFF_ALERT,
                summary=f"staff alert: {_notice_label(notice)}",
            )
            calls = [(contracts.SEND_STAFF_EMAIL, alert)]
        results = await asyncio.gather(
            *(
                _call(
                    name,
                    arg,
                    contracts.DeliveryResult,
                    policies.MESSAGING,
                    summary=f"{_CHANNELS[name]}: {_notice_label(notice)}",
                )
                for name, arg in calls
            ),
            return_exceptions=True,
        )
        for (name, _), result in zip(calls, results, strict=True):
            if isinstance(result, ActivityError):
                workflow.logger.warning("%s for %s gave up: %s", name, notice.key, result.cause)
                # A rejection was recorded by the activity itself; running out of retries
                # (a timeout) was not, so the workflow closes the row.
                if isinstance(result.cause, RetriesRanOut) and workflow.patched(
                    PATCH_RECORD_GIVE_UP
                ):
                    await _call(
                        contracts.RECORD_UNDELIVERED,
                        contracts.UndeliveredInput(
                            message_key=notice.key,
                            channel="sms" if name == contracts.SEND_CLIENT_SMS else "email",
                            reason=f"gave up: {result.cause}",
                        ),
                        type(None),
                        policies.LEDGER,
                        summary=f"{_CHANNELS[name]}: record gave up on {_notice_label(notice)}",
                    )
            elif isinstance(result, BaseException):
                raise result

    # --- updates ------------------------------------------------------------------------

    def _known(self, msg: PackageMessage) -> PackageAnswer | None:
        """Count the message; a known key gets its first answer and changes nothing."""
        self._handled_this_run += 1
        return self._book.known_answer(msg.key)

    @workflow.update(name="redeem")
    def redeem(self, msg: RedeemRequest) -> PackageAnswer:
        return self._known(msg) or visits.redeem(self._book, msg, workflow.now())

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

    @workflow.update(name="forfeit")
    def forfeit(self, msg: ForfeitRequest) -> PackageAnswer:
        return self._known(msg) or staff.forfeit(self._book, msg, workflow.now())

    @forfeit.validator
    def _check_forfeit(self, msg: ForfeitRequest) -> None:
        staff.check_forfeit(self._book, msg)

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
        )

    @workflow.query(name="answer")
    def answer(self, key: str) -> PackageAnswer | None:
        """The first answer given to `key`: duplicates still get it after the package closed."""
        return self._book.known_answer(key)

    @workflow.query(name="history")
    def history(self) -> list[Entry]:
        return list(self._state.entries)


async def _call(
    name: str,
    arg: object,
    result_type: type[ResultT],
    options: policies.ActivityOptions,
    *,
    local: bool = False,
    summary: str,
) -> ResultT:
    """Every activity call names its timeouts and retry policy (from `policies`). A local
    activity runs in the worker that runs the workflow task: for short work only.

    `summary` is the line the Temporal UI's timeline shows for the call (user metadata, not
    part of the command's identity: adding or rewording it replays alike). No PII in it."""
    execute = workflow.execute_local_activity if local else workflow.execute_activity
    result = await execute(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=options.start_to_close,
        schedule_to_close_timeout=options.schedule_to_close,
        retry_policy=options.retry,
        summary=summary,
    )
    return cast(ResultT, result)


_CHANNELS = {
    contracts.SEND_CLIENT_SMS: "SMS",
    contracts.SEND_CLIENT_EMAIL: "email",
    contracts.SEND_STAFF_EMAIL: "staff email",
}


def _ledger_summary(entry: Entry) -> str:
    """ "ledger: redemption appt a1", "ledger: reminder 30d", "ledger: sale"."""
    what = entry.kind.value.replace("_", " ")
    if entry.appointment_id:
        return f"ledger: {what} appt {entry.appointment_id}"
    if entry.kind is EntryKind.REMINDER:
        return f"ledger: {entry.outcome}"
    return f"ledger: {what}"


def _notice_label(notice: Notice) -> str:
    """ "30-day reminder", "balance low", …: from the notice's kind and key (never its text)."""
    if notice.kind == "reminder" and notice.key.startswith("reminder:"):
        label = notice.key.removeprefix("reminder:").split("@")[0]
        return f"{label.removesuffix('d')}-day reminder" if label.endswith("d") else label
    return notice.kind.replace("_", " ")
