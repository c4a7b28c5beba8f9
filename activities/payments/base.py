"""What a payment processor does for Punchcard: a renewal checkout and a refund.

Stripe (Checkout Sessions, Refunds) and Square (Payment Links, Refunds API) both fit;
`PaymentActivities` speaks to whichever is configured and keeps the business keys, the
idempotency and the records the same for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from workflows.contracts import RefundInput, RenewalCheckoutInput

ProcessorName = Literal["stripe", "square"]


@dataclass(frozen=True)
class Checkout:
    """A page where the client pays: its id at the processor, its URL, when it dies, and
    the order its payment will name (Square)."""

    id: str
    url: str
    expires_at: datetime | None = None
    order_id: str | None = None


@dataclass(frozen=True)
class Refund:
    id: str
    status: str
    amount_cents: int


def processor_of_payment(payment_id: str) -> ProcessorName:
    """Whose payment an id is: Stripe's PaymentIntents are `pi_…`, anything else Square's."""
    return "stripe" if payment_id.startswith("pi_") else "square"


class Processor(Protocol):
    name: ProcessorName

    async def create_checkout(
        self,
        offer: RenewalCheckoutInput,
        *,
        email: str | None,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Checkout:
        """Create (or replay, under the same key) the page paying for `offer`."""
        ...

    async def refund(
        self, input: RefundInput, *, metadata: dict[str, str], idempotency_key: str
    ) -> Refund:
        """Refund part of a payment once per key."""
        ...
