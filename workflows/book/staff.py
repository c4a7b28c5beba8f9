"""Rules 6–9 by staff hand: the sale, top-ups, extensions and expiry corrections, forfeits
after review, cancels."""

from __future__ import annotations

from datetime import datetime

from workflows import texts
from workflows.book.alerts import check_pace
from workflows.book.core import PackageBook, Refused, sentence
from workflows.book.opening import open_migrated
from workflows.book.timers import forfeit_remaining, skip_reminders_past
from workflows.models import (
    CLOSED_STATUSES,
    AddUnitsRequest,
    CancelRequest,
    CorrectExpiryRequest,
    EntryKind,
    ExtendRequest,
    ForfeitRequest,
    PackageAnswer,
    PackageInput,
    PackageState,
    PackageStatus,
    RefundEffect,
)


def open_book(input: PackageInput, *, started_at: datetime | None = None) -> PackageBook:
    """The book of a new sale, or of a package carried across continue-as-new.

    `started_at`: when the workflow starts. A sale recorded after the fact (an import, the
    demo) is backdated; reminders that fell due between the purchase and now are skipped
    too, or they would go out at once, late, with the balance before the backdated visits
    that follow (the "6 sessions left" reminders ahead of the visits in the ledger).
    """
    if input.carried is not None:
        return PackageBook(input, input.carried)
    if input.opening is not None:  # brought in by an import: opens with what was left
        return open_migrated(input, input.opening, started_at or input.purchased_at)
    terms = input.terms
    book = PackageBook(
        input,
        PackageState(
            remaining=terms.units,
            purchased_units=terms.units,
            paid_cents=terms.price_cents,
            unused_value_cents=terms.price_cents,
            expires_at=input.expires_at,
            awaiting_activation=(
                terms.expiry_starts == "first_visit" and terms.activation_months is not None
            ),
        ),
    )
    skip_reminders_past(
        book, input.purchased_at if started_at is None else max(input.purchased_at, started_at)
    )
    book.append(
        key="sale",
        kind=EntryKind.SALE,
        delta=terms.units,
        value=terms.price_cents,
        actor=input.sold_by,
        outcome=f"sold {book.amount(terms.units)}",
        at=input.purchased_at,
    )
    check_pace(book, input.purchased_at)
    if input.payment is not None:
        welcome = "renewal" if input.renews_package_id else "purchase"
        book.notify_client(
            welcome,
            welcome,
            "Thank you: your package is ready",
            texts.thanks_text(
                book.spa,
                book.held(),
                units=terms.units,
                good_through_day=book.expiry_text(),
                renewal=input.renews_package_id is not None,
            ),
        )
    return book


def check_add_units(book: PackageBook, msg: AddUnitsRequest, now: datetime) -> None:
    if msg.key not in book.state.answers:
        book.require_open("add to", now)


def add_units(book: PackageBook, msg: AddUnitsRequest, now: datetime) -> PackageAnswer:
    """Upgrade / top-up: adds to what remains (never replaces it), recorded apart."""
    before = book.state.remaining
    book.add(msg.units, msg.paid_cents)
    added = book.amount(msg.units)
    entry = book.record(
        msg,
        kind=EntryKind.TOP_UP,
        delta=msg.units,
        value=msg.paid_cents,
        reason=msg.reason,
        outcome=f"added {added} (was {book.amount(before)})",
        at=now,
    )
    message = texts.top_up_text(book.held(), added=msg.units, remaining=book.state.remaining)
    book.notify_client(
        f"topup:{msg.key}", "top_up", "Package updated", texts.signed(book.spa, message)
    )
    check_pace(book, now)
    return book.answer(msg, "added", message, entry)


def check_extend(book: PackageBook, msg: ExtendRequest, now: datetime) -> None:
    """An extension only lengthens: a shortening is refused, pointing to the correction."""
    if msg.key in book.state.answers:
        return
    book.require_not_closed("it cannot be extended")
    _require_future(msg.new_expires_at, now)
    if book.state.expires_at is not None and msg.new_expires_at <= book.state.expires_at:
        raise Refused(
            "BadExpiry",
            f"an extension only lengthens: the new expiry must be later than the current one "
            f"({book.expiry_text()}); a manager shortens it with correct-expiry",
        )


def extend(book: PackageBook, msg: ExtendRequest, now: datetime) -> PackageAnswer:
    """Grace by staff (with reason and who); also takes a package out of expiry review."""
    return _move_expiry(book, msg, now, kind=EntryKind.EXTENSION, verb="extended")


def check_correct_expiry(book: PackageBook, msg: CorrectExpiryRequest, now: datetime) -> None:
    """A correction may move the expiry either way, but not into the past: a package is
    never expired by a typed date (its balance would be forfeited at once, for good);
    cancel or forfeit say that on purpose."""
    if msg.key in book.state.answers:
        return
    book.require_not_closed("its expiry cannot be corrected")
    _require_future(msg.new_expires_at, now)
    if msg.new_expires_at == book.state.expires_at:
        raise Refused("BadExpiry", f"the package already expires then ({book.expiry_text()})")


def correct_expiry(book: PackageBook, msg: CorrectExpiryRequest, now: datetime) -> PackageAnswer:
    """A manager's fix of a wrong expiry: pending reminders and the expiry timer follow the
    new date in the same step (those already due for it are skipped, not sent late)."""
    return _move_expiry(book, msg, now, kind=EntryKind.EXPIRY_CORRECTION, verb="corrected")


def _require_future(new_expires_at: datetime, now: datetime) -> None:
    if new_expires_at.tzinfo is None:
        raise Refused("BadExpiry", "new_expires_at needs a time zone")
    if new_expires_at <= now:
        raise Refused("BadExpiry", f"new expiry {new_expires_at.isoformat()} is not in the future")


def _move_expiry(
    book: PackageBook,
    msg: ExtendRequest | CorrectExpiryRequest,
    now: datetime,
    *,
    kind: EntryKind,
    verb: str,
) -> PackageAnswer:
    old = book.expiry_text()
    book.state.expires_at = msg.new_expires_at
    book.state.status = PackageStatus.ACTIVE
    skip_reminders_past(book, now)
    outcome = f"expiry {verb} from {old} to {book.expiry_text()}"
    entry = book.record(msg, kind=kind, reason=msg.reason, outcome=outcome, at=now)
    check_pace(book, now)
    return book.answer(msg, verb, sentence(outcome), entry)


def check_forfeit(book: PackageBook, msg: ForfeitRequest) -> None:
    if msg.key not in book.state.answers and book.state.status is not PackageStatus.IN_REVIEW:
        raise Refused(
            "NotInReview",
            f"{book.terms.name} is {book.state.status.value}, not awaiting expiry review",
        )


def forfeit(book: PackageBook, msg: ForfeitRequest, now: datetime) -> PackageAnswer:
    """Staff close a package in expiry review: what remains is forfeited as breakage."""
    remaining = book.state.remaining
    forfeit_remaining(book, key=msg.key, actor=msg.actor, reason=msg.reason, at=now)
    message = f"Forfeited {book.amount(remaining)} after review"
    return book.answer(msg, "forfeited", message, book.state.entries[-1])


def check_cancel(book: PackageBook, msg: CancelRequest) -> None:
    if msg.key in book.state.answers:
        return
    if book.state.status in CLOSED_STATUSES:
        raise Refused("PackageClosed", f"{book.terms.name} is already {book.state.status.value}")
    if msg.issue_refund and book.input.payment is None:
        raise Refused(
            "NoStripePayment",
            f"{book.terms.name} was not paid through Stripe: cancel without issue_refund "
            "and refund the amount due by hand",
        )


def cancel(book: PackageBook, msg: CancelRequest, now: datetime) -> PackageAnswer:
    """Cancel; the refund due is the unused value, pro rata. With `issue_refund` the refund
    is the next step of a saga run by the workflow: issued through Stripe, or, if Stripe
    refuses it, the cancellation is undone (see workflows.book.payments)."""
    remaining = max(book.state.remaining, 0)
    refund = book.consume(remaining)
    book.state.status = PackageStatus.CANCELLED
    book.state.refund_due_cents = refund
    outcome = f"cancelled: {book.amount(remaining)} unused, refund due {texts.money(refund)}"
    if msg.issue_refund and refund > 0:
        outcome += ", refunding through Stripe"
        book.state.refund_outbox.append(
            RefundEffect(
                key=f"refund:{book.input.package_id}:{msg.key}"[:200],
                cancel_key=msg.key,
                amount_cents=refund,
                units=remaining,
                value_cents=refund,
                reason=msg.reason,
            )
        )
    entry = book.record(
        msg,
        kind=EntryKind.CANCELLATION,
        delta=-remaining,
        value=refund,
        reason=msg.reason,
        outcome=outcome,
        at=now,
    )
    return book.answer(msg, "cancelled", sentence(outcome), entry)
