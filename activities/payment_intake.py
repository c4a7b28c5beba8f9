"""Activities of the payment workflow: tie a Stripe payment to a client and package type,
queue what cannot be tied, and hand refunds to the packages a payment bought.

Ties come first from our own metadata (the renewal Checkout Session carries client, type
and the package it renews), then from the customer's email when exactly one client has
it. Anything else is a person's call: the review queue.

The amount must be the price, to the cent, in the configured currency: the amount our own
Checkout Session asked for (a renewal is priced at its package's terms, recorded in
`stripe_checkouts`), otherwise the package type's list price. Stripe reports the amount
after discounts (`amount_total`, `amount_received`), so a coupon or promotion code makes
the payment differ and sends it to review (`amount_mismatch`), as does an amount missing
or 0 on a paid event, or another currency (`currency_mismatch`); staff sell it by hand
at the price they accept, or refund it. Nothing is sold at a price that was not paid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC

import asyncpg
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

import workflows.payment_models as pm
from activities.payments.base import processor_of_payment
from activities.payments.renewal_links import mark_renewed
from activities.repository import (
    ClientRepository,
    LocationRepository,
    PackageTypeRecord,
    PackageTypeRepository,
    ReviewQueue,
)
from activities.sales import SalePolicy
from workflows.ids import package_workflow_id, stripe_package_id
from workflows.models import PackageAnswer, PackageInput, PaymentRef
from workflows.texts import money

log = logging.getLogger("punchcard.payments")

_CLIENT_BY_EMAIL = "SELECT client_id FROM clients WHERE lower(email) = lower($1) LIMIT 2"
# The session we created for a renewal offer: its amount is the price (the package's own
# terms, which may differ from today's list price). Client and type must agree too.
_OUR_CHECKOUT = """
SELECT amount_cents, currency FROM stripe_checkouts
WHERE (session_id = $1 OR order_id = $1 OR offer_key = $2) AND client_id = $3
  AND type_code = $4
ORDER BY (session_id = $1 OR order_id = $1) DESC NULLS LAST
LIMIT 1
"""
_OFFER_OF_ORDER = """
SELECT offer_key, package_id, client_id, type_code FROM stripe_checkouts
WHERE order_id = $1 AND processor = 'square'
"""
_PACKAGES_FOR_PAYMENT = """
SELECT package_id FROM packages WHERE payment_intent_id = $1 ORDER BY package_id
"""


AMOUNT_MISMATCH = "amount_mismatch"
CURRENCY_MISMATCH = "currency_mismatch"


@dataclass(frozen=True)
class _Price:
    cents: int
    currency: str
    source: str  # where the price comes from, for the review item


def _mismatch(event: pm.StripePaymentEvent, price: _Price) -> pm.PrepareSaleResult | None:
    """Why this payment cannot be sold at `price`, as a review; None when it matches."""
    expected = f"{price.source} costs {money(price.cents)} {price.currency.upper()}"
    if event.currency is None or event.currency.lower() != price.currency:
        return pm.PrepareSaleResult(
            review_reason=CURRENCY_MISMATCH,
            unmatched_reason=(
                f"paid in {(event.currency or 'no currency').upper()}, but {expected}: "
                "not sold; sell by hand or refund"
            ),
        )
    if event.amount_cents <= 0:
        return pm.PrepareSaleResult(
            review_reason=AMOUNT_MISMATCH,
            unmatched_reason=(
                f"Stripe reports no amount paid, but {expected}: not sold; check the payment "
                "in Stripe, then sell by hand or refund"
            ),
        )
    if event.amount_cents != price.cents:
        return pm.PrepareSaleResult(
            review_reason=AMOUNT_MISMATCH,
            unmatched_reason=(
                f"paid {money(event.amount_cents)}, expected {money(price.cents)} "
                f"({expected}; a discount or coupon counts as a difference): not sold; "
                "sell by hand at the price you accept, or refund"
            ),
        )
    return None


class PaymentIntakeActivities:
    def __init__(
        self, *, pool: asyncpg.Pool, client: Client, sales: SalePolicy, currency: str
    ) -> None:
        """`currency` is the one Stripe payments must be in (a list price has no other)."""
        self._pool = pool
        self._client = client
        self._sales = sales
        self._currency = currency.lower()
        self._clients = ClientRepository(pool)
        self._types = PackageTypeRepository(pool)
        self._review = ReviewQueue(pool)
        self._locations = LocationRepository(pool)

    @activity.defn(name=pm.PREPARE_SALE.name)
    async def prepare_sale(self, event: pm.StripePaymentEvent) -> pm.PrepareSaleResult:
        """The package this payment bought, or why it cannot be told."""
        event = await self._with_our_offer(event)
        client_id = event.metadata.get("punchcard_client_id")
        if client_id is not None:
            if await self._clients.get(client_id) is None:
                return pm.PrepareSaleResult(unmatched_reason=f"unknown client {client_id!r}")
        elif event.customer_email:
            rows = await self._pool.fetch(_CLIENT_BY_EMAIL, event.customer_email)
            if len(rows) != 1:
                found = "no client" if not rows else "several clients"
                return pm.PrepareSaleResult(
                    unmatched_reason=f"no Punchcard metadata, and {found} with the payer's email"
                )
            client_id = rows[0]["client_id"]
        else:
            return pm.PrepareSaleResult(unmatched_reason="no Punchcard metadata and no email")
        type_code = event.metadata.get("punchcard_type_code")
        if type_code is None:
            return pm.PrepareSaleResult(
                unmatched_reason="no package type in the metadata (punchcard_type_code)"
            )
        package_type = await self._types.get(type_code)
        if package_type is None:
            return pm.PrepareSaleResult(unmatched_reason=f"unknown package type {type_code!r}")
        price = await self._price(event, client_id, package_type)
        mismatch = _mismatch(event, price)
        if mismatch is not None:
            return mismatch
        terms = self._sales.terms(package_type).model_copy(
            update={"price_cents": event.amount_cents}
        )
        renews = event.metadata.get("punchcard_renews_package_id")
        # A renewal stays where the package it renews was sold; any other sale goes to the
        # default location (none while the spa configured none).
        location = (renews and await self._locations.of_package(renews)) or (
            await self._locations.default()
        )
        notices = self._sales.notices
        if location is not None:
            notices = notices.model_copy(update={"timezone": location.timezone})
        purchased_at = event.created.astimezone(UTC)
        package = PackageInput(
            package_id=stripe_package_id(event.payment_intent_id),
            client_id=client_id,
            terms=terms,
            purchased_at=purchased_at,
            expires_at=self._sales.expires_at(package_type, purchased_at, notices.timezone),
            sold_by=event.processor,
            payment=PaymentRef(
                payment_intent_id=event.payment_intent_id,
                checkout_session_id=event.checkout_session_id,
                amount_cents=event.amount_cents,
            ),
            renews_package_id=renews,
            notices=notices,
            location_id=None if location is None else location.location_id,
        )
        offer_key = event.metadata.get("punchcard_offer_key")
        if offer_key is not None:
            # The offer's stable links now say "already renewed" instead of selling twice.
            await mark_renewed(self._pool, offer_key)
        return pm.PrepareSaleResult(package_input=package)

    async def _with_our_offer(self, event: pm.StripePaymentEvent) -> pm.StripePaymentEvent:
        """A Square payment carries no metadata: its payment link's Order, recorded when
        we made the link, names the offer (client, type, the package it renews)."""
        if (
            event.processor != "square"
            or event.checkout_session_id is None
            or "punchcard_client_id" in event.metadata
        ):
            return event
        row = await self._pool.fetchrow(_OFFER_OF_ORDER, event.checkout_session_id)
        if row is None:
            return event
        metadata = {
            **event.metadata,
            "punchcard_client_id": row["client_id"],
            "punchcard_type_code": row["type_code"],
            "punchcard_renews_package_id": row["package_id"],
            "punchcard_offer_key": row["offer_key"],
        }
        return event.model_copy(update={"metadata": metadata})

    async def _price(
        self, event: pm.StripePaymentEvent, client_id: str, package_type: PackageTypeRecord
    ) -> _Price:
        row = await self._pool.fetchrow(
            _OUR_CHECKOUT,
            event.checkout_session_id,
            event.metadata.get("punchcard_offer_key"),
            client_id,
            package_type.type_code,
        )
        if row is not None:
            return _Price(
                cents=row["amount_cents"],
                currency=row["currency"].lower(),
                source=f"our Checkout Session for {package_type.type_code}",
            )
        return _Price(
            cents=package_type.price_cents,
            currency=self._currency,
            source=f"package type {package_type.type_code}",
        )

    @activity.defn(name=pm.OPEN_PAYMENT_REVIEW.name)
    async def open_review(self, item: pm.PaymentReviewInput) -> None:
        added = await self._review.open(
            item_id=item.item_id,
            kind="payment",
            reason=item.reason,
            detail=item.detail,
            client_id=item.client_id,
            platform=processor_of_payment(item.payment_intent_id),
        )
        log.info("payment review item %s %s", item.item_id, "opened" if added else "already open")

    @activity.defn(name=pm.CLOSE_PAYMENT_REVIEW.name)
    async def close_review(self, close: pm.CloseReviewInput) -> None:
        await self._review.close(
            close.item_id,
            status="done",
            resolved_by="stripe",
            resolution=close.resolution,
            package_id=close.package_id,
        )

    @activity.defn(name=pm.PACKAGES_FOR_PAYMENT.name)
    async def packages_for_payment(self, payment_intent_id: str) -> list[str]:
        rows = await self._pool.fetch(_PACKAGES_FOR_PAYMENT, payment_intent_id)
        return [r["package_id"] for r in rows]

    @activity.defn(name=pm.DELIVER_REFUND.name)
    async def deliver_refund(self, delivery: pm.DeliverRefundInput) -> pm.DeliverRefundResult:
        """Hand one Stripe refund to a package; a refusal is an answer, not an error."""
        handle = self._client.get_workflow_handle(package_workflow_id(delivery.package_id))
        notice = delivery.notice
        try:
            answer = await handle.execute_update(
                "stripe_refund", notice, id=notice.key, result_type=PackageAnswer
            )
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError):
                return pm.DeliverRefundResult(outcome="refused", message=cause.message)
            raise
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            return pm.DeliverRefundResult(
                outcome="closed",
                message=f"package {delivery.package_id} is closed: refund left to staff",
            )
        return pm.DeliverRefundResult(outcome=answer.outcome, message=answer.message)
