"""The package entity workflow: one per purchased package, alive until expiry or cancel.

Update handlers are synchronous: they validate, change state and queue effects (ledger
rows, client notices, staff alerts) in an outbox that the run loop drains through
activities. An accepted update is therefore durable the moment it is answered, and the
ledger follows in order within milliseconds. Idempotency keys and their first answers
live in state and travel across continue-as-new.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TypeVar, cast

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.contracts as contracts
    import workflows.policies as policies
    import workflows.schedule as schedule
    import workflows.texts as texts
    from workflows.models import (
        CLOSED_STATUSES,
        AddUnitsRequest,
        AppointmentNotice,
        AppointmentRecord,
        AppointmentStatus,
        AttendanceRequest,
        CancelRequest,
        ClientNoticeEffect,
        Entry,
        EntryKind,
        ExtendRequest,
        ForfeitRequest,
        LedgerEffect,
        Notice,
        PackageAnswer,
        PackageInput,
        PackageKind,
        PackageMessage,
        PackageOutcome,
        PackageSnapshot,
        PackageState,
        PackageStatus,
        PackageView,
        RedeemRequest,
        ReverseRequest,
        StaffAlertEffect,
    )

ResultT = TypeVar("ResultT")

MAX_KEPT_ENTRIES = 1000  # older entries live in the Postgres ledger
NOTICE_GRACE = timedelta(seconds=30)
PATCH_NOTICES_DURING_DRAIN = "notices-start-during-ledger-drain"
# The ledger write is a few milliseconds of SQL: as a local activity it runs inside the
# workflow task that accepted the update, saving a server round trip per entry.
PATCH_LEDGER_LOCAL = "ledger-write-as-local-activity"
LEDGER_PAUSE = timedelta(minutes=1)


class Refused(ApplicationError):
    """A message the package will not accept; `type` names the rule for callers."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message, type=rule, non_retryable=True)


@workflow.defn(name="PackageWorkflow")
class PackageWorkflow:
    @workflow.init
    def __init__(self, input: PackageInput) -> None:
        self._input = input
        self._terms = input.terms
        self._handled_this_run = 0
        self._in_flight: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []  # kept referenced until done
        self._forfeited = 0
        self._breakage = 0
        if input.carried is not None:
            self._state = input.carried
            return
        self._state = PackageState(
            remaining=input.terms.units,
            purchased_units=input.terms.units,
            paid_cents=input.terms.price_cents,
            expires_at=input.expires_at,
        )
        self._skip_reminders_past(input.purchased_at)
        self._append(
            key="sale",
            kind=EntryKind.SALE,
            delta=input.terms.units,
            value=input.terms.price_cents,
            actor=input.sold_by,
            outcome=f"sold {texts.amount(input.terms.kind, input.terms.units)}",
            at=input.purchased_at,
        )
        self._check_pace(input.purchased_at)

    # --- run loop ---------------------------------------------------------------------

    @workflow.run
    async def run(self, input: PackageInput) -> PackageOutcome:
        while True:
            self._start_notices()
            await self._drain_ledger()
            if self._state.status in CLOSED_STATUSES:
                if await self._settled():
                    return self._outcome()
                continue
            if self._should_continue_as_new():
                await self._continue_as_new()
            deadline = self._next_deadline()
            timeout = None if deadline is None else max(deadline - workflow.now(), timedelta(0))
            try:
                await workflow.wait_condition(self._has_work, timeout=timeout)
            except TimeoutError:
                pass
            self._fire_due(workflow.now())

    def _has_work(self) -> bool:
        return (
            bool(self._state.ledger_outbox)
            or any(n.key not in self._in_flight for n in self._pending_notices())
            or self._should_continue_as_new()
        )

    async def _settled(self) -> bool:
        """A closed package finishes only once every handler, ledger row and notice is done."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._start_notices()
        await self._drain_ledger()
        await workflow.wait_condition(lambda: not self._in_flight)
        return not self._state.ledger_outbox and not self._state.notice_outbox

    async def _continue_as_new(self) -> None:
        """Carry state, undrained ledger rows and undelivered notices into a fresh run.

        Notices still in flight get a short grace; any left are re-sent by the next run,
        where the messaging activities' own dedupe (by message key) keeps them single.
        """
        await workflow.wait_condition(workflow.all_handlers_finished)
        try:
            await workflow.wait_condition(lambda: not self._in_flight, timeout=NOTICE_GRACE)
        except TimeoutError:
            pass
        workflow.continue_as_new(self._input.model_copy(update={"carried": self._state}))

    def _should_continue_as_new(self) -> bool:
        return (
            self._handled_this_run >= self._input.max_messages_per_run
            or workflow.info().is_continue_as_new_suggested()
        )

    def _outcome(self) -> PackageOutcome:
        return PackageOutcome(
            package_id=self._input.package_id,
            status=self._state.status,
            remaining=self._state.remaining,
            forfeited_units=self._forfeited,
            breakage_cents=self._breakage,
            refund_due_cents=self._state.refund_due_cents,
        )

    # --- outbox -------------------------------------------------------------------------

    async def _drain_ledger(self) -> None:
        """Mirror entries into Postgres in order. Stops early for continue-as-new (the rest
        travels with the state) unless the package is closing. A failing ledger never fails
        the workflow: it is logged, and the same row is retried after a pause."""
        while self._state.ledger_outbox:
            if workflow.patched(PATCH_NOTICES_DURING_DRAIN):
                self._start_notices()  # a burst of updates must not hold confirmations back
            if self._should_continue_as_new() and self._state.status not in CLOSED_STATUSES:
                return
            effect = self._state.ledger_outbox[0]
            try:
                record = _call_local if workflow.patched(PATCH_LEDGER_LOCAL) else _call
                await record(
                    contracts.RECORD_LEDGER_ENTRY,
                    contracts.LedgerEntryInput(
                        package_id=self._input.package_id,
                        client_id=self._input.client_id,
                        entry=effect.entry,
                        snapshot=effect.snapshot,
                    ),
                    contracts.LedgerEntryResult,
                    policies.LEDGER,
                )
            except ActivityError as err:
                workflow.logger.error(
                    "ledger write for entry %s failed, retrying later: %s",
                    effect.entry.seq,
                    err.cause,
                )
                await workflow.sleep(LEDGER_PAUSE)
                continue
            self._state.ledger_outbox.pop(0)

    def _pending_notices(self) -> list[Notice]:
        return self._state.notice_outbox

    def _start_notices(self) -> None:
        """Notices go out in the background so a slow SMS provider never holds the ledger."""
        for notice in self._state.notice_outbox:
            if notice.key not in self._in_flight:
                self._in_flight.add(notice.key)
                self._tasks.append(asyncio.create_task(self._deliver(notice)))

    async def _deliver(self, notice: Notice) -> None:
        try:
            await self._send(notice)
        finally:
            self._in_flight.discard(notice.key)
            self._state.notice_outbox = [
                n for n in self._state.notice_outbox if n.key != notice.key
            ]

    async def _send(self, notice: Notice) -> None:
        calls: list[tuple[str, object]]
        if isinstance(notice, ClientNoticeEffect):
            message = contracts.ClientMessageInput(
                message_key=notice.key,
                client_id=self._input.client_id,
                package_id=self._input.package_id,
                kind=notice.kind,
                subject=notice.subject,
                body=notice.body,
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
            )
            calls = [(contracts.SEND_STAFF_EMAIL, alert)]
        results = await asyncio.gather(
            *(
                _call(name, arg, contracts.DeliveryResult, policies.MESSAGING)
                for name, arg in calls
            ),
            return_exceptions=True,
        )
        for (name, _), result in zip(calls, results, strict=True):
            if isinstance(result, ActivityError):
                # The activity recorded the failure in Postgres before giving up.
                workflow.logger.warning("%s for %s gave up: %s", name, notice.key, result.cause)
            elif isinstance(result, BaseException):
                raise result

    # --- timers -----------------------------------------------------------------------

    def _reminder_plan(self) -> list[tuple[str, datetime, bool]]:
        expires_at = self._state.expires_at
        if expires_at is None:
            return []
        notices = self._input.notices
        return [
            (
                schedule.reminder_key(spec, expires_at),
                schedule.reminder_instant(expires_at, spec, notices.timezone, notices.local_hour),
                spec.renewal_link,
            )
            for spec in notices.reminders
        ]

    def _skip_reminders_past(self, at: datetime) -> None:
        for key, due, _ in self._reminder_plan():
            if due <= at and key not in self._state.reminders:
                self._state.reminders[key] = "skipped"

    def _pace_due(self) -> datetime | None:
        """When the remaining sessions stop fitting before expiry, or None if pace does not apply."""
        interval = self._terms.min_interval_days
        if (
            interval is None
            or self._terms.kind is not PackageKind.SESSIONS
            or self._state.expires_at is None
            or self._state.remaining <= 0
            or not self._input.notices.pace_warning
        ):
            return None
        return schedule.pace_deadline(self._state.expires_at, self._state.remaining, interval)

    def _pace_at_risk(self) -> bool:
        due = self._pace_due()
        return due is not None and workflow.now() >= due

    def _next_deadline(self) -> datetime | None:
        if self._state.status is not PackageStatus.ACTIVE:
            return None
        candidates = [
            due for key, due, _ in self._reminder_plan() if key not in self._state.reminders
        ]
        if self._state.expires_at is not None:
            candidates.append(self._state.expires_at)
        pace = self._pace_due()
        if pace is not None and not self._state.pace_alerted:
            candidates.append(pace)
        return min(candidates, default=None)

    def _fire_due(self, now: datetime) -> None:
        if self._state.status is not PackageStatus.ACTIVE:
            return
        self._check_pace(now)
        for key, due, renewal_link in self._reminder_plan():
            if due <= now and key not in self._state.reminders:
                self._send_reminder(key, renewal_link, now)
        if self._state.expires_at is not None and now >= self._state.expires_at:
            self._expire(now)

    def _send_reminder(self, key: str, renewal_link: bool, now: datetime) -> None:
        if self._state.remaining <= 0:
            self._state.reminders[key] = "skipped"
            return
        self._state.reminders[key] = "sent"
        left = texts.amount(self._terms.kind, self._state.remaining)
        body = (
            f"{self._input.notices.spa_name}: you have {left} left on your {self._terms.name}, "
            f"good through {self._expiry_text()}."
        )
        if renewal_link:
            body += f" Renew: {self._renewal_url()}"
        self._append(
            key=f"reminder:{key}",
            kind=EntryKind.REMINDER,
            actor="system",
            outcome=f"reminder {key.split('@')[0]} sent",
            at=now,
        )
        self._notify_client(f"reminder:{key}", "reminder", "Your package expires soon", body)

    def _expire(self, now: datetime) -> None:
        remaining = self._state.remaining
        if 0 < remaining <= self._terms.vip_rollover_max:
            self._state.status = PackageStatus.IN_REVIEW
            self._append(
                key=f"expiry-review@{self._expires_iso()}",
                kind=EntryKind.EXPIRY_REVIEW,
                actor="system",
                outcome="expired under VIP rollover policy: awaiting staff review",
                value=self._value_of(remaining),
                at=now,
            )
            self._alert_staff(
                f"expiry-review@{self._expires_iso()}",
                "expiry_review",
                f"{self._terms.name} for client {self._input.client_id} reached expiry with "
                f"{texts.amount(self._terms.kind, remaining)} left (VIP rollover): extend or forfeit.",
            )
            return
        self._forfeit(key=f"expiry@{self._expires_iso()}", actor="system", reason=None, at=now)
        if remaining > 0:
            self._notify_client(
                f"expired@{self._expires_iso()}",
                "expired",
                "Your package has expired",
                f"{self._input.notices.spa_name}: your {self._terms.name} expired with "
                f"{texts.amount(self._terms.kind, remaining)} unused.",
            )

    def _forfeit(self, *, key: str, actor: str, reason: str | None, at: datetime) -> None:
        remaining = max(self._state.remaining, 0)
        value = self._value_of(remaining)
        self._forfeited, self._breakage = remaining, value
        self._state.remaining -= remaining
        self._state.status = PackageStatus.EXPIRED
        self._append(
            key=key,
            kind=EntryKind.EXPIRY,
            delta=-remaining,
            value=value,
            actor=actor,
            reason=reason,
            outcome=(
                f"expired: {texts.amount(self._terms.kind, remaining)} forfeited, "
                f"breakage {texts.money(value)}"
                if remaining
                else "expired with nothing unused"
            ),
            at=at,
        )

    # --- updates: consumption ----------------------------------------------------------

    @workflow.update(name="redeem")
    def redeem(self, msg: RedeemRequest) -> PackageAnswer:
        if (answer := self._replay(msg)) is not None:
            return answer
        root = self._root(msg.appointment_id, msg.rebooked_from)
        known = self._state.appointments.get(root)
        if known is not None and known.status is AppointmentStatus.COMPLETED:
            # A second delivery of the same visit under another key: same answer, no change.
            return self._answer_as(msg.key, self._state.answers[known.answer_key or ""])
        units = self._units_for(msg)
        now = workflow.now()
        self._link(msg.appointment_id, root)
        self._state.remaining -= units
        self._state.appointments[root] = AppointmentRecord(
            appointment_id=root,
            status=AppointmentStatus.COMPLETED,
            scheduled_at=known.scheduled_at if known else None,
            service_date=msg.service_date or now.date(),
            consumed=units,
            answer_key=msg.key,
        )
        used = self._state.purchased_units - self._state.remaining
        message = texts.redemption_confirmation(
            kind=self._terms.kind,
            name=self._terms.name,
            used=used,
            purchased=self._state.purchased_units,
            remaining=self._state.remaining,
            spent=units,
        )
        entry = self._append(
            key=msg.key,
            kind=EntryKind.REDEMPTION,
            delta=-units,
            value=self._value_of(units),
            appointment_id=root,
            provider_id=msg.provider_id,
            actor=msg.actor,
            source=msg.source,
            outcome="redeemed" if self._state.remaining >= 0 else "redeemed over balance",
            at=now,
        )
        self._notify_client(f"confirm:{msg.key}", "confirmation", "Visit complete", message)
        self._after_balance_change(remaining_before=self._state.remaining + units, key=msg.key)
        return self._answer(msg, "redeemed", message, entry)

    @redeem.validator
    def _validate_redeem(self, msg: RedeemRequest) -> None:
        if msg.key in self._state.answers:
            return
        root = self._root(msg.appointment_id, msg.rebooked_from)
        known = self._state.appointments.get(root)
        if known is not None and known.status is AppointmentStatus.COMPLETED:
            return
        self._require_open("redeem")
        if not msg.allow_same_day and msg.service_date is not None:
            for other in self._state.appointments.values():
                if (
                    other.status is AppointmentStatus.COMPLETED
                    and other.service_date == msg.service_date
                ):
                    raise Refused(
                        "SameDayRedemption",
                        f"appointment {other.appointment_id} already redeemed a session of "
                        f"{self._terms.name} on {msg.service_date}; if {msg.appointment_id} is "
                        "a second visit that day, resend with allow_same_day",
                    )
        self._units_for(msg)

    def _units_for(self, msg: RedeemRequest) -> int:
        """Units a redemption takes, or a refusal naming the rule it breaks."""
        if self._terms.kind is PackageKind.DOLLARS:
            if msg.amount_cents is None:
                raise Refused(
                    "AmountRequired", f"{self._terms.name} is a dollar package: give amount_cents"
                )
            if msg.amount_cents > self._state.remaining and self._terms.enforce_zero_balance:
                raise Refused(
                    "AmountAboveBalance",
                    f"amount {texts.money(msg.amount_cents)} is above the balance "
                    f"{texts.money(self._state.remaining)} of {self._terms.name}; collect the difference",
                )
            return msg.amount_cents
        if msg.amount_cents is not None:
            raise Refused("AmountNotAllowed", f"{self._terms.name} counts sessions, not dollars")
        if self._state.remaining <= 0 and self._terms.enforce_zero_balance:
            raise Refused(
                "ZeroBalance",
                f"zero balance: no sessions left on {self._terms.name}; collect payment before treatment",
            )
        return 1

    @workflow.update(name="record_attendance")
    def record_attendance(self, msg: AttendanceRequest) -> PackageAnswer:
        if (answer := self._replay(msg)) is not None:
            return answer
        root = self._root(msg.appointment_id, None)
        policy_forfeits = (
            self._terms.no_show_forfeits
            if msg.outcome == "no_show"
            else self._terms.late_cancel_forfeits
        )
        consumes = int(
            policy_forfeits
            and self._terms.kind is PackageKind.SESSIONS
            and self._state.remaining > 0
        )
        label = "no-show" if msg.outcome == "no_show" else "late cancel"
        outcome = (
            f"{label}: session forfeited under package policy"
            if consumes
            else f"{label}: recorded, not consumed"
        )
        self._state.remaining -= consumes
        self._state.appointments[root] = AppointmentRecord(
            appointment_id=root,
            status=AppointmentStatus(msg.outcome),
            consumed=consumes,
            answer_key=msg.key,
        )
        entry = self._append(
            key=msg.key,
            kind=EntryKind(msg.outcome),
            delta=-consumes,
            value=self._value_of(consumes),
            appointment_id=root,
            provider_id=msg.provider_id,
            actor=msg.actor,
            source=msg.source,
            outcome=outcome,
            at=workflow.now(),
        )
        if consumes:
            self._after_balance_change(remaining_before=self._state.remaining + 1, key=msg.key)
        return self._answer(msg, outcome, _sentence(outcome), entry)

    @record_attendance.validator
    def _validate_attendance(self, msg: AttendanceRequest) -> None:
        if msg.key in self._state.answers:
            return
        self._require_open("record a no-show or late cancel on")
        known = self._state.appointments.get(self._root(msg.appointment_id, None))
        if known is not None and known.status is AppointmentStatus.COMPLETED:
            raise Refused(
                "AlreadyCompleted",
                f"appointment {msg.appointment_id} was completed; reverse it first",
            )

    @workflow.update(name="reverse")
    def reverse(self, msg: ReverseRequest) -> PackageAnswer:
        if (answer := self._replay(msg)) is not None:
            return answer
        root = self._root(msg.appointment_id, None)
        record = self._state.appointments[root]
        self._state.remaining += record.consumed
        self._state.appointments[root] = record.model_copy(
            update={"status": AppointmentStatus.REVERSED, "consumed": 0, "answer_key": msg.key}
        )
        self._check_pace(workflow.now())
        back = texts.amount(self._terms.kind, record.consumed)
        entry = self._append(
            key=msg.key,
            kind=EntryKind.REVERSAL,
            delta=record.consumed,
            value=self._value_of(record.consumed),
            appointment_id=root,
            actor=msg.actor,
            source=msg.source,
            reason=msg.reason,
            outcome=f"reversed: {back} returned",
            at=workflow.now(),
        )
        message = (
            f"Correction: {back} returned to your {self._terms.name} — "
            f"{texts.amount(self._terms.kind, self._state.remaining)} remaining."
        )
        self._notify_client(f"reversal:{msg.key}", "reversal", "Package corrected", message)
        return self._answer(msg, "reversed", message, entry)

    @reverse.validator
    def _validate_reverse(self, msg: ReverseRequest) -> None:
        if msg.key in self._state.answers:
            return
        if self._state.status in CLOSED_STATUSES:
            raise Refused(
                "PackageClosed",
                f"{self._terms.name} is {self._state.status.value}: nothing to reverse",
            )
        record = self._state.appointments.get(self._root(msg.appointment_id, None))
        if record is None or record.consumed == 0:
            raise Refused(
                "UnknownAppointment",
                f"appointment {msg.appointment_id} has no redemption on this package to reverse",
            )

    # --- updates: bookings -------------------------------------------------------------

    @workflow.update(name="note_appointment")
    def note_appointment(self, msg: AppointmentNotice) -> PackageAnswer:
        """Booked, rescheduled, confirmed, checked in, cancelled: recorded, never consumed."""
        if (answer := self._replay(msg)) is not None:
            return answer
        root = self._root(msg.appointment_id, msg.rebooked_from)
        self._link(msg.appointment_id, root)
        known = self._state.appointments.get(root)
        if known is None or known.status is AppointmentStatus.BOOKED:
            status = (
                AppointmentStatus.CANCELLED
                if msg.change == "cancelled"
                else AppointmentStatus.BOOKED
            )
            self._state.appointments[root] = AppointmentRecord(
                appointment_id=root,
                status=status,
                scheduled_at=msg.scheduled_at or (known.scheduled_at if known else None),
            )
        outcome = f"{msg.change.replace('_', ' ')}: no session consumed"
        if self._state.remaining <= 0 and msg.change in ("booked", "rescheduled"):
            outcome = f"{msg.change}: zero balance, staff alerted to collect payment"
            self._alert_staff(
                f"zero-booking:{msg.key}",
                "booking_at_zero",
                f"Appointment {msg.appointment_id} was booked against {self._terms.name} for client "
                f"{self._input.client_id}, which has a zero balance: collect payment before the visit.",
            )
        entry = self._append(
            key=msg.key,
            kind=EntryKind.BOOKING,
            appointment_id=root,
            provider_id=msg.provider_id,
            actor=msg.actor,
            source=msg.source,
            outcome=outcome,
            at=workflow.now(),
        )
        return self._answer(msg, outcome, _sentence(outcome), entry)

    @note_appointment.validator
    def _validate_note(self, msg: AppointmentNotice) -> None:
        if msg.key in self._state.answers:
            return
        self._require_open("book against")
        if (
            msg.change == "checked_in"
            and self._state.remaining <= 0
            and self._terms.enforce_zero_balance
        ):
            raise Refused(
                "ZeroBalance",
                f"zero balance on {self._terms.name}: collect payment before checking in "
                f"appointment {msg.appointment_id}",
            )

    # --- updates: staff -----------------------------------------------------------------

    @workflow.update(name="add_units")
    def add_units(self, msg: AddUnitsRequest) -> PackageAnswer:
        if (answer := self._replay(msg)) is not None:
            return answer
        before = self._state.remaining
        self._state.remaining += msg.units
        self._state.purchased_units += msg.units
        self._state.paid_cents += msg.paid_cents
        added = texts.amount(self._terms.kind, msg.units)
        entry = self._append(
            key=msg.key,
            kind=EntryKind.TOP_UP,
            delta=msg.units,
            value=msg.paid_cents,
            actor=msg.actor,
            source=msg.source,
            reason=msg.reason,
            outcome=f"added {added} (was {texts.amount(self._terms.kind, before)})",
            at=workflow.now(),
        )
        message = (
            f"{added} added to your {self._terms.name} — "
            f"{texts.amount(self._terms.kind, self._state.remaining)} remaining."
        )
        self._notify_client(f"topup:{msg.key}", "top_up", "Package updated", message)
        self._check_pace(workflow.now())
        return self._answer(msg, "added", message, entry)

    @add_units.validator
    def _validate_add_units(self, msg: AddUnitsRequest) -> None:
        if msg.key not in self._state.answers:
            self._require_open("add to")

    @workflow.update(name="extend")
    def extend(self, msg: ExtendRequest) -> PackageAnswer:
        if (answer := self._replay(msg)) is not None:
            return answer
        now = workflow.now()
        old = self._expiry_text()
        self._state.expires_at = msg.new_expires_at
        self._state.status = PackageStatus.ACTIVE
        self._skip_reminders_past(now)
        outcome = f"expiry extended from {old} to {self._expiry_text()}"
        entry = self._append(
            key=msg.key,
            kind=EntryKind.EXTENSION,
            actor=msg.actor,
            source=msg.source,
            reason=msg.reason,
            outcome=outcome,
            at=now,
        )
        self._check_pace(now)
        return self._answer(msg, "extended", _sentence(outcome), entry)

    @extend.validator
    def _validate_extend(self, msg: ExtendRequest) -> None:
        if msg.key in self._state.answers:
            return
        if self._state.status in CLOSED_STATUSES:
            raise Refused(
                "PackageClosed",
                f"{self._terms.name} is {self._state.status.value}: it cannot be extended",
            )
        if msg.new_expires_at.tzinfo is None:
            raise Refused("BadExpiry", "new_expires_at needs a time zone")
        if msg.new_expires_at <= workflow.now():
            raise Refused(
                "BadExpiry", f"new expiry {msg.new_expires_at.isoformat()} is not in the future"
            )
        if self._state.expires_at is not None and msg.new_expires_at <= self._state.expires_at:
            raise Refused(
                "BadExpiry",
                f"new expiry must be later than the current one ({self._expiry_text()})",
            )

    @workflow.update(name="forfeit")
    def forfeit(self, msg: ForfeitRequest) -> PackageAnswer:
        """Staff close a package in expiry review: what remains is forfeited as breakage."""
        if (answer := self._replay(msg)) is not None:
            return answer
        remaining = self._state.remaining
        self._forfeit(key=msg.key, actor=msg.actor, reason=msg.reason, at=workflow.now())
        message = f"Forfeited {texts.amount(self._terms.kind, remaining)} after review"
        return self._answer(msg, "forfeited", message, self._state.entries[-1])

    @forfeit.validator
    def _validate_forfeit(self, msg: ForfeitRequest) -> None:
        if msg.key not in self._state.answers and self._state.status is not PackageStatus.IN_REVIEW:
            raise Refused(
                "NotInReview",
                f"{self._terms.name} is {self._state.status.value}, not awaiting expiry review",
            )

    @workflow.update(name="cancel")
    def cancel(self, msg: CancelRequest) -> PackageAnswer:
        if (answer := self._replay(msg)) is not None:
            return answer
        remaining = max(self._state.remaining, 0)
        refund = self._value_of(remaining)
        self._state.remaining -= remaining
        self._state.status = PackageStatus.CANCELLED
        self._state.refund_due_cents = refund
        outcome = (
            f"cancelled: {texts.amount(self._terms.kind, remaining)} unused, "
            f"refund due {texts.money(refund)}"
        )
        entry = self._append(
            key=msg.key,
            kind=EntryKind.CANCELLATION,
            delta=-remaining,
            value=refund,
            actor=msg.actor,
            source=msg.source,
            reason=msg.reason,
            outcome=outcome,
            at=workflow.now(),
        )
        return self._answer(msg, "cancelled", _sentence(outcome), entry)

    @cancel.validator
    def _validate_cancel(self, msg: CancelRequest) -> None:
        if msg.key in self._state.answers:
            return
        if self._state.status in CLOSED_STATUSES:
            raise Refused(
                "PackageClosed", f"{self._terms.name} is already {self._state.status.value}"
            )

    # --- queries ------------------------------------------------------------------------

    @workflow.query(name="state")
    def state(self) -> PackageView:
        return PackageView(
            snapshot=self._snapshot(),
            appointments=list(self._state.appointments.values()),
            reminders=dict(self._state.reminders),
            pending_effects=len(self._state.ledger_outbox) + len(self._state.notice_outbox),
            messages_this_run=self._handled_this_run,
        )

    @workflow.query(name="history")
    def history(self) -> list[Entry]:
        return list(self._state.entries)

    # --- helpers ------------------------------------------------------------------------

    def _replay(self, msg: PackageMessage) -> PackageAnswer | None:
        """Count the message; a known key gets its first answer and changes nothing."""
        self._handled_this_run += 1
        return self._state.answers.get(msg.key)

    def _answer_as(self, key: str, first: PackageAnswer) -> PackageAnswer:
        self._state.answers[key] = first
        return first

    def _answer(
        self, msg: PackageMessage, outcome: str, message: str, entry: Entry
    ) -> PackageAnswer:
        answer = PackageAnswer(
            package_id=self._input.package_id,
            key=msg.key,
            outcome=outcome,
            message=message,
            entry_seq=entry.seq,
            remaining=self._state.remaining,
            status=self._state.status,
            refund_due_cents=self._state.refund_due_cents,
        )
        self._state.answers[msg.key] = answer
        return answer

    def _root(self, appointment_id: str, rebooked_from: str | None) -> str:
        """A rebooked visit keeps the identity of the appointment it replaced."""
        if appointment_id in self._state.aliases:
            return self._state.aliases[appointment_id]
        if rebooked_from:
            return self._state.aliases.get(rebooked_from, rebooked_from)
        return appointment_id

    def _link(self, appointment_id: str, root: str) -> None:
        if appointment_id != root:
            self._state.aliases[appointment_id] = root

    def _require_open(self, verb: str) -> None:
        status = self._state.status
        if status is PackageStatus.CANCELLED:
            raise Refused("PackageCancelled", f"{self._terms.name} was cancelled: cannot {verb} it")
        expired = status is PackageStatus.EXPIRED or (
            self._state.expires_at is not None and workflow.now() >= self._state.expires_at
        )
        if status is PackageStatus.IN_REVIEW:
            raise Refused(
                "PackageInReview",
                f"{self._terms.name} expired on {self._expiry_text()} and awaits staff review: cannot {verb} it",
            )
        if expired:
            raise Refused(
                "PackageExpired",
                f"{self._terms.name} expired on {self._expiry_text()}: cannot {verb} it",
            )

    def _value_of(self, units: int) -> int:
        """Pro-rata value: price paid / units bought (top-ups included), in whole cents."""
        if self._state.purchased_units <= 0:
            return 0
        return units * self._state.paid_cents // self._state.purchased_units

    def _after_balance_change(self, *, remaining_before: int, key: str) -> None:
        """Balance alerts fire on the way down through a threshold: once per crossing."""
        after, bought = self._state.remaining, self._state.purchased_units
        renewal = f" Renew now: {self._renewal_url()}"
        if self._terms.kind is PackageKind.SESSIONS:
            if remaining_before > 1 >= after and after == 1:
                self._notify_client(
                    f"one-left:{key}",
                    "one_left",
                    "One session left",
                    f"You have 1 session left on your {self._terms.name}.{renewal}",
                )
            elif remaining_before > 2 >= after and after == 2:
                self._notify_client(
                    f"two-left:{key}",
                    "two_left",
                    "Two sessions left",
                    f"You have 2 sessions left on your {self._terms.name}.",
                )
        else:
            low = bought // 5
            if remaining_before > low >= after:
                self._notify_client(
                    f"low-balance:{key}",
                    "low_balance",
                    "Your credit is running low",
                    f"{texts.money(after)} left on your {self._terms.name}.{renewal}",
                )
        threshold = bought - (bought * 8 + 9) // 10  # remaining at which ≥80% is consumed
        if remaining_before > threshold >= after:
            self._alert_staff(
                f"consumed-80:{key}",
                "consumed_80",
                f"Client {self._input.client_id} has used 80% of {self._terms.name} "
                f"({texts.amount(self._terms.kind, after)} left): offer a renewal.",
            )
        self._check_pace(workflow.now())

    def _check_pace(self, now: datetime) -> None:
        """Warn once when the pace is lost; a visit, top-up or extension that restores it re-arms."""
        due = self._pace_due()
        if due is None or now < due:
            self._state.pace_alerted = False
            return
        if self._state.pace_alerted:
            return
        self._state.pace_alerted = True
        interval = self._terms.min_interval_days
        message = (
            f"{self._state.remaining} sessions of {self._terms.name} need about {interval} days "
            f"between visits; to use them all before {self._expiry_text()}, book now."
        )
        pace_key = f"pace:{self._state.remaining}@{self._expires_iso()}"
        self._append(
            key=pace_key,
            kind=EntryKind.PACE_ALERT,
            actor="system",
            outcome=f"pace at risk: {message}",
            at=now,
        )
        self._notify_client(pace_key, "pace", "Book your next session", message)
        self._alert_staff(pace_key, "pace", f"Client {self._input.client_id}: {message}")

    def _append(
        self,
        *,
        key: str,
        kind: EntryKind,
        actor: str,
        outcome: str,
        at: datetime,
        delta: int = 0,
        value: int = 0,
        appointment_id: str | None = None,
        provider_id: str | None = None,
        source: str = "system",
        reason: str | None = None,
    ) -> Entry:
        entry = Entry(
            seq=self._state.next_seq,
            key=key,
            kind=kind,
            units_delta=delta,
            balance_after=self._state.remaining,
            value_cents=value,
            appointment_id=appointment_id,
            provider_id=provider_id,
            actor=actor,
            source=source,
            reason=reason,
            outcome=outcome,
            at=at,
        )
        self._state.next_seq += 1
        self._state.entries.append(entry)
        if len(self._state.entries) > MAX_KEPT_ENTRIES:
            self._state.entries.pop(0)
            self._state.dropped_entries += 1
        self._state.ledger_outbox.append(LedgerEffect(entry=entry, snapshot=self._snapshot()))
        return entry

    def _notify_client(self, key: str, kind: str, subject: str, body: str) -> None:
        self._state.notice_outbox.append(
            ClientNoticeEffect(
                key=f"{self._input.package_id}:{key}", kind=kind, subject=subject, body=body
            )
        )

    def _alert_staff(self, key: str, kind: str, message: str) -> None:
        self._state.notice_outbox.append(
            StaffAlertEffect(
                key=f"{self._input.package_id}:staff:{key}", kind=kind, message=message
            )
        )

    def _snapshot(self) -> PackageSnapshot:
        return PackageSnapshot(
            package_id=self._input.package_id,
            client_id=self._input.client_id,
            type_code=self._terms.type_code,
            name=self._terms.name,
            kind=self._terms.kind,
            status=self._state.status,
            remaining=self._state.remaining,
            purchased_units=self._state.purchased_units,
            paid_cents=self._state.paid_cents,
            unused_value_cents=self._value_of(max(self._state.remaining, 0)),
            purchased_at=self._input.purchased_at,
            expires_at=self._state.expires_at,
            parent_purchase_id=self._input.parent_purchase_id,
            refund_due_cents=self._state.refund_due_cents,
            pace_at_risk=self._pace_at_risk(),
        )

    def _expires_iso(self) -> str:
        return self._state.expires_at.isoformat() if self._state.expires_at else "never"

    def _expiry_text(self) -> str:
        return texts.local_date(self._state.expires_at, self._input.notices.timezone)

    def _renewal_url(self) -> str:
        return self._input.notices.renewal_url.format(package_id=self._input.package_id)


async def _call(
    name: str, arg: object, result_type: type[ResultT], options: policies.ActivityOptions
) -> ResultT:
    """Every activity call names its timeouts and retry policy (from `policies`)."""
    result = await workflow.execute_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=options.start_to_close,
        schedule_to_close_timeout=options.schedule_to_close,
        retry_policy=options.retry,
    )
    return cast(ResultT, result)


async def _call_local(
    name: str, arg: object, result_type: type[ResultT], options: policies.ActivityOptions
) -> ResultT:
    """A short activity run by the worker that runs the workflow task (same policies)."""
    result = await workflow.execute_local_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=options.start_to_close,
        schedule_to_close_timeout=options.schedule_to_close,
        retry_policy=options.retry,
    )
    return cast(ResultT, result)


def _sentence(text: str) -> str:
    """Capitalise the first letter only (str.capitalize would lowercase month names)."""
    return text[:1].upper() + text[1:]
