"""Rule 8 through Stripe: the refund saga's outcomes, and refunds made in Stripe's dashboard.

A cancel with `issue_refund` closes the package and owes a refund (a RefundEffect). The
workflow issues it with a fixed Idempotency-Key, retrying transient failures; then exactly
one of these records the end of the saga:

- `refund_issued`: Stripe took it; recorded with its refund id, the client is told.
- `refund_refused`: Stripe refused it for good; the cancellation is compensated (units and
  value come back, the package is active again) and staff are told why.
- `refund_unconfirmed`: retries ran out without an answer; the package stays cancelled with
  the refund due, and staff check Stripe (a charge.refunded event will record it).
"""

from __future__ import annotations

from datetime import datetime

from workflows import texts
from workflows.book.core import PackageBook, Refused, sentence
from workflows.models import (
    CLOSED_STATUSES,
    EntryKind,
    PackageAnswer,
    PackageStatus,
    RefundEffect,
    StripeRefundNotice,
)


def refund_issued(
    book: PackageBook, effect: RefundEffect, *, refund_id: str, amount: int, now: datetime
) -> None:
    book.state.refunds[refund_id] = amount
    book.append(
        key=effect.key,
        kind=EntryKind.REFUND,
        value=amount,
        actor="system",
        source="stripe",
        reason=effect.reason,
        outcome=f"refunded {texts.money(amount)} through Stripe ({refund_id})",
        at=now,
    )
    book.notify_client(
        effect.key,
        "refund",
        "Your refund is on its way",
        texts.refund_text(book.spa, book.held(), refunded_cents=amount),
    )


def refund_refused(book: PackageBook, effect: RefundEffect, *, why: str, now: datetime) -> None:
    """Compensate the cancellation: the client keeps the package, nothing is half-done."""
    book.restore(effect.units, effect.value_cents)
    book.state.status = PackageStatus.ACTIVE
    book.state.refund_due_cents = None
    book.append(
        key=f"{effect.key}:refused",
        kind=EntryKind.REFUND_FAILED,
        delta=effect.units,
        value=effect.value_cents,
        actor="system",
        source="stripe",
        reason=why,
        outcome=(
            f"Stripe refused the refund of {texts.money(effect.amount_cents)}: cancellation "
            f"undone, {book.amount(effect.units)} restored"
        ),
        at=now,
    )
    book.alert_staff(
        f"{effect.key}:refused",
        "refund_failed",
        texts.refund_refused_alert(
            book.terms.name, book.input.package_id, amount_cents=effect.amount_cents, why=why
        ),
    )


def refund_unconfirmed(book: PackageBook, effect: RefundEffect, *, why: str, now: datetime) -> None:
    book.append(
        key=f"{effect.key}:unconfirmed",
        kind=EntryKind.REFUND_FAILED,
        actor="system",
        source="stripe",
        reason=why,
        outcome=(
            f"refund of {texts.money(effect.amount_cents)} not confirmed by Stripe after "
            "retries: still due"
        ),
        at=now,
    )
    book.alert_staff(
        f"{effect.key}:unconfirmed",
        "refund_unconfirmed",
        texts.refund_unconfirmed_alert(
            book.terms.name, book.input.package_id, amount_cents=effect.amount_cents, why=why
        ),
    )


def check_stripe_refund(book: PackageBook, msg: StripeRefundNotice) -> None:
    if book.input.payment is None:
        raise Refused(
            "NoStripePayment", f"{book.terms.name} was not paid through Stripe: no refund applies"
        )


def stripe_refund(book: PackageBook, msg: StripeRefundNotice, now: datetime) -> PackageAnswer:
    """A refund Stripe reports. Ours (by metadata or id) changes nothing; a dashboard refund
    cancels the package when the charge is fully refunded, else takes off the units it
    paid for, at the per-unit price (rule 6)."""
    # Refunds Punchcard issues carry our refund key in their metadata (any package of the
    # purchase); the saga records them on the package that owes them.
    if msg.refund_id in book.state.refunds or msg.punchcard_refund_key is not None:
        entry = book.state.entries[-1]
        return book.answer(msg, "already_recorded", "Refund issued by Punchcard", entry)
    book.state.refunds[msg.refund_id] = msg.amount_cents
    amount = texts.money(msg.amount_cents)
    if book.state.status in CLOSED_STATUSES:
        entry = book.record(
            msg,
            kind=EntryKind.REFUND,
            value=msg.amount_cents,
            outcome=f"refunded {amount} in Stripe after the package was {book.state.status}",
            at=now,
        )
        book.alert_staff(
            msg.key,
            "refund_after_close",
            texts.refund_after_close_alert(
                book.terms.name,
                book.input.package_id,
                amount_cents=msg.amount_cents,
                status=book.state.status.value,
            ),
        )
        return book.answer(msg, "recorded", sentence(entry.outcome), entry)
    remaining = max(book.state.remaining, 0)
    per_unit = book.state.paid_cents / max(book.state.purchased_units, 1)
    units = remaining if msg.fully_refunded else min(remaining, round(msg.amount_cents / per_unit))
    value = book.consume(units)
    if msg.fully_refunded or units >= remaining:
        book.state.status = PackageStatus.CANCELLED
        book.state.refund_due_cents = 0
        outcome = f"cancelled: refunded {amount} in Stripe, {book.amount(units)} withdrawn"
        kind = EntryKind.CANCELLATION
    else:
        outcome = f"refunded {amount} in Stripe: {book.amount(units)} withdrawn"
        kind = EntryKind.REFUND
    entry = book.record(msg, kind=kind, delta=-units, value=value, outcome=outcome, at=now)
    book.alert_staff(
        msg.key,
        "stripe_refund",
        f"{sentence(outcome)} for {book.terms.name} ({book.input.package_id}).",
    )
    return book.answer(msg, "refunded", sentence(outcome), entry)
