"""Models of the payment workflow: Stripe events in, the package they start, activities.

Contact details from Stripe (customer email) travel only inside these payloads, which the
payload codec encrypts in history; the package they start never sees them.

Every field is bounded, so nothing that reaches a workflow can later be refused by
PostgreSQL (a bigint, an index row, a NUL byte) and poison the worker: amounts are cents
in 0..MAX_AMOUNT_CENTS, ids are Stripe-shaped and at most MAX_ID_LENGTH long, texts hold
no NUL, the currency is a three-letter ISO code, `created` lies in 2010..2100. A signal
whose payload breaks these is dropped by the SDK before workflow code sees it (the door,
starter.ingress.stripe, answers 422 first). Values recorded before the bounds existed
were all inside them, so old histories decode.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StringConstraints

from workflows import policies
from workflows.calls import Contract
from workflows.models import Model, PackageInput, StripeRefundNotice

# Stripe's own ceiling for one USD charge is $999,999.99 (99,999,999 cents); a med-spa
# package is far below. Anything above is not a real payment.
MAX_AMOUNT_CENTS = 100_000_000
MAX_ID_LENGTH = 255  # Stripe: object ids are at most 255 characters
MAX_TEXT_LENGTH = 500  # Stripe: a metadata value is at most 500 characters
MAX_METADATA_KEYS = 50  # Stripe: at most 50 keys, each at most 40 characters
MAX_REFUND_LINES = 100
EARLIEST_CREATED = datetime(2010, 1, 1, tzinfo=UTC)  # Stripe did not exist before
LATEST_CREATED = datetime(2100, 1, 1, tzinfo=UTC)

Cents = Annotated[int, Field(ge=0, le=MAX_AMOUNT_CENTS)]
StripeId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=r"^[A-Za-z0-9_.:\-]+$"),
]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_LENGTH, pattern=r"^[^\x00]*$")]
MetadataKey = Annotated[
    str, StringConstraints(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f]+$")
]
EventType = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z_.]+$")]


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


Currency = Annotated[str, BeforeValidator(_lower), StringConstraints(pattern=r"^[a-z]{3}$")]


def _in_stripe_era(value: datetime) -> datetime:
    if not EARLIEST_CREATED <= value < LATEST_CREATED:
        raise ValueError(f"created must lie between {EARLIEST_CREATED:%Y} and {LATEST_CREATED:%Y}")
    return value


Created = Annotated[AwareDatetime, AfterValidator(_in_stripe_era)]

PAID_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "payment_intent.succeeded",
        "payment.updated",  # Square: paid when its status is COMPLETED
    }
)
REFUND_EVENTS = frozenset({"charge.refunded", "refund.created", "refund.updated"})
Processor = Literal["stripe", "square"]


class StripeRefundLine(Model):
    refund_id: StripeId
    amount_cents: Cents
    punchcard_refund_key: Text | None = None


class StripePaymentEvent(Model):
    """The parts of a payment event Punchcard acts on (provider-formats.md §1.4, §1.5):
    Stripe's, or Square's (`processor`), whose payment id stands in `payment_intent_id`
    and the Order of its payment link in `checkout_session_id`."""

    processor: Processor = "stripe"
    event_id: StripeId
    event_type: EventType
    created: Created
    payment_intent_id: StripeId
    checkout_session_id: StripeId | None = None
    # checkout sessions: paid | unpaid | no_payment_required
    payment_status: Annotated[str, StringConstraints(max_length=40)] | None = None
    amount_cents: Cents = 0  # after discounts: Checkout's amount_total, the intent's received
    currency: Currency | None = None
    metadata: dict[MetadataKey, Text] = Field(default_factory=dict, max_length=MAX_METADATA_KEYS)
    customer_email: Annotated[Text, StringConstraints(max_length=320)] | None = None
    # charge.refunded
    charge_amount_cents: Cents = 0
    amount_refunded_cents: Cents = 0
    fully_refunded: bool = False
    refunds: list[StripeRefundLine] = Field(default_factory=list, max_length=MAX_REFUND_LINES)

    @property
    def is_paid(self) -> bool:
        if self.event_type == "checkout.session.completed":
            return self.payment_status == "paid"
        if self.event_type == "payment.updated":
            return self.payment_status == "COMPLETED"
        return self.event_type in PAID_EVENTS


class PaymentInput(Model):
    provider: Processor = "stripe"
    payment_intent_id: StripeId


class PrepareSaleResult(Model):
    """Either the package to start, or why the payment cannot be tied to one."""

    package_input: PackageInput | None = None
    unmatched_reason: str | None = None
    # The review reason when it is not "unmatched_payment": `amount_mismatch` (paid amount
    # differs from the price, or is missing) or `currency_mismatch`; unmatched_reason says why.
    review_reason: str | None = None


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


# --- activity contracts: all intake work, retried until it lands (policies.INTAKE) ------

PREPARE_SALE = Contract(
    name="payments.prepare_sale",
    arg=StripePaymentEvent,
    result=PrepareSaleResult,
    options=policies.INTAKE,
)
OPEN_PAYMENT_REVIEW = Contract(
    name="payments.open_review", arg=PaymentReviewInput, result=type(None), options=policies.INTAKE
)
CLOSE_PAYMENT_REVIEW = Contract(
    name="payments.close_review", arg=CloseReviewInput, result=type(None), options=policies.INTAKE
)
PACKAGES_FOR_PAYMENT = Contract(
    name="payments.packages_for_payment", arg=str, result=list[str], options=policies.INTAKE
)
DELIVER_REFUND = Contract(
    name="payments.deliver_refund",
    arg=DeliverRefundInput,
    result=DeliverRefundResult,
    options=policies.INTAKE,
)
