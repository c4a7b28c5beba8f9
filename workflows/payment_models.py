"""Models of the payment workflow: Stripe events in, the package they start, activities.

Contact details from Stripe (customer email) travel only inside these payloads, which the
payload codec encrypts in history; the package they start never sees them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from workflows.models import Model, PackageInput, StripeRefundNotice

PREPARE_SALE = "payments.prepare_sale"
OPEN_PAYMENT_REVIEW = "payments.open_review"
CLOSE_PAYMENT_REVIEW = "payments.close_review"
PACKAGES_FOR_PAYMENT = "payments.packages_for_payment"
DELIVER_REFUND = "payments.deliver_refund"

PAID_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "payment_intent.succeeded",
    }
)
REFUND_EVENTS = frozenset({"charge.refunded", "refund.created"})


class StripeRefundLine(Model):
    refund_id: str
    amount_cents: int
    punchcard_refund_key: str | None = None


class StripePaymentEvent(Model):
    """The parts of a Stripe event Punchcard acts on (provider-formats.md §1.4, §1.5)."""

    event_id: str = Field(min_length=1)
    event_type: str
    created: datetime
    payment_intent_id: str = Field(min_length=1)
    checkout_session_id: str | None = None
    payment_status: str | None = None  # checkout sessions: paid | unpaid | no_payment_required
    amount_cents: int = 0
    currency: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    customer_email: str | None = None
    # charge.refunded
    charge_amount_cents: int = 0
    amount_refunded_cents: int = 0
    fully_refunded: bool = False
    refunds: list[StripeRefundLine] = Field(default_factory=list)

    @property
    def is_paid(self) -> bool:
        if self.event_type == "checkout.session.completed":
            return self.payment_status == "paid"
        return self.event_type in PAID_EVENTS


class PaymentInput(Model):
    provider: Literal["stripe"] = "stripe"
    payment_intent_id: str


class PrepareSaleResult(Model):
    """Either the package to start, or why the payment cannot be tied to one."""

    package_input: PackageInput | None = None
    unmatched_reason: str | None = None


class PaymentReviewInput(Model):
    item_id: str
    payment_intent_id: str
    reason: str
    detail: str
    client_id: str | None = None


class CloseReviewInput(Model):
    item_id: str
    resolution: str
    package_id: str | None = None


class DeliverRefundInput(Model):
    package_id: str
    notice: StripeRefundNotice


class DeliverRefundResult(Model):
    outcome: str
    message: str


class PaymentOutcome(Model):
    payment_intent_id: str
    package_ids: list[str] = Field(default_factory=list)
    events: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
