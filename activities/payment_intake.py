"""Activities of the payment workflow: tie a Stripe payment to a client and package type,
queue what cannot be tied, and hand refunds to the packages a payment bought.

Ties come first from our own metadata (the renewal Checkout Session carries client, type
and the package it renews), then from the customer's email when exactly one client has
it. Anything else is a person's call: the review queue.
"""

from __future__ import annotations

import logging
from datetime import UTC

import asyncpg
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

import workflows.payment_models as pm
from activities import sales
from activities.repository import ClientRepository, PackageTypeRepository, ReviewQueue
from workers.settings import Settings
from workflows.ids import package_workflow_id, stripe_package_id
from workflows.models import PackageAnswer, PackageInput, PaymentRef

log = logging.getLogger("punchcard.payments")

_CLIENT_BY_EMAIL = "SELECT client_id FROM clients WHERE lower(email) = lower($1) LIMIT 2"
_PACKAGES_FOR_PAYMENT = """
SELECT package_id FROM packages WHERE payment_intent_id = $1 ORDER BY package_id
"""


class PaymentIntakeActivities:
    def __init__(self, *, pool: asyncpg.Pool, client: Client, settings: Settings) -> None:
        self._pool = pool
        self._client = client
        self._settings = settings
        self._clients = ClientRepository(pool)
        self._types = PackageTypeRepository(pool)
        self._review = ReviewQueue(pool)

    @activity.defn(name=pm.PREPARE_SALE)
    async def prepare_sale(self, event: pm.StripePaymentEvent) -> pm.PrepareSaleResult:
        """The package this payment bought, or why it cannot be told."""
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
        terms = package_type.terms()
        if event.amount_cents:
            terms = terms.model_copy(update={"price_cents": event.amount_cents})
        notices = sales.notice_policy(self._settings)
        purchased_at = event.created.astimezone(UTC)
        package = PackageInput(
            package_id=stripe_package_id(event.payment_intent_id),
            client_id=client_id,
            terms=terms,
            purchased_at=purchased_at,
            expires_at=sales.expiry_for(
                package_type, purchased_at, self._settings, notices.timezone
            ),
            sold_by="stripe",
            payment=PaymentRef(
                payment_intent_id=event.payment_intent_id,
                checkout_session_id=event.checkout_session_id,
                amount_cents=event.amount_cents or None,
            ),
            renews_package_id=event.metadata.get("punchcard_renews_package_id"),
            notices=notices,
        )
        return pm.PrepareSaleResult(package_input=package)

    @activity.defn(name=pm.OPEN_PAYMENT_REVIEW)
    async def open_review(self, item: pm.PaymentReviewInput) -> None:
        added = await self._review.open(
            item_id=item.item_id,
            kind="payment",
            reason=item.reason,
            detail=item.detail,
            client_id=item.client_id,
            platform="stripe",
        )
        log.info("payment review item %s %s", item.item_id, "opened" if added else "already open")

    @activity.defn(name=pm.CLOSE_PAYMENT_REVIEW)
    async def close_review(self, close: pm.CloseReviewInput) -> None:
        await self._review.close(
            close.item_id,
            status="done",
            resolved_by="stripe",
            resolution=close.resolution,
            package_id=close.package_id,
        )

    @activity.defn(name=pm.PACKAGES_FOR_PAYMENT)
    async def packages_for_payment(self, payment_intent_id: str) -> list[str]:
        rows = await self._pool.fetch(_PACKAGES_FOR_PAYMENT, payment_intent_id)
        return [r["package_id"] for r in rows]

    @activity.defn(name=pm.DELIVER_REFUND)
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
