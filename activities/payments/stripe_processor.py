"""Stripe as the payment processor: Checkout Sessions for renewals, Refunds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.payments.base import Checkout, ProcessorName, Refund
from activities.payments.stripe_api import FormValue, StripeApi
from workflows.contracts import RefundInput, RenewalCheckoutInput
from workflows.policies import BAD_CONFIGURATION


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else None


class StripeProcessor:
    """Checkout Sessions priced inline (`price_data`), metadata on Session and intent."""

    name: ProcessorName = "stripe"

    def __init__(
        self,
        api: StripeApi,
        *,
        currency: str,
        success_url: str,
        cancel_url: str | None = None,
    ) -> None:
        self._api = api
        self._currency = currency.lower()
        self._success_url = success_url
        self._cancel_url = cancel_url

    async def create_checkout(
        self,
        offer: RenewalCheckoutInput,
        *,
        email: str | None,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Checkout:
        params: dict[str, FormValue] = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": self._currency,
                        "unit_amount": offer.price_cents,
                        "product_data": {"name": offer.name},
                    },
                    "quantity": 1,
                }
            ],
            "success_url": self._success_url.replace("{package_id}", offer.package_id),
            "cancel_url": (
                self._cancel_url.replace("{package_id}", offer.package_id)
                if self._cancel_url
                else None
            ),
            "client_reference_id": f"renewal:{offer.package_id}",
            "customer_email": email or None,
            "metadata": metadata,
            # Session metadata is not copied to the PaymentIntent (§1.5): send it twice.
            "payment_intent_data": {"metadata": metadata},
        }
        session = await self._api.create_checkout_session(params, idempotency_key=idempotency_key)
        session_id, url = session["id"], session.get("url")
        if not isinstance(url, str) or not url:
            raise ApplicationError(
                f"Stripe checkout session {session_id} has no url",
                type=BAD_CONFIGURATION,
                non_retryable=True,
            )
        return Checkout(id=session_id, url=url, expires_at=_timestamp(session.get("expires_at")))

    async def refund(
        self, input: RefundInput, *, metadata: dict[str, str], idempotency_key: str
    ) -> Refund:
        params: dict[str, FormValue] = {
            "payment_intent": input.payment_intent_id,
            "amount": input.amount_cents,
            "reason": "requested_by_customer",
            "metadata": metadata,
        }
        refund = await self._api.create_refund(params, idempotency_key=idempotency_key)
        amount = refund.get("amount")
        return Refund(
            id=refund["id"],
            status=str(refund.get("status") or "pending"),
            amount_cents=amount if isinstance(amount, int) else input.amount_cents,
        )
