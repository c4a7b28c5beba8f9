"""Payment activities: renewal checkouts and refunds through the configured processor
(Stripe or Square, `base.Processor`), recorded in Postgres.

Each call carries an idempotency key derived from the caller's business key (the offer
key, the refund key), so a retried activity replays the processor's first answer: one
checkout per offer, one refund per refund key. Balances stay ours; processors only move
money.

`stripe_checkouts` keeps the checkout of every offer (the payments intake can map a
payment back to its offer; `processor` says whose). A checkout that expired is made
again under the offer's next `generation`, whose key is new: a stable renewal link
(`renewal_links`) clicked days later gets a fresh page, and two clicks at once get the
same one. `stripe_refunds` gets its row *before* the request, so a refund webhook that
arrives before our own write is still recognised as ours (`refund_issued_by_us`). A
refund already answered is returned from that row without asking again, which also
covers Stripe pruning idempotency keys after a day.

Failures: `ProviderError`/`StripeError` from the adapters, and for a refund with no
processor configured, `ApplicationError(type=BAD_CONFIGURATION, non_retryable)`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.payments.base import Checkout, Processor, processor_of_payment
from activities.payments.renewal_links import RenewalLinks
from activities.payments.stripe_api import StripeApi
from activities.payments.stripe_processor import StripeProcessor
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
NOT_CONFIGURED_SQUARE = (
    "Square is not configured: PUNCHCARD_SQUARE_ACCESS_TOKEN or PUNCHCARD_SQUARE_LOCATION_ID "
    "is unset"
)

_CLIENT_EMAIL = "SELECT email FROM clients WHERE client_id = $1"

_RECORD_CHECKOUT = """
INSERT INTO stripe_checkouts AS c
    (offer_key, package_id, client_id, type_code, amount_cents, currency, session_id, url,
     expires_at, generation, processor, order_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (offer_key) DO UPDATE SET
    session_id = EXCLUDED.session_id, url = EXCLUDED.url, expires_at = EXCLUDED.expires_at,
    amount_cents = EXCLUDED.amount_cents, currency = EXCLUDED.currency,
    generation = EXCLUDED.generation, processor = EXCLUDED.processor,
    order_id = EXCLUDED.order_id, updated_at = now()
WHERE c.generation <= EXCLUDED.generation
"""

_LAST_CHECKOUT = """
SELECT url, expires_at, generation, processor FROM stripe_checkouts WHERE offer_key = $1
"""

_ANSWERED_REFUND = """
SELECT refund_id, status, amount_cents FROM stripe_refunds
WHERE refund_key = $1 AND refund_id IS NOT NULL
"""

# A refund Stripe has answered is never re-requested: the upsert leaves it alone.
_BEGIN_REFUND = """
INSERT INTO stripe_refunds AS r
    (refund_key, package_id, client_id, payment_intent_id, amount_cents, status, attempts,
     processor)
VALUES ($1, $2, $3, $4, $5, 'requested', 1, $6)
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


# A checkout this close to its expiry is made again rather than handed out.
EXPIRY_MARGIN = timedelta(minutes=15)


def checkout_idempotency_key(offer_key: str, generation: int = 0) -> str:
    """The idempotency key of an offer's checkout: stable, short, free of the key's text;
    generation 0 is the key renewal checkouts always had."""
    business = offer_key if generation == 0 else f"{offer_key}#{generation}"
    return "punchcard-checkout-" + hashlib.sha256(business.encode()).hexdigest()


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


async def our_refund_key(pool: asyncpg.Pool, refund_id: str) -> str | None:
    """The refund key of a refund we issued, by the processor's id (Square refunds carry
    no metadata: a `refund.updated` is known as ours by the id we recorded)."""
    key: str | None = await pool.fetchval(
        "SELECT refund_key FROM stripe_refunds WHERE refund_id = $1", refund_id
    )
    return key


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


class PaymentActivities:
    """Renewal checkouts and refunds through `processor` (or a Stripe API as `stripe`);
    with neither, checkout falls back to `renewal_url`. With `links`, renewal offers carry
    a stable `/renew/{token}` link instead of a checkout URL."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        stripe: StripeApi | None = None,
        renewal_url: str,
        currency: str = "usd",
        success_url: str = "",
        cancel_url: str | None = None,
        processor: Processor | None = None,
        refunders: Sequence[Processor] = (),
        links: RenewalLinks | None = None,
    ) -> None:
        """`processor` makes renewal checkouts; refunds go to the processor the payment
        was made with, `processor` or one of `refunders` (a spa that moved from Stripe to
        Square still refunds its Stripe payments through Stripe)."""
        self._pool = pool
        if processor is None and stripe is not None:
            processor = StripeProcessor(
                stripe, currency=currency, success_url=success_url, cancel_url=cancel_url
            )
        self._processor = processor
        self._refunders = {p.name: p for p in (*refunders, *([processor] if processor else []))}
        self._renewal_url = renewal_url
        self._currency = currency.lower()
        self.links = links

    @property
    def configured(self) -> bool:
        return self._processor is not None

    def fallback_url(self, package_id: str) -> str:
        """The spa's renewal page for a package."""
        return self._renewal_url.format(package_id=package_id)

    async def renewal_offer_link(self, input: RenewalCheckoutInput) -> str:
        """The link a renewal offer goes out with: a stable `/renew/{token}` link when
        links are on and a processor is configured (the checkout is made on click), else
        the offer's checkout URL now, else the spa's renewal page."""
        if self.links is not None and self._processor is not None:
            return await self.links.issue(input)
        return (await self.create_renewal_checkout(input)).url

    async def create_renewal_checkout(self, input: RenewalCheckoutInput) -> RenewalCheckoutResult:
        """Create (or replay) the checkout of one renewal offer (its first generation).

        Without a processor, answers `not_configured` with the spa's renewal page instead.
        """
        if self._processor is None:
            return RenewalCheckoutResult(
                status="not_configured", url=self.fallback_url(input.package_id)
            )
        checkout = await self._checkout(input, generation=0)
        return RenewalCheckoutResult(status="created", url=checkout.url, session_id=checkout.id)

    async def fresh_renewal_checkout(
        self, input: RenewalCheckoutInput, *, now: datetime | None = None
    ) -> RenewalCheckoutResult:
        """A checkout for a clicked renewal link: the offer's last one while it is open,
        else a new one under the next generation's key (the same for concurrent clicks)."""
        if self._processor is None:
            return RenewalCheckoutResult(
                status="not_configured", url=self.fallback_url(input.package_id)
            )
        row = await self._pool.fetchrow(_LAST_CHECKOUT, input.offer_key)
        now = now or datetime.now(UTC)
        if row is None:
            generation = 0
        elif row["processor"] == self._processor.name and (
            row["expires_at"] is None or row["expires_at"] > now + EXPIRY_MARGIN
        ):
            return RenewalCheckoutResult(status="created", url=row["url"])
        else:
            generation = row["generation"] + 1
        checkout = await self._checkout(input, generation=generation)
        return RenewalCheckoutResult(status="created", url=checkout.url, session_id=checkout.id)

    async def _checkout(self, input: RenewalCheckoutInput, *, generation: int) -> Checkout:
        processor = self._processor
        assert processor is not None
        email = await self._pool.fetchval(_CLIENT_EMAIL, input.client_id)
        checkout = await processor.create_checkout(
            input,
            email=email,
            metadata=renewal_metadata(input),
            idempotency_key=checkout_idempotency_key(input.offer_key, generation),
        )
        await self._pool.execute(
            _RECORD_CHECKOUT,
            input.offer_key,
            input.package_id,
            input.client_id,
            input.type_code,
            input.price_cents,
            self._currency,
            checkout.id,
            checkout.url,
            checkout.expires_at,
            generation,
            processor.name,
            checkout.order_id,
        )
        activity.logger.info(
            "renewal checkout %s (%s, generation %s) for package %s (offer %s)",
            checkout.id,
            processor.name,
            generation,
            input.package_id,
            input.offer_key,
        )
        return checkout

    @activity.defn(name=contracts.ISSUE_REFUND.name)
    async def issue_refund(self, input: RefundInput) -> RefundResult:
        """Refund part of a payment, once per refund key; the answer is recorded.

        Raises:
            ApplicationError: BAD_CONFIGURATION when no processor is configured.
            ProviderError/StripeError: retryable for transient trouble, non-retryable for
                the processor's refusals (already refunded, amount too large, unknown payment).
        """
        processor = self._refunders.get(processor_of_payment(input.payment_intent_id))
        if processor is None:
            raise ApplicationError(
                NOT_CONFIGURED
                if processor_of_payment(input.payment_intent_id) == "stripe"
                else NOT_CONFIGURED_SQUARE,
                type=BAD_CONFIGURATION,
                non_retryable=True,
            )
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
            processor.name,
        )
        metadata = {"punchcard_package_id": input.package_id, REFUND_KEY_METADATA: input.refund_key}
        try:
            refund = await processor.refund(
                input, metadata=metadata, idempotency_key=refund_idempotency_key(input.refund_key)
            )
        except ApplicationError as err:
            status = "rejected" if err.non_retryable else "requested"
            await self._pool.execute(_FAIL_REFUND, input.refund_key, status, _describe(err))
            activity.logger.warning(
                "refund %s attempt %s failed: %s", input.refund_key, attempts, err.type
            )
            raise
        result = RefundResult(
            refund_id=refund.id, status=refund.status, amount_cents=refund.amount_cents
        )
        await self._pool.execute(
            _FINISH_REFUND, input.refund_key, result.refund_id, result.status, result.amount_cents
        )
        activity.logger.info(
            "refund %s issued for package %s: %s", result.refund_id, input.package_id, result.status
        )
        return result
