"""A renewal paid online is also sold in Mindbody, so the client holds the pricing option
there and books against it like any pass sold at the desk.

    POST /public/v6/sale/checkoutshoppingcart       (Api-Key, SiteId, staff token)
    {"ClientId": "100015531", "CartId": "punchcard-<package id>", "InStore": true,
     "SendEmail": false, "Test": false,
     "Items": [{"Item": {"Type": "Service", "Metadata": {"Id": 10105}}, "Quantity": 1}],
     "Payments": [{"Type": "Comp", "Metadata": {"Amount": 1800.0}}]}
    → {"ShoppingCart": {"Id": "...", "GrandTotal": 1800.0, ...}, ...}

`Type: Service` is a pricing option (Mindbody's `GET /sale/services` lists their ids); the
payment is a Comp (the money is already in Stripe) or a Custom payment method the spa
created for it (`custom:<id>`, e.g. "Paid online (Stripe)"), for the amount the client
paid, which must be the pricing option's price in Mindbody. Only packages paid through
Stripe (a payment intent on the package row) whose type is mapped
(PUNCHCARD_MINDBODY_RENEWAL_PRICING_OPTIONS) are sold, once: the cart id is remembered in
integration_syncs (target `mindbody_sale`) and later versions of the package answer from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.booking.mindbody import MindbodyApi
from activities.writeback.booking import Written, answer_or_raise
from workflows.contracts import PackageSync

TARGET = "mindbody_sale"


@dataclass(frozen=True)
class SalePayment:
    """How Mindbody records the sale's payment: Comp, or the spa's custom method id."""

    custom_method_id: int | None = None

    def as_payment(self, amount: Decimal) -> dict[str, Any]:
        if self.custom_method_id is None:
            return {"Type": "Comp", "Metadata": {"Amount": float(amount)}}
        return {
            "Type": "Custom",
            "Metadata": {"Amount": float(amount), "Id": self.custom_method_id},
        }


def parse_pricing_options(text: str) -> dict[str, int]:
    """ "laser6=10105, peel4=10106" → package type code → Mindbody pricing option id.

    Raises:
        ValueError: an entry without `=` or whose id is not a number.
    """
    table: dict[str, int] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        code, sep, option = (part.strip() for part in entry.partition("="))
        if not sep or not code or not option.isdigit():
            raise ValueError(
                f"Mindbody pricing option entry {entry!r} is not type_code=<pricing option id>"
            )
        table[code] = int(option)
    return table


def parse_payment(text: str) -> SalePayment:
    """ "comp" or "custom:<payment method id>".

    Raises:
        ValueError: anything else.
    """
    value = text.strip().lower()
    if value == "comp":
        return SalePayment()
    kind, _, method = value.partition(":")
    if kind == "custom" and method.strip().isdigit():
        return SalePayment(custom_method_id=int(method))
    raise ValueError(f"Mindbody renewal payment {text!r} is not comp or custom:<id>")


class MindbodyRenewalSale:
    """Sells a Stripe-paid package's pricing option to the linked Mindbody client once."""

    name = TARGET

    def __init__(
        self,
        api: MindbodyApi,
        *,
        site_id: str,
        pricing_options: dict[str, int],
        payment: SalePayment,
        location_id: int | None = None,
    ) -> None:
        self._api = api
        self._site_id = site_id
        self._options = dict(pricing_options)
        self._payment = payment
        self._location_id = location_id

    def sells(self, type_code: str) -> bool:
        return type_code in self._options

    def cart(self, mindbody_client: str, sync: PackageSync, paid_cents: int) -> dict[str, Any]:
        cart: dict[str, Any] = {
            "ClientId": mindbody_client,
            "CartId": f"punchcard-{sync.package_id}",
            "InStore": True,
            "SendEmail": False,
            "Test": False,
            "Items": [
                {
                    "Item": {"Type": "Service", "Metadata": {"Id": self._options[sync.type_code]}},
                    "Quantity": 1,
                }
            ],
            "Payments": [self._payment.as_payment(Decimal(paid_cents) / 100)],
        }
        if self._location_id is not None:
            cart["LocationId"] = self._location_id
        return cart

    async def sell(
        self, mindbody_client: str, sync: PackageSync, paid_cents: int, ref: str | None
    ) -> Written:
        """The sale, or the one already made (`ref`: its cart id)."""
        if ref:
            return Written("updated", f"sold in Mindbody before (cart {ref})", ref)
        try:
            answer = await self._api.checkout_shopping_cart(
                self._site_id, self.cart(mindbody_client, sync, paid_cents)
            )
        except ApplicationError as err:  # a refusal is recorded; trouble is retried
            return answer_or_raise(err, self.name, "PUNCHCARD_MINDBODY_STAFF_TOKEN")
        cart = answer.get("ShoppingCart")
        cart_id = str(cart.get("Id")) if isinstance(cart, dict) and cart.get("Id") else None
        ref = cart_id or f"punchcard-{sync.package_id}"
        option = self._options[sync.type_code]
        return Written(
            "updated",
            f"pricing option {option} sold to Mindbody client {mindbody_client} (cart {ref})",
            ref,
        )
