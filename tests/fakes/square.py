"""A local stand-in for Square's Checkout (Payment Links) and Refunds APIs, and its webhooks.

What it checks, as Square does: `Authorization: Bearer <token>` (401 with
`AUTHENTICATION_ERROR`/`UNAUTHORIZED` otherwise), a `Square-Version` header, JSON
bodies with the documented fields (unknown ones refused), amounts as `{amount,
currency}` Money, the location, and idempotency: the same `idempotency_key` with the
same body answers the first result again, with another body is a 400
`IDEMPOTENCY_KEY_REUSED`. Keys longer than Square's limits (192 for payment links, 45
for refunds) are refused. Errors use Square's shape `{"errors": [{category, code,
detail, field}]}`.

Payment links (`POST /v2/online-checkout/payment-links`, quick pay): Square makes a
DRAFT Order and answers `{payment_link: {id, version, order_id, url, long_url,
created_at, payment_note, ...}, related_resources: {orders: [...]}}`.

For end-to-end tests it plays the buyer (`pay_link`: a COMPLETED Payment naming the
link's order, carrying its `payment_note`), and builds `payment.updated` and
`refund.updated` notifications signed with `x-square-hmacsha256-signature` (base64
HMAC-SHA256 of notification URL + body, keyed by the subscription's signature key).
`fail_next(path, ...)` scripts failures before anything runs (nothing stored).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import string
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

PAYMENT_LINKS_PATH = "/v2/online-checkout/payment-links"
REFUNDS_PATH = "/v2/refunds"
_ALNUM = string.ascii_letters + string.digits
_LINK_FIELDS = frozenset(
    "idempotency_key description quick_pay order checkout_options pre_populated_data "
    "payment_note".split()
)
_QUICK_PAY_FIELDS = frozenset({"name", "price_money", "location_id"})
_REFUND_FIELDS = frozenset(
    "idempotency_key amount_money app_fee_money payment_id destination_id unlinked "
    "location_id customer_id reason payment_version_token team_member_id".split()
)


def square_id(length: int = 29) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class SquareRejection(Exception):
    def __init__(self, status: int, code: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.body = {
            "errors": [
                {
                    "category": (
                        "AUTHENTICATION_ERROR" if status == 401 else "INVALID_REQUEST_ERROR"
                    ),
                    "code": code,
                    "detail": detail,
                    **({"field": field} if field else {}),
                }
            ]
        }


def _bad(detail: str, field: str | None = None, code: str = "INVALID_VALUE") -> SquareRejection:
    return SquareRejection(400, code, detail, field)


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class SignedNotification:
    body: bytes
    headers: dict[str, str]


def sign(notification_url: str, body: bytes, key: str) -> str:
    digest = hmac.new(key.encode(), notification_url.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class SquareFake:
    access_token: str = "EAAAl" + "0" * 59
    signature_key: str = "square-test-signature-key"
    location_id: str = "L88917AVBK2S5"
    merchant_id: str = "ML82H4QPKMGXY"
    requests: list[RecordedRequest] = field(default_factory=list)
    links: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    base_url: str = ""
    _answers: dict[tuple[str, str], tuple[str, int, dict[str, Any]]] = field(default_factory=dict)
    _failures: dict[str, list[int]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    # --- scripting --------------------------------------------------------------------

    def fail_next(self, path: str, times: int = 1, *, status: int = 500) -> None:
        """Answer the next `times` authenticated POSTs to `path` with `status`, before
        anything runs (so the retry under the same key runs for real)."""
        self._failures.setdefault(path, []).extend([status] * times)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def refunds_for(self, payment_id: str) -> list[dict[str, Any]]:
        return [r for r in self.refunds.values() if r["payment_id"] == payment_id]

    def add_payment(self, amount: int, *, currency: str = "USD") -> str:
        """A COMPLETED payment refunds may be taken from (sold at the desk, say)."""
        payment_id, now = square_id(), _now()
        money = {"amount": amount, "currency": currency}
        self.payments[payment_id] = {
            "id": payment_id,
            "created_at": now,
            "updated_at": now,
            "amount_money": money,
            "total_money": dict(money),
            "status": "COMPLETED",
            "location_id": self.location_id,
            "order_id": square_id(),
        }
        return payment_id

    # --- the buyer's side ---------------------------------------------------------------

    def pay_link(self, link_id: str, *, email: str | None = None) -> dict[str, Any]:
        """The buyer pays on the link's page: a COMPLETED Payment for the link's order."""
        link = self.links[link_id]
        order = self.orders[link["order_id"]]
        if order["state"] != "DRAFT":
            raise ValueError(f"order {order['id']} is {order['state']}: already paid")
        money = copy.deepcopy(order["total_money"])
        payment_id = square_id()
        now = _now()
        payment = {
            "id": payment_id,
            "created_at": now,
            "updated_at": now,
            "amount_money": money,
            "total_money": copy.deepcopy(money),
            "approved_money": copy.deepcopy(money),
            "status": "COMPLETED",
            "source_type": "CARD",
            "location_id": self.location_id,
            "order_id": order["id"],
            "note": link.get("payment_note"),
            "buyer_email_address": email,
            "version_token": square_id(36),
        }
        self.payments[payment_id] = payment
        order["state"] = "OPEN"
        return copy.deepcopy(payment)

    # --- notifications ---------------------------------------------------------------

    def _envelope(self, kind: str, name: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {
            "merchant_id": self.merchant_id,
            "type": kind,
            "event_id": str(uuid.uuid4()),
            "created_at": _now(),
            "data": {"type": name, "id": obj["id"], "object": {name: copy.deepcopy(obj)}},
        }

    def payment_updated_event(self, payment_id: str) -> dict[str, Any]:
        return self._envelope("payment.updated", "payment", self.payments[payment_id])

    def refund_updated_event(self, refund_id: str) -> dict[str, Any]:
        return self._envelope("refund.updated", "refund", self.refunds[refund_id])

    def complete_refund(self, refund_id: str) -> None:
        """Square secured the funds: the refund goes from PENDING to COMPLETED."""
        self.refunds[refund_id].update(status="COMPLETED", updated_at=_now())

    def signed(self, event: dict[str, Any], notification_url: str) -> SignedNotification:
        body = json.dumps(event, separators=(",", ":")).encode()
        return SignedNotification(
            body=body,
            headers={
                "Content-Type": "application/json",
                "x-square-hmacsha256-signature": sign(notification_url, body, self.signature_key),
                "Square-Initial-Delivery-Timestamp": _now(),
                "User-Agent": "Square Connect v2",
            },
        )

    # --- the server ---------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(PAYMENT_LINKS_PATH, self._create_link)
        app.router.add_post(REFUNDS_PATH, self._create_refund)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _create_link(self, request: web.Request) -> web.Response:
        return await self._handle(request, self._execute_link, 192)

    async def _create_refund(self, request: web.Request) -> web.Response:
        return await self._handle(request, self._execute_refund, 45)

    async def _handle(self, request: web.Request, execute: Any, key_limit: int) -> web.Response:
        raw = await request.read()
        try:
            body: Any = json.loads(raw or b"null")
        except ValueError:
            body = None
        self.requests.append(
            RecordedRequest(
                request.path, dict(request.headers), body if isinstance(body, dict) else {}
            )
        )
        try:
            if request.headers.get("Authorization") != f"Bearer {self.access_token}":
                raise SquareRejection(401, "UNAUTHORIZED", "This request could not be authorized.")
            if not request.headers.get("Square-Version"):
                raise _bad("Square-Version header is required", code="INVALID_REQUEST")
            failures = self._failures.get(request.path)
            if failures:
                status = failures.pop(0)
                code = "RATE_LIMITED" if status == 429 else "INTERNAL_SERVER_ERROR"
                raise SquareRejection(status, code, "Scripted failure")
            if not isinstance(body, dict):
                raise _bad("The request body is not a JSON object", code="INVALID_CONTENT_TYPE")
            key = body.get("idempotency_key")
            if not isinstance(key, str) or not key:
                raise _bad("Field must be set", "idempotency_key", "MISSING_REQUIRED_PARAMETER")
            if len(key) > key_limit:
                raise _bad(
                    f"Field must not be greater than {key_limit} length",
                    "idempotency_key",
                    "VALUE_TOO_LONG",
                )
            fingerprint = json.dumps(body, sort_keys=True)
            stored = self._answers.get((request.path, key))
            if stored is not None:
                if stored[0] != fingerprint:
                    raise _bad(
                        "The idempotency key can only be retried with the same request data.",
                        "idempotency_key",
                        "IDEMPOTENCY_KEY_REUSED",
                    )
                return web.json_response(stored[2], status=stored[1])
            answer = execute(body)
        except SquareRejection as err:
            return web.json_response(err.body, status=err.status)
        self._answers[(request.path, key)] = (fingerprint, 200, answer)
        return web.json_response(answer)

    def _execute_link(self, body: dict[str, Any]) -> dict[str, Any]:
        unknown = set(body) - _LINK_FIELDS
        if unknown:
            raise _bad(f"Unknown field {sorted(unknown)[0]}", sorted(unknown)[0], "BAD_REQUEST")
        quick = body.get("quick_pay")
        if not isinstance(quick, dict):
            raise _bad("One of quick_pay or order must be set", "quick_pay")
        for name in set(quick) - _QUICK_PAY_FIELDS:
            raise _bad(f"Unknown field {name}", f"quick_pay.{name}", "BAD_REQUEST")
        name = quick.get("name")
        if not isinstance(name, str) or not name:
            raise _bad("Field must be set", "quick_pay.name", "MISSING_REQUIRED_PARAMETER")
        if quick.get("location_id") != self.location_id:
            raise SquareRejection(404, "NOT_FOUND", "Location not found", "quick_pay.location_id")
        money = _money(quick.get("price_money"), "quick_pay.price_money")
        note = body.get("payment_note")
        if note is not None and (not isinstance(note, str) or len(note) > 500):
            raise _bad("Field must not be greater than 500 length", "payment_note")
        link_id, order_id, now = square_id(16).upper(), square_id(), _now()
        order = {
            "id": order_id,
            "location_id": self.location_id,
            "state": "DRAFT",
            "line_items": [
                {
                    "uid": square_id(21),
                    "name": name,
                    "quantity": "1",
                    "base_price_money": money,
                    "total_money": money,
                }
            ],
            "total_money": money,
            "created_at": now,
        }
        slug = square_id(8)
        link = {
            "id": link_id,
            "version": 1,
            "description": body.get("description", ""),
            "order_id": order_id,
            "checkout_options": body.get("checkout_options"),
            "pre_populated_data": body.get("pre_populated_data"),
            "url": f"https://sandbox.square.link/u/{slug}",
            "long_url": f"https://connect.squareupsandbox.com/v2/online-checkout/{slug}",
            "created_at": now,
            "payment_note": note,
        }
        self.orders[order_id] = order
        self.links[link_id] = link
        return {
            "payment_link": copy.deepcopy(link),
            "related_resources": {"orders": [copy.deepcopy(order)]},
        }

    def _execute_refund(self, body: dict[str, Any]) -> dict[str, Any]:
        unknown = set(body) - _REFUND_FIELDS
        if unknown:
            raise _bad(f"Unknown field {sorted(unknown)[0]}", sorted(unknown)[0], "BAD_REQUEST")
        payment = self.payments.get(str(body.get("payment_id")))
        if payment is None:
            raise SquareRejection(404, "NOT_FOUND", "Payment not found.", "payment_id")
        money = _money(body.get("amount_money"), "amount_money")
        if money["currency"] != payment["total_money"]["currency"]:
            raise _bad("Currency must match the payment", "amount_money.currency")
        refunded = sum(
            r["amount_money"]["amount"]
            for r in self.refunds_for(payment["id"])
            if r["status"] != "FAILED"
        )
        if refunded + money["amount"] > payment["total_money"]["amount"]:
            raise _bad(
                "The requested refund amount exceeds the amount available to refund.",
                "amount_money.amount",
                "REFUND_AMOUNT_INVALID",
            )
        now = _now()
        refund = {
            "id": f"{payment['id']}_{square_id(40)}",
            "status": "PENDING",
            "location_id": self.location_id,
            "unlinked": False,
            "amount_money": money,
            "payment_id": payment["id"],
            "order_id": payment["order_id"],
            "reason": body.get("reason"),
            "created_at": now,
            "updated_at": now,
        }
        self.refunds[refund["id"]] = refund
        return {"refund": copy.deepcopy(refund)}


def _money(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad("Field must be set", where, "MISSING_REQUIRED_PARAMETER")
    amount, currency = value.get("amount"), value.get("currency")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise _bad("Amount must be a positive integer", f"{where}.amount")
    if not isinstance(currency, str) or len(currency) != 3 or currency.upper() != currency:
        raise _bad("Currency must be an upper-case ISO 4217 code", f"{where}.currency")
    return {"amount": amount, "currency": currency}
