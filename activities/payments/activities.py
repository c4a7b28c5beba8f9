"""Payment activities: renewal Checkout Sessions and refunds through Stripe, recorded in Postgres.

Each call carries an Idempotency-Key derived from the caller's business key (the offer
key, the refund key), so a retried activity replays Stripe's first answer: one session
per offer, one refund per refund key. Balances stay ours; Stripe only moves money.

`stripe_checkouts` keeps every session created (the payments intake can map a session
back to its offer); `stripe_refunds` gets its row *before* the request, so a
`charge.refunded` webhook that arrives before our own write is still recognised as ours
(`refund_issued_by_us`). A refund already answered is returned from that row without
asking Stripe again, which also covers Stripe pruning idempotency keys after a day.

Failures: `StripeError` from the adapter (see `stripe_api`), and for a refund with Stripe
unconfigured, `ApplicationError(type=BAD_CONFIGURATION, non_retryable)`.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.payments.stripe_api import FormValue, StripeApi
from workflows import contracts
from workflows.contracts import (
    RefundInput,
    RefundResult,
    RenewalCheckoutInput,
    RenewalCheckoutResult,
)
from workflows.policies import BAD_CONFIGURATION

METADATA_PREFIX = "punchcard_"
REFUND_KEY_METADATA = "punchcard_refund_key"
NOT_CONFIGURED = "Stripe is not configured: PUNCHCARD_STRIPE_SECRET_KEY is unset"

_CLIENT_EMAIL = "SELECT email FROM clients WHERE client_id = $1"

_RECORD_CHECKOUT = """
INSERT INTO stripe_checkouts AS c
    (offer_key, package_id, client_id, type_code, amount_cents, currency, session_id, url,
     expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (offer_key) DO UPDATE SET
    session_id = EXCLUDED.session_id, url = EXCLUDED.url, expires_at = EXCLUDED.expires_at,
    amount_cents = EXCLUDED.amount_cents, currency = EXCLUDED.currency, updated_at = now()
"""

_ANSWERED_REFUND = """
SELECT refund_id, status, amount_cents FROM stripe_refunds
WHERE refund_key = $1 AND refund_id IS NOT NULL
"""

# A refund Stripe has answered is never re-requested: the upsert leaves it alone.
_BEGIN_REFUND = """
INSERT INTO stripe_refunds AS r
    (refund_key, package_id, client_id, payment_intent_id, amount_cents, status, attempts)
VALUES ($1, $2, $3, $4, $5, 'requested', 1)
ON CONFLICT (refund_key) DO UPDATE SET
    status = 'requested', attempts = r.attempts + 1, updated_at = now()
WHERE r.refund_id IS NULL
RETURNING r.attempts
"""

_FINISH_REFUND = """
UPDATE stripe_refunds
SET refund_id = $2, status = $3, amount_cents = $4, last_error = NULL, updated_at = now()
WHERE refund_key = $1
"""

_FAIL_REFUND = """
UPDATE stripe_refunds SET status = $2, last_error = $3, updated_at = now()
WHERE refund_key = $1 AND refund_id IS NULL
"""

_OURS = """
SELECT EXISTS (
    SELECT 1 FROM stripe_refunds
    WHERE refund_id = $1 OR ($2::text IS NOT NULL AND refund_key = $2)
)
"""


def checkout_idempotency_key(offer_key: str) -> str:
    """Stripe's Idempotency-Key for an offer: stable, short, and free of the key's text."""
    return "punchcard-checkout-" + hashlib.sha256(offer_key.encode()).hexdigest()


def refund_idempotency_key(refund_key: str) -> str:
    """Stripe's Idempotency-Key for a refund key."""
    return "punchcard-refund-" + hashlib.sha256(refund_key.encode()).hexdigest()


async def refund_issued_by_us(
    pool: asyncpg.Pool, refund_id: str, *, refund_key: str | None = None
) -> bool:
    """Whether a refund seen in a webhook (`charge.refunded`) came from ISSUE_REFUND.

    Args:
        pool: the database pool.
        refund_id: Stripe's `re_…` id.
        refund_key: the refund's `metadata[punchcard_refund_key]`, if it has one; it matches
            even when the webhook arrives before the activity recorded Stripe's answer.
    """
    return bool(await pool.fetchval(_OURS, refund_id, refund_key))


def renewal_metadata(input: RenewalCheckoutInput) -> dict[str, str]:
    """What the payments intake reads back from the Session and the PaymentIntent."""
    return {
        "punchcard_client_id": input.client_id,
        "punchcard_type_code": input.type_code,
        "punchcard_renews_package_id": input.package_id,
        "punchcard_offer_key": input.offer_key,
    }


def _describe(err: BaseException) -> str:
    if isinstance(err, ApplicationError):
        return f"{err.type or type(err).__name__}: {err.message}"
    return f"{type(err).__name__}: {err}"


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else None


class PaymentActivities:
    """Stripe Checkout and Refunds; with `stripe` None, checkout falls back to `renewal_url`."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        stripe: StripeApi | None,
        renewal_url: str,
        currency: str = "usd",
        success_url: str,
        cancel_url: str | None = None,
    ) -> None:
        self._pool = pool
        self._stripe = stripe
        self._renewal_url = renewal_url
        self._currency = currency.lower()
        self._success_url = success_url
        self._cancel_url = cancel_url

    async def create_renewal_checkout(self, input: RenewalCheckoutInput) -> RenewalCheckoutResult:
        """Create (or replay) the Checkout Session for one renewal offer.

        Without Stripe, answers `not_configured` with the spa's renewal page instead.
        """
        fallback = self._renewal_url.format(package_id=input.package_id)
        if self._stripe is None:
            return RenewalCheckoutResult(status="not_configured", url=fallback)
        email = await self._pool.fetchval(_CLIENT_EMAIL, input.client_id)
        session = await self._stripe.create_checkout_session(
            self._checkout_params(input, email),
            idempotency_key=checkout_idempotency_key(input.offer_key),
        )
        session_id, url = session["id"], session.get("url")
        if not isinstance(url, str) or not url:
            raise ApplicationError(
                f"Stripe checkout session {session_id} has no url",
                type=BAD_CONFIGURATION,
                non_retryable=True,
            )
        await self._pool.execute(
            _RECORD_CHECKOUT,
            input.offer_key,
            input.package_id,
            input.client_id,
            input.type_code,
            input.price_cents,
            self._currency,
            session_id,
            url,
            _timestamp(session.get("expires_at")),
        )
        activity.logger.info(
            "renewal checkout %s for package %s (offer %s)",
            session_id,
            input.package_id,
            input.offer_key,
        )
        return RenewalCheckoutResult(status="created", url=url, session_id=session_id)

    @activity.defn(name=contracts.ISSUE_REFUND.name)
    async def issue_refund(self, input: RefundInput) -> RefundResult:
        """Refund part of a payment, once per refund key; the answer is recorded.

        Raises:
            ApplicationError: BAD_CONFIGURATION when Stripe is not configured.
            StripeError: retryable for transient trouble, PROVIDER_REJECTED for Stripe's
                refusals (already refunded, amount too large, unknown payment).
        """
        stripe = self._stripe
        if stripe is None:
            raise ApplicationError(NOT_CONFIGURED, type=BAD_CONFIGURATION, non_retryable=True)
        answered = await self._pool.fetchrow(_ANSWERED_REFUND, input.refund_key)
        if answered is not None:
            return RefundResult(
                refund_id=answered["refund_id"],
                status=answered["status"],
                amount_cents=answered["amount_cents"],
            )
        attempts = await self._pool.fetchval(
            _BEGIN_REFUND,
            input.refund_key,
            input.package_id,
            input.client_id,
            input.payment_intent_id,
            input.amount_cents,
        )
        params: dict[str, FormValue] = {
            "payment_intent": input.payment_intent_id,
            "amount": input.amount_cents,
            "reason": "requested_by_customer",
            "metadata": {
                "punchcard_package_id": input.package_id,
                REFUND_KEY_METADATA: input.refund_key,
            },
        }
        try:
            refund = await stripe.create_refund(
                params, idempotency_key=refund_idempotency_key(input.refund_key)
            )
        except ApplicationError as err:
            status = "rejected" if err.non_retryable else "requested"
            await self._pool.execute(_FAIL_REFUND, input.refund_key, status, _describe(err))
            activity.logger.warning(
                "refund %s attempt %s failed: %s", input.refund_key, attempts, err.type
            )
            raise
        result = RefundResult(
            refund_id=refund["id"],
            status=str(refund.get("status") or "pending"),
            amount_cents=(
                refund["amount"] if isinstance(refund.get("amount"), int) else input.amount_cents
            ),
        )
        await self._pool.execute(
            _FINISH_REFUND, input.refund_key, result.refund_id, result.status, result.amount_cents
        )
        activity.logger.info(
            "refund %s issued for package %s: %s", result.refund_id, input.package_id, result.status
        )
        return result

    def _checkout_params(
        self, input: RenewalCheckoutInput, email: str | None
    ) -> dict[str, FormValue]:
        metadata = renewal_metadata(input)
        return {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": self._currency,
                        "unit_amount": input.price_cents,
                        "product_data": {"name": input.name},
                    },
                    "quantity": 1,
                }
            ],
            "success_url": self._success_url.replace("{package_id}", input.package_id),
            "cancel_url": (
                self._cancel_url.replace("{package_id}", input.package_id)
                if self._cancel_url
                else None
            ),
            "client_reference_id": f"renewal:{input.package_id}",
            "customer_email": email or None,
            "metadata": metadata,
            # Session metadata is not copied to the PaymentIntent (§1.5): send it twice.
            "payment_intent_data": {"metadata": metadata},
        }
