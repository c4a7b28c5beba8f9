"""Payments through Stripe or Square: renewal checkouts and refunds, and the activities using them."""

from activities.payments.activities import (
    NOT_CONFIGURED,
    REFUND_KEY_METADATA,
    PaymentActivities,
    checkout_idempotency_key,
    refund_idempotency_key,
    refund_issued_by_us,
    renewal_metadata,
)
from activities.payments.stripe_api import (
    API_VERSION,
    STRIPE_REJECTED,
    STRIPE_UNAVAILABLE,
    StripeApi,
    without_none,
)

__all__ = [
    "API_VERSION",
    "NOT_CONFIGURED",
    "REFUND_KEY_METADATA",
    "STRIPE_REJECTED",
    "STRIPE_UNAVAILABLE",
    "PaymentActivities",
    "StripeApi",
    "checkout_idempotency_key",
    "refund_idempotency_key",
    "refund_issued_by_us",
    "renewal_metadata",
    "without_none",
]
