"""Rules 1–3 and 5: what an appointment does to a package.

Only a completion consumes; bookings never do; no-shows and late cancels consume only
under the type's forfeit policy; a reversal gives back what the appointment took. Each
`check_*` is the update's validator: it refuses with the rule's name before anything
changes, and lets a known key through so the handler can answer it again.
"""

from __future__ import annotations

from datetime import datetime

from workflows import texts
from workflows.book.activation import activate
from workflows.book.alerts import after_balance_change, check_pace
from workflows.book.core import PackageBook, Refused, sentence
from workflows.book.freeze import require_not_frozen
from workflows.models import (
    AppointmentNotice,
    AppointmentRecord,
    AppointmentStatus,
    AttendanceRequest,
    EntryKind,
    PackageAnswer,
    PackageKind,
    RedeemRequest,
    ReverseRequest,
)

_ABSENT = (AppointmentStatus.NO_SHOW, AppointmentStatus.LATE_CANCEL)


def check_redeem(book: PackageBook, msg: RedeemRequest, now: datetime) -> None:
    if msg.key in book.state.answers or _completed(book, msg) is not None:
        return
    book.require_open("redeem", now)
    require_not_frozen(book, "redeem")
    if not msg.allow_same_day and msg.service_date is not None:
        for other in book.state.appointments.values():
            if (
                other.status is AppointmentStatus.COMPLETED
                and other.service_date == msg.service_date
            ):
                raise Refused(
                    "SameDayRedemption",
                    f"appointment {other.appointment_id} already redeemed a session of "
                    f"{book.terms.name} on {msg.service_date}; if {msg.appointment_id} is "
                    "a second visit that day, resend with allow_same_day",
                )
    if _forfeited(book, msg) == 0:
        units_for(book, msg)


def redeem(book: PackageBook, msg: RedeemRequest, now: datetime) -> PackageAnswer:
    if (done := _completed(book, msg)) is not None:
        # A second delivery of the same visit under another key: same answer, no change.
        return book.answer_as(msg.key, book.state.answers[done.answer_key or ""])
    root = book.root(msg.appointment_id, msg.rebooked_from)
    known = book.state.appointments.get(root)
    # A visit first reported as a forfeited no-show / late cancel already took its session.
    already = _forfeited(book, msg)
    units = already or units_for(book, msg)
    book.link(msg.appointment_id, root)
    value = book.consume(units - already)
    book.state.appointments[root] = AppointmentRecord(
        appointment_id=root,
        status=AppointmentStatus.COMPLETED,
        scheduled_at=known.scheduled_at if known else None,
        service_date=msg.service_date or now.date(),
        consumed=units,
        consumed_value=value + (known.consumed_value if known is not None and already else 0),
        answer_key=msg.key,
    )
    message = texts.redemption_confirmation(
        kind=book.terms.kind,
        name=book.terms.name,
        used=book.state.purchased_units - book.state.remaining,
        purchased=book.state.purchased_units,
        remaining=book.state.remaining,
        spent=units,
        shared=book.held().shared,
    )
    if already:
        outcome = "redeemed: the session was already taken by this visit's forfeit"
    else:
        outcome = "redeemed" if book.state.remaining >= 0 else "redeemed over balance"
    entry = book.record(
        msg,
        kind=EntryKind.REDEMPTION,
        delta=already - units,
        value=value,
        appointment_id=root,
        provider_id=msg.provider_id,
        outcome=outcome,
        at=now,
    )
    activate(book, key=msg.key, visit_day=msg.service_date, now=now)
    book.notify_client(
        f"confirm:{msg.key}",
        "confirmation",
        "Visit complete",
        texts.confirmation_text(
            book.spa, book.held(), core=message, remaining=book.state.remaining
        ),
    )
    after_balance_change(
        book, remaining_before=book.state.remaining + units - already, key=msg.key, now=now
    )
    return book.answer(msg, "redeemed", message, entry)


def units_for(book: PackageBook, msg: RedeemRequest) -> int:
    """Units a redemption takes, or a refusal naming the rule it breaks."""
    name, remaining = book.terms.name, book.state.remaining
    if book.terms.kind is PackageKind.DOLLARS:
        if msg.amount_cents is None:
            raise Refused("AmountRequired", f"{name} is a dollar package: give amount_cents")
        if msg.amount_cents > remaining and book.terms.enforce_zero_balance:
            raise Refused(
                "AmountAboveBalance",
                f"amount {texts.money(msg.amount_cents)} is above the balance "
                f"{texts.money(remaining)} of {name}; collect the difference",
            )
        return msg.amount_cents
    if msg.amount_cents is not None:
        raise Refused("AmountNotAllowed", f"{name} counts sessions, not dollars")
    if remaining <= 0 and book.terms.enforce_zero_balance:
        raise Refused(
            "ZeroBalance",
            f"zero balance: no sessions left on {name}; collect payment before treatment",
        )
    return 1


def _completed(book: PackageBook, msg: RedeemRequest) -> AppointmentRecord | None:
    known = book.state.appointments.get(book.root(msg.appointment_id, msg.rebooked_from))
    return known if known is not None and known.status is AppointmentStatus.COMPLETED else None


def _forfeited(book: PackageBook, msg: RedeemRequest) -> int:
    """Units this visit's earlier no-show / late cancel already forfeited (0 if none)."""
    known = book.state.appointments.get(book.root(msg.appointment_id, msg.rebooked_from))
    return known.consumed if known is not None and known.status in _ABSENT else 0


def check_attendance(book: PackageBook, msg: AttendanceRequest, now: datetime) -> None:
    if msg.key in book.state.answers or _earlier_absence(book, msg) is not None:
        return
    book.require_open("record a no-show or late cancel on", now)
    known = book.state.appointments.get(book.root(msg.appointment_id, None))
    if known is not None and known.status is AppointmentStatus.COMPLETED:
        raise Refused(
            "AlreadyCompleted", f"appointment {msg.appointment_id} was completed; reverse it first"
        )


def record_attendance(book: PackageBook, msg: AttendanceRequest, now: datetime) -> PackageAnswer:
    if (same := _earlier_absence(book, msg)) is not None:
        # The absence reported again (another key, or no-show vs late cancel): one forfeit at most.
        return book.answer_as(msg.key, book.state.answers[same.answer_key or ""])
    root = book.root(msg.appointment_id, None)
    terms = book.terms
    policy_forfeits = (
        terms.no_show_forfeits if msg.outcome == "no_show" else terms.late_cancel_forfeits
    )
    consumes = int(
        policy_forfeits and terms.kind is PackageKind.SESSIONS and book.state.remaining > 0
    )
    label = "no-show" if msg.outcome == "no_show" else "late cancel"
    outcome = (
        f"{label}: session forfeited under package policy"
        if consumes
        else f"{label}: recorded, not consumed"
    )
    value = book.consume(consumes)
    book.state.appointments[root] = AppointmentRecord(
        appointment_id=root,
        status=AppointmentStatus(msg.outcome),
        consumed=consumes,
        consumed_value=value,
        answer_key=msg.key,
    )
    entry = book.record(
        msg,
        kind=EntryKind(msg.outcome),
        delta=-consumes,
        value=value,
        appointment_id=root,
        provider_id=msg.provider_id,
        outcome=outcome,
        at=now,
    )
    if consumes:
        after_balance_change(book, remaining_before=book.state.remaining + 1, key=msg.key, now=now)
    return book.answer(msg, outcome, sentence(outcome), entry)


def _earlier_absence(book: PackageBook, msg: AttendanceRequest) -> AppointmentRecord | None:
    """The no-show / late cancel already recorded for this appointment, if any."""
    known = book.state.appointments.get(book.root(msg.appointment_id, None))
    return known if known is not None and known.status in _ABSENT else None


def check_reverse(book: PackageBook, msg: ReverseRequest) -> None:
    if msg.key in book.state.answers:
        return
    book.require_not_closed("nothing to reverse")
    record = book.state.appointments.get(book.root(msg.appointment_id, None))
    if record is None or record.consumed == 0:
        raise Refused(
            "UnknownAppointment",
            f"appointment {msg.appointment_id} has no redemption on this package to reverse",
        )


def reverse(book: PackageBook, msg: ReverseRequest, now: datetime) -> PackageAnswer:
    root = book.root(msg.appointment_id, None)
    record = book.state.appointments[root]
    book.restore(record.consumed, record.consumed_value)
    book.state.appointments[root] = record.model_copy(
        update={
            "status": AppointmentStatus.REVERSED,
            "consumed": 0,
            "consumed_value": 0,
            "answer_key": msg.key,
        }
    )
    check_pace(book, now)
    back = book.amount(record.consumed)
    entry = book.record(
        msg,
        kind=EntryKind.REVERSAL,
        delta=record.consumed,
        value=record.consumed_value,
        appointment_id=root,
        reason=msg.reason,
        outcome=f"reversed: {back} returned",
        at=now,
    )
    message = texts.reversal_text(
        book.held(), returned=record.consumed, remaining=book.state.remaining
    )
    book.notify_client(
        f"reversal:{msg.key}", "reversal", "Package corrected", texts.signed(book.spa, message)
    )
    return book.answer(msg, "reversed", message, entry)


def check_note(book: PackageBook, msg: AppointmentNotice, now: datetime) -> None:
    if msg.key in book.state.answers:
        return
    book.require_open("book against", now)
    if msg.change == "checked_in":
        require_not_frozen(book, f"check appointment {msg.appointment_id} in on")
    if msg.change == "checked_in" and book.state.remaining <= 0 and book.terms.enforce_zero_balance:
        raise Refused(
            "ZeroBalance",
            f"zero balance on {book.terms.name}: collect payment before checking in "
            f"appointment {msg.appointment_id}",
        )


def note_appointment(book: PackageBook, msg: AppointmentNotice, now: datetime) -> PackageAnswer:
    """Booked, rescheduled, confirmed, checked in, cancelled: recorded, never consumed."""
    root = book.root(msg.appointment_id, msg.rebooked_from)
    book.link(msg.appointment_id, root)
    known = book.state.appointments.get(root)
    if known is None or known.status is AppointmentStatus.BOOKED:
        cancelled = msg.change == "cancelled"
        book.state.appointments[root] = AppointmentRecord(
            appointment_id=root,
            status=AppointmentStatus.CANCELLED if cancelled else AppointmentStatus.BOOKED,
            scheduled_at=msg.scheduled_at or (known.scheduled_at if known else None),
        )
    outcome = f"{msg.change.replace('_', ' ')}: no session consumed"
    if book.state.remaining <= 0 and msg.change in ("booked", "rescheduled"):
        outcome = f"{msg.change}: zero balance, staff alerted to collect payment"
        book.alert_staff(
            f"zero-booking:{root}",  # one alert per visit, however often it is rescheduled
            "booking_at_zero",
            texts.booking_at_zero_alert(
                book.input.client_id, book.held(), appointment_id=msg.appointment_id
            ),
        )
    entry = book.record(
        msg,
        kind=EntryKind.BOOKING,
        appointment_id=root,
        provider_id=msg.provider_id,
        outcome=outcome,
        at=now,
    )
    return book.answer(msg, outcome, sentence(outcome), entry)
