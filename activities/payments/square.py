"""Square as the payment processor: renewal checkout through Payment Links, refunds
through the Refunds API.

Square's conventions: `Authorization: Bearer <access token>`, a `Square-Version` header
pinning the API version, JSON bodies, and an `idempotency_key` in the body of every
create call (a retry under the same key answers the first result). Errors come as
`{"errors": [{"category", "code", "detail", "field"}]}`; `provider_errors` turns them
into the error tree (429/5xx retried, 401/403 configuration, other 4xx rejected).

Checkout: `POST /v2/online-checkout/payment-links` with `quick_pay` {name, price_money,
location_id}. Square creates an Order for the link and names it in the answer
(`payment_link.order_id`); the Payment made on that page carries the same `order_id`,
which is how a `payment.updated` is tied back to our offer (recorded in
`stripe_checkouts.order_id`). Quick pay takes no metadata, so `payment_note` (copied to
the Payment) carries the offer's reference for people reading Square's dashboard.
A payment link does not expire.

Refunds: `POST /v2/refunds` {idempotency_key (at most 45 characters), payment_id,
amount_money, reason}; the refund answers PENDING, then `refund.updated` says COMPLETED.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from pydantic import SecretStr

from activities.payments.base import Checkout, ProcessorName, Refund
from activities.provider_errors import ProviderError, from_response, scrub, send
from workflows.contracts import RefundInput, RenewalCheckoutInput

PROVIDER = "Square"
DEFAULT_BASE_URL = "https://connect.squareup.com"
SANDBOX_BASE_URL = "https://connect.squareupsandbox.com"
# The version these shapes were written against; configurable (PUNCHCARD_SQUARE_VERSION).
DEFAULT_VERSION = "2025-01-23"
PAYMENT_LINKS_PATH = "/v2/online-checkout/payment-links"
REFUNDS_PATH = "/v2/refunds"
MAX_LINK_KEY = 192
MAX_REFUND_KEY = 45
MAX_NOTE = 500
MAX_REASON = 192


def square_key(key: str, limit: int) -> str:
    """A key within Square's length limit: as is when it fits, else a digest of it."""
    if len(key) <= limit:
        return key
    return "pc-" + hashlib.sha256(key.encode()).hexdigest()[: limit - 3]


def _error_words(response: httpx.Response) -> tuple[str | None, str | None]:
    """Square's `errors[0]` as (code, "CODE: detail")."""
    try:
        body: Any = response.json()
    except ValueError:
        return None, None
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None, None
    first = errors[0]
    code = first.get("code") if isinstance(first.get("code"), str) else None
    detail = first.get("detail") if isinstance(first.get("detail"), str) else ""
    field = first.get("field")
    words = " ".join(part for part in (code, detail) if part)
    if isinstance(field, str) and field:
        words += f" (field {field})"
    return code, scrub(words) if words else None


class SquareApi:
    """The two Square calls Punchcard makes, over a shared `httpx.AsyncClient`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        access_token: SecretStr,
        base_url: str = DEFAULT_BASE_URL,
        version: str = DEFAULT_VERSION,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {access_token.get_secret_value()}",
            "Square-Version": version,
            "Accept": "application/json",
        }

    async def post(self, path: str, body: dict[str, Any], *, answer: str) -> dict[str, Any]:
        """POST `body`; returns the answer's `answer` object (`payment_link`, `refund`).

        Raises:
            ProviderError: retryable for transient trouble, non-retryable otherwise.
        """
        response = await send(
            self._http, PROVIDER, "POST", self._base_url + path, json=body, headers=self._headers
        )
        if not response.is_success:
            code, words = _error_words(response)
            raise from_response(
                response,
                PROVIDER,
                message=words,
                code=code,
                config_hint="check PUNCHCARD_SQUARE_ACCESS_TOKEN",
            )
        try:
            data: Any = response.json()
        except ValueError:
            data = None
        found = data.get(answer) if isinstance(data, dict) else None
        if not isinstance(found, dict) or not isinstance(found.get("id"), str):
            raise ProviderError(
                PROVIDER,
                f"Square {path} answered {response.status_code} without a {answer}",
                kind="unavailable",
                http_status=response.status_code,
            )
        return found


class SquareProcessor:
    """Payment Links priced inline (quick pay) at one location; refunds by payment id."""

    name: ProcessorName = "square"

    def __init__(
        self,
        api: SquareApi,
        *,
        location_id: str,
        currency: str,
        redirect_url: str | None = None,
    ) -> None:
        self._api = api
        self._location_id = location_id
        self._currency = currency.upper()
        self._redirect_url = redirect_url

    async def create_checkout(
        self,
        offer: RenewalCheckoutInput,
        *,
        email: str | None,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Checkout:
        body: dict[str, Any] = {
            "idempotency_key": square_key(idempotency_key, MAX_LINK_KEY),
            "description": f"Punchcard renewal of {offer.package_id}",
            "quick_pay": {
                "name": offer.name,
                "price_money": {"amount": offer.price_cents, "currency": self._currency},
                "location_id": self._location_id,
            },
            "payment_note": f"Punchcard renewal {offer.offer_key}"[:MAX_NOTE],
        }
        if self._redirect_url:
            body["checkout_options"] = {
                "redirect_url": self._redirect_url.replace("{package_id}", offer.package_id)
            }
        if email:
            body["pre_populated_data"] = {"buyer_email": email}
        link = await self._api.post(PAYMENT_LINKS_PATH, body, answer="payment_link")
        url, order_id = link.get("url") or link.get("long_url"), link.get("order_id")
        if not isinstance(url, str) or not isinstance(order_id, str):
            raise ProviderError(
                PROVIDER,
                f"Square payment link {link['id']} came without its url or order_id",
                kind="unavailable",
            )
        return Checkout(id=link["id"], url=url, order_id=order_id)

    async def refund(
        self, input: RefundInput, *, metadata: dict[str, str], idempotency_key: str
    ) -> Refund:
        body = {
            "idempotency_key": square_key(idempotency_key, MAX_REFUND_KEY),
            "payment_id": input.payment_intent_id,
            "amount_money": {"amount": input.amount_cents, "currency": self._currency},
            "reason": f"Punchcard: {input.reason}"[:MAX_REASON],
        }
        refund = await self._api.post(REFUNDS_PATH, body, answer="refund")
        money = refund.get("amount_money")
        amount = money.get("amount") if isinstance(money, dict) else None
        return Refund(
            id=refund["id"],
            status=str(refund.get("status") or "PENDING").lower(),
            amount_cents=amount if isinstance(amount, int) else input.amount_cents,
        )
