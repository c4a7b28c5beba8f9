"""Payments through Stripe: renewal Checkout Sessions and refunds, and the activities using them."""

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
    STRIPE_UNAVAILABLE,
    StripeApi,
    StripeError,
    encode_form,
)

__all__ = [
    "API_VERSION",
    "NOT_CONFIGURED",
    "REFUND_KEY_METADATA",
    "STRIPE_UNAVAILABLE",
    "PaymentActivities",
    "StripeApi",
    "StripeError",
    "checkout_idempotency_key",
    "encode_form",
    "refund_idempotency_key",
    "refund_issued_by_us",
    "renewal_metadata",
]
