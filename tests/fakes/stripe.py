"""A local stand-in for Stripe's API (Checkout Sessions, Refunds) and its webhook deliveries.

What it checks, as the real API does (provider-formats.md §1.1, §1.6, §1.8): HTTP Basic
with the secret key as user name (or `Bearer`), form-encoded bodies with bracket keys,
required and unknown parameters, and Idempotency-Key semantics. It answers with Stripe's
objects (`checkout.session`, `refund`) or its error shape `{"error": {"type", "code",
"message", "param"}}`.

Idempotency (docs.stripe.com/idempotency): the first answer under a key is stored once the
endpoint *starts executing* and replayed (`Idempotent-Replayed: true`) for a retry with the
same parameters; the same key with other parameters is a 400 `idempotency_error`.
Nothing is stored for a failed auth check or a parameter validation error (missing,
unknown or malformed parameters), so those may be retried under the same key. Business
errors found while executing (`resource_missing`, `charge_already_refunded`,
`amount_too_large`) are stored like any answer.

Scripted failures (`fail_next`) say when they strike:

    before_execution  nothing stored: the retry under the same key runs for real
                      (a load balancer's 500, a 429 from the rate limiter)
    stored            Stripe's documented 500: stored and replayed for that key
    response_lost     the request runs and its success is stored, but this caller gets
                      a 502 (the answer was lost on the way): the retry replays it

For end-to-end tests it also plays the client's side (`complete_session`,
`succeed_async_payment`) and builds the webhook events that follow, signed with
`Stripe-Signature` exactly as Stripe does (`signed`, `signed_delivery`).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from aiohttp import web

from starter.ingress.signing import stripe_headers

API_VERSION = "2024-06-20"
LEGACY_REFUNDS_API_VERSION = "2022-08-01"  # the last version whose charges list refunds
CHECKOUT_PATH = "/v1/checkout/sessions"
REFUNDS_PATH = "/v1/refunds"
SESSION_LIFETIME = 24 * 3600
MIN_CHARGE_CENTS = 50  # Stripe's minimum for usd

FailureWhen = Literal["before_execution", "stored", "response_lost"]

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_ALNUM = string.ascii_letters + string.digits
_CHECKOUT_PARAMS = frozenset(
    "mode line_items success_url cancel_url client_reference_id customer customer_email"
    " metadata payment_intent_data expires_at currency locale allow_promotion_codes"
    " payment_method_types expand".split()
)
_LINE_ITEM_PARAMS = frozenset({"price", "price_data", "quantity"})
_PRICE_DATA_PARAMS = frozenset({"currency", "unit_amount", "product", "product_data"})
_INTENT_DATA_PARAMS = frozenset(
    "metadata description receipt_email statement_descriptor setup_future_usage".split()
)
_REFUND_PARAMS = frozenset(
    "payment_intent charge amount reason metadata refund_application_fee reverse_transfer"
    " expand".split()
)
_REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def stripe_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Rebuild nested params from bracket keys; `[0]`, `[1]`… become lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if not match:
            raise ValueError(f"Invalid parameter name: {key}")
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for name in path[:-1]:
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise ValueError(f"Invalid parameter name: {key}")
            node = child
        node[path[-1]] = value
    nested: dict[str, Any] = _listify(root)
    return nested


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {name: _listify(value) for name, value in node.items()}
    if items and all(name.isdigit() for name in items):
        return [items[name] for name in sorted(items, key=int)]
    return items


class StripeRejection(Exception):
    """An error answer in Stripe's shape (stored under the key only once executing)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {
            "error": {
                "type": type,
                "code": code,
                "message": message,
                "param": param,
                "doc_url": f"https://stripe.com/docs/error-codes/{code}" if code else None,
            }
        }


def _invalid(message: str, param: str | None = None, code: str | None = None) -> StripeRejection:
    return StripeRejection(400, message, code=code or "parameter_invalid", param=param)


def _missing(param: str) -> StripeRejection:
    return StripeRejection(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


@dataclass
class RecordedRequest:
    method: str
    path: str
    form: dict[str, str]  # as sent, flat bracket keys
    params: dict[str, Any]  # nested
    headers: dict[str, str]

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")


@dataclass
class ScriptedFailure:
    status: int
    message: str
    when: FailureWhen
    retry_after: int | None = None


@dataclass
class StoredAnswer:
    fingerprint: tuple[str, tuple[tuple[str, str], ...]]
    status: int
    body: dict[str, Any]
    request_id: str


@dataclass
class PaymentIntent:
    """A paid (or processing) payment, with the charge refunds are taken from."""

    id: str
    amount: int
    currency: str = "usd"
    metadata: dict[str, str] = field(default_factory=dict)
    status: str = "succeeded"
    charge_id: str = field(default_factory=lambda: stripe_id("ch_"))
    created: int = field(default_factory=lambda: int(time.time()))
    refunds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def amount_refunded(self) -> int:
        return sum(int(r["amount"]) for r in self.refunds if r["status"] != "failed")

    def as_object(self) -> dict[str, Any]:
        succeeded = self.status == "succeeded"
        return {
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": 0,
            "amount_received": self.amount if succeeded else 0,
            "currency": self.currency,
            "customer": None,
            "description": None,
            "metadata": dict(self.metadata),
            "status": self.status,
            "latest_charge": self.charge_id if succeeded else None,
            "payment_method": "pm_" + self.id[3:],
            "receipt_email": None,
            "created": self.created,
            "livemode": False,
            "canceled_at": None,
            "cancellation_reason": None,
            "last_payment_error": None,
        }

    def charge_object(self, *, include_refunds: bool = True) -> dict[str, Any]:
        charge: dict[str, Any] = {
            "id": self.charge_id,
            "object": "charge",
            "amount": self.amount,
            "amount_captured": self.amount,
            "amount_refunded": self.amount_refunded,
            "currency": self.currency,
            "captured": True,
            "paid": True,
            "refunded": self.amount_refunded >= self.amount,
            "status": "succeeded",
            "payment_intent": self.id,
            "metadata": dict(self.metadata),
            "created": self.created,
            "livemode": False,
        }
        if include_refunds:
            charge["refunds"] = {
                "object": "list",
                "data": [copy.deepcopy(r) for r in reversed(self.refunds)],
                "has_more": False,
                "total_count": len(self.refunds),
                "url": f"/v1/charges/{self.charge_id}/refunds",
            }
        return charge


@dataclass
class SignedDelivery:
    """A webhook as Stripe would POST it: these exact bytes with these headers."""

    body: bytes
    headers: dict[str, str]

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


def event_envelope(
    event_type: str,
    obj: dict[str, Any],
    *,
    event_id: str | None = None,
    created: int | None = None,
    request_id: str | None = None,
    idempotency_key: str | None = None,
    api_version: str = API_VERSION,
) -> dict[str, Any]:
    """The event envelope of provider-formats.md §1.2 around a resource object."""
    return {
        "id": event_id or stripe_id("evt_"),
        "object": "event",
        "api_version": api_version,
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": event_type,
        "data": {"object": obj},
    }


def signed_delivery(
    event: dict[str, Any], secret: str, *, timestamp: int | None = None
) -> SignedDelivery:
    """Serialise `event` once and sign those bytes (`Stripe-Signature: t=…,v1=…`)."""
    body = json.dumps(event, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    headers.update(stripe_headers(body, secret, timestamp))
    return SignedDelivery(body=body, headers=headers)


def checkout_session(
    *,
    amount_total: int,
    metadata: dict[str, str] | None = None,
    payment_intent: str | None = None,
    payment_status: Literal["paid", "unpaid", "no_payment_required"] = "paid",
    status: Literal["open", "complete", "expired"] = "complete",
    currency: str = "usd",
    client_reference_id: str | None = None,
    customer_email: str | None = None,
    session_id: str | None = None,
    payment_link: str | None = None,
) -> dict[str, Any]:
    """A `checkout.session` object (§1.5) for sessions the fake did not create itself."""
    now = int(time.time())
    session_id = session_id or stripe_id("cs_test_a1", 56)
    return {
        "id": session_id,
        "object": "checkout.session",
        "mode": "payment",
        "status": status,
        "payment_status": payment_status,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "currency": currency,
        "client_reference_id": client_reference_id,
        "customer": None,
        "customer_email": customer_email,
        "customer_details": (
            {"email": customer_email, "name": None, "phone": None} if customer_email else None
        ),
        "metadata": dict(metadata or {}),
        "payment_intent": payment_intent,
        "payment_link": payment_link,
        "success_url": "https://spa.example/renewed?session={CHECKOUT_SESSION_ID}",
        "cancel_url": None,
        "url": None if status != "open" else f"https://checkout.stripe.com/c/pay/{session_id}",
        "created": now,
        "expires_at": now + SESSION_LIFETIME,
        "livemode": False,
    }


@dataclass
class StripeFake:
    secret_key: str = "sk_test_punchcard_" + "0" * 24
    webhook_secret: str = "whsec_test_punchcard_fake"
    requests: list[RecordedRequest] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_intents: dict[str, PaymentIntent] = field(default_factory=dict)
    base_url: str = ""
    _intent_metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    _refund_requests: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    _answers: dict[str, StoredAnswer] = field(default_factory=dict)
    _failures: dict[str, list[ScriptedFailure]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    # --- scripting ------------------------------------------------------------------

    def add_payment_intent(
        self,
        amount: int,
        *,
        currency: str = "usd",
        metadata: dict[str, str] | None = None,
        intent_id: str | None = None,
    ) -> str:
        """Register a succeeded payment refunds may be taken from; returns its `pi_…` id."""
        intent = PaymentIntent(
            id=intent_id or stripe_id("pi_3"),
            amount=amount,
            currency=currency,
            metadata=dict(metadata or {}),
        )
        self.payment_intents[intent.id] = intent
        return intent.id

    def fail_next(
        self,
        path: str,
        times: int = 1,
        *,
        status: int = 500,
        when: FailureWhen = "before_execution",
        message: str = "An unknown error occurred",
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` authenticated POSTs to `path` with an error (see module doc)."""
        self._failures.setdefault(path, []).extend(
            ScriptedFailure(status, message, when, retry_after) for _ in range(times)
        )

    def fail_next_refunds(self, times: int = 1, **options: Any) -> None:
        self.fail_next(REFUNDS_PATH, times, **options)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def refunds_for(self, payment_intent: str) -> list[dict[str, Any]]:
        return [r for r in self.refunds.values() if r["payment_intent"] == payment_intent]

    # --- the client's side ------------------------------------------------------------

    def complete_session(
        self,
        session_id: str,
        *,
        payment_status: Literal["paid", "unpaid"] = "paid",
        customer_email: str | None = None,
    ) -> dict[str, Any]:
        """The client pays on the Checkout page: a PaymentIntent is created and the session
        completes; `unpaid` is a delayed method (e.g. a bank debit) still processing."""
        session = self.sessions[session_id]
        if session["status"] != "open":
            raise ValueError(f"session {session_id} is {session['status']}: it cannot be paid")
        intent = PaymentIntent(
            id=stripe_id("pi_3"),
            amount=int(session["amount_total"]),
            currency=str(session["currency"]),
            metadata=dict(self._intent_metadata.get(session_id, {})),
            status="succeeded" if payment_status == "paid" else "processing",
        )
        self.payment_intents[intent.id] = intent
        email = customer_email or session.get("customer_email")
        session.update(
            status="complete",
            payment_status=payment_status,
            payment_intent=intent.id,
            customer_details={"email": email, "name": None, "phone": None},
            url=None,
        )
        return copy.deepcopy(session)

    def expire_session(self, session_id: str) -> None:
        """A day went by unpaid: the session expires (`status: expired`, no `url`)."""
        self.sessions[session_id].update(
            status="expired", url=None, expires_at=int(time.time()) - 1
        )

    def succeed_async_payment(self, session_id: str) -> dict[str, Any]:
        """The delayed payment of a completed-but-unpaid session went through."""
        session = self.sessions[session_id]
        self.payment_intents[session["payment_intent"]].status = "succeeded"
        session["payment_status"] = "paid"
        return copy.deepcopy(session)

    # --- webhook events -------------------------------------------------------------

    def checkout_completed_event(self, session_id: str) -> dict[str, Any]:
        return event_envelope(
            "checkout.session.completed", copy.deepcopy(self.sessions[session_id])
        )

    def async_payment_succeeded_event(self, session_id: str) -> dict[str, Any]:
        return event_envelope(
            "checkout.session.async_payment_succeeded", copy.deepcopy(self.sessions[session_id])
        )

    def payment_intent_succeeded_event(self, payment_intent: str) -> dict[str, Any]:
        return event_envelope(
            "payment_intent.succeeded", self.payment_intents[payment_intent].as_object()
        )

    def charge_refunded_event(
        self, payment_intent: str, *, include_refunds: bool = True
    ) -> dict[str, Any]:
        """`charge.refunded` after the latest refund of this payment; `request` names the
        refund request and its Idempotency-Key when the refund came through the API.

        Since API version 2022-11-15 a charge no longer carries its `refunds` list unless
        expanded (docs.stripe.com/changelog/2022-11-15/deprecates-charges-auto-expand;
        stripe-java#1567: "Refunds field always null on webhooks"). So the list comes with
        an envelope rendered in 2022-08-01, and `include_refunds=False` gives what an
        endpoint on 2022-11-15 or later receives: `amount_refunded` and `refunded` only.
        """
        intent = self.payment_intents[payment_intent]
        request_id, key = (None, None)
        if intent.refunds:
            request_id, key = self._refund_requests.get(intent.refunds[-1]["id"], (None, None))
        return event_envelope(
            "charge.refunded",
            intent.charge_object(include_refunds=include_refunds),
            request_id=request_id,
            idempotency_key=key,
            api_version=LEGACY_REFUNDS_API_VERSION if include_refunds else API_VERSION,
        )

    def refund_created_event(self, refund_id: str) -> dict[str, Any]:
        """`refund.created`: the Refund object itself, with its metadata, in any version."""
        request_id, key = self._refund_requests.get(refund_id, (None, None))
        return event_envelope(
            "refund.created",
            copy.deepcopy(self.refunds[refund_id]),
            request_id=request_id,
            idempotency_key=key,
        )

    def signed(self, event: dict[str, Any], *, timestamp: int | None = None) -> SignedDelivery:
        return signed_delivery(event, self.webhook_secret, timestamp=timestamp)

    # --- the server -----------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(CHECKOUT_PATH, self._create_session)
        app.router.add_post(REFUNDS_PATH, self._create_refund)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _create_session(self, request: web.Request) -> web.Response:
        return await self._handle(request, self._execute_checkout)

    async def _create_refund(self, request: web.Request) -> web.Response:
        return await self._handle(request, self._execute_refund)

    async def _handle(self, request: web.Request, execute: Any) -> web.Response:
        """Auth, idempotency, scripted failures, then the endpoint itself."""
        request_id = stripe_id("req_", 14)
        pairs = [(k, v) for k, v in (await request.post()).items() if isinstance(v, str)]
        try:
            params = parse_form(pairs)
        except ValueError as err:
            params = {}
            malformed: StripeRejection | None = _invalid(str(err))
        else:
            malformed = None
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            form=dict(pairs),
            params=params,
            headers=dict(request.headers),
        )
        self.requests.append(recorded)
        try:
            self._authenticate(request)
            if request.content_type != "application/x-www-form-urlencoded":
                raise _invalid("Content-Type must be application/x-www-form-urlencoded")
            if malformed is not None:
                raise malformed
            key = recorded.idempotency_key
            fingerprint = (request.path, tuple(sorted(pairs)))
            if key is not None:
                if len(key) > 255:
                    raise _invalid("Idempotency-Key is longer than 255 characters", code=None)
                stored = self._answers.get(key)
                if stored is not None:
                    if stored.fingerprint != fingerprint:
                        raise StripeRejection(
                            400,
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other "
                            f"than '{key}' if you meant to execute a different request.",
                            type="idempotency_error",
                        )
                    return self._answer(
                        stored.status, stored.body, stored.request_id, replayed=True
                    )
            failure = self._next_failure(request.path, "before_execution")
            if failure is not None:
                return self._scripted(failure, request_id)
            execute(params, request_id, key, dry_run=True)  # parameter validation only
        except StripeRejection as rejection:
            return self._answer(rejection.status, rejection.body, request_id)
        # The endpoint runs from here on: whatever it answers is stored under the key.
        failure = self._next_failure(request.path, "stored", "response_lost")
        if failure is not None and failure.when == "stored":
            status, body = failure.status, self._failure_body(failure)
        else:
            try:
                status, body = 200, execute(params, request_id, key, dry_run=False)
            except StripeRejection as rejection:
                status, body = rejection.status, rejection.body
        if key is not None:
            self._answers[key] = StoredAnswer(fingerprint, status, body, request_id)
        if failure is not None and failure.when == "response_lost":
            return web.json_response(
                {"error": {"type": "api_error", "message": "Bad Gateway"}}, status=502
            )
        return self._answer(status, body, request_id)

    def _authenticate(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        key = ""
        if header.startswith("Basic "):
            try:
                key = base64.b64decode(header[6:]).decode().partition(":")[0]
            except ValueError:
                key = ""
        elif header.startswith("Bearer "):
            key = header[7:]
        if not key:
            raise StripeRejection(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        if key != self.secret_key:
            raise StripeRejection(401, f"Invalid API Key provided: {key[:8]}****{key[-4:]}")

    def _next_failure(self, path: str, *when: FailureWhen) -> ScriptedFailure | None:
        """The next scripted failure for `path`, if it strikes at one of these moments."""
        queue = self._failures.get(path)
        return queue.pop(0) if queue and queue[0].when in when else None

    @staticmethod
    def _failure_body(failure: ScriptedFailure) -> dict[str, Any]:
        kind = "api_error" if failure.status >= 500 else "invalid_request_error"
        code = "rate_limit" if failure.status == 429 else None
        return {"error": {"type": kind, "code": code, "message": failure.message}}

    def _scripted(self, failure: ScriptedFailure, request_id: str) -> web.Response:
        headers = {"Request-Id": request_id}
        if failure.retry_after is not None:
            headers["Retry-After"] = str(failure.retry_after)
        return web.json_response(
            self._failure_body(failure), status=failure.status, headers=headers
        )

    @staticmethod
    def _answer(
        status: int, body: dict[str, Any], request_id: str, *, replayed: bool = False
    ) -> web.Response:
        headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return web.json_response(body, status=status, headers=headers)

    # --- endpoints --------------------------------------------------------------------

    def _execute_checkout(
        self, params: dict[str, Any], request_id: str, key: str | None, *, dry_run: bool
    ) -> dict[str, Any]:
        _unknown(params, _CHECKOUT_PARAMS, "")
        mode = params.get("mode")
        if mode is None:
            raise _missing("mode")
        if mode != "payment":
            raise _invalid(f"Invalid mode: {mode!r} is not supported here", "mode")
        success_url = params.get("success_url")
        if not success_url:
            raise _missing("success_url")
        for name in ("success_url", "cancel_url"):
            if name in params and not _is_url(params[name]):
                raise _invalid("Not a valid URL", name, code="url_invalid")
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise _missing("line_items")
        total, currency = 0, None
        for i, item in enumerate(items):
            amount, item_currency = _line_item(item, f"line_items[{i}]")
            total += amount
            if currency is not None and item_currency != currency:
                raise _invalid("All line items must use the same currency", "line_items")
            currency = item_currency
        if total < MIN_CHARGE_CENTS:
            raise _invalid(
                f"The Checkout Session's total amount due must add up to at least "
                f"${MIN_CHARGE_CENTS / 100:.2f} {currency}",
                "line_items",
                code="amount_too_small",
            )
        reference = params.get("client_reference_id")
        if reference is not None and len(reference) > 200:
            raise _invalid(
                "client_reference_id is longer than 200 characters", "client_reference_id"
            )
        email = params.get("customer_email")
        if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise _invalid(f"Invalid email address: {email}", "customer_email", "email_invalid")
        metadata = _metadata(params.get("metadata"), "metadata")
        intent_data = params.get("payment_intent_data", {})
        if not isinstance(intent_data, dict):
            raise _invalid("Invalid hash", "payment_intent_data")
        _unknown(intent_data, _INTENT_DATA_PARAMS, "payment_intent_data")
        intent_metadata = _metadata(intent_data.get("metadata"), "payment_intent_data[metadata]")
        if dry_run:
            return {}
        now = int(time.time())
        session_id = stripe_id("cs_test_a1", 56)
        session: dict[str, Any] = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "amount_subtotal": total,
            "amount_total": total,
            "currency": currency,
            "client_reference_id": reference,
            "customer": None,
            "customer_email": email,
            "customer_details": None,
            "metadata": metadata,
            "payment_intent": None,
            "payment_link": None,
            "payment_method_types": ["card"],
            "success_url": success_url,
            "cancel_url": params.get("cancel_url"),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "created": now,
            "expires_at": now + SESSION_LIFETIME,
            "livemode": False,
        }
        self.sessions[session_id] = session
        self._intent_metadata[session_id] = intent_metadata
        return copy.deepcopy(session)

    def _execute_refund(
        self, params: dict[str, Any], request_id: str, key: str | None, *, dry_run: bool
    ) -> dict[str, Any]:
        _unknown(params, _REFUND_PARAMS, "")
        intent_id = params.get("payment_intent")
        if not intent_id and not params.get("charge"):
            raise _invalid(
                "One of `charge` or `payment_intent` is required.", code="parameter_missing"
            )
        amount_text = params.get("amount")
        if amount_text is not None and (
            not isinstance(amount_text, str) or not amount_text.isdigit() or int(amount_text) <= 0
        ):
            raise _invalid(
                f"Invalid positive integer: {amount_text!r}",
                "amount",
                code="parameter_invalid_integer",
            )
        reason = params.get("reason")
        if reason is not None and reason not in _REFUND_REASONS:
            raise _invalid(
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                "reason",
            )
        metadata = _metadata(params.get("metadata"), "metadata")
        if dry_run:
            return {}
        intent = self._find_intent(intent_id, params.get("charge"))
        remaining = intent.amount - intent.amount_refunded
        if remaining <= 0:
            raise StripeRejection(
                400,
                f"Charge {intent.charge_id} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = remaining if amount_text is None else int(amount_text)
        if amount > remaining:
            raise StripeRejection(
                400,
                f"Refund amount (${amount / 100:.2f}) is greater than unrefunded amount on "
                f"charge (${remaining / 100:.2f})",
                code="amount_too_large",
                param="amount",
            )
        refund: dict[str, Any] = {
            "id": stripe_id("re_3"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": stripe_id("txn_3"),
            "charge": intent.charge_id,
            "created": int(time.time()),
            "currency": intent.currency,
            "metadata": metadata,
            "payment_intent": intent.id,
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
            "failure_reason": None,
        }
        intent.refunds.append(refund)
        self.refunds[refund["id"]] = refund
        self._refund_requests[refund["id"]] = (request_id, key)
        return copy.deepcopy(refund)

    def _find_intent(self, intent_id: str | None, charge_id: str | None) -> PaymentIntent:
        if intent_id:
            intent = self.payment_intents.get(intent_id)
            if intent is None:
                raise StripeRejection(
                    400,
                    f"No such payment_intent: '{intent_id}'",
                    code="resource_missing",
                    param="payment_intent",
                )
        else:
            found = [i for i in self.payment_intents.values() if i.charge_id == charge_id]
            if not found:
                raise StripeRejection(
                    400, f"No such charge: '{charge_id}'", code="resource_missing", param="charge"
                )
            intent = found[0]
        if intent.status != "succeeded":
            raise StripeRejection(
                400,
                f"This PaymentIntent ({intent.id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        return intent


def _unknown(params: dict[str, Any], allowed: frozenset[str], prefix: str) -> None:
    for name in params:
        if name not in allowed:
            full = f"{prefix}[{name}]" if prefix else name
            raise _invalid(f"Received unknown parameter: {full}", full, code="parameter_unknown")


def _is_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _line_item(item: Any, where: str) -> tuple[int, str]:
    """Validate one line item; returns its amount and currency."""
    if not isinstance(item, dict):
        raise _invalid("Invalid hash", where)
    _unknown(item, _LINE_ITEM_PARAMS, where)
    quantity = item.get("quantity")
    if quantity is None:
        raise _missing(f"{where}[quantity]")
    if not isinstance(quantity, str) or not quantity.isdigit() or int(quantity) < 1:
        raise _invalid("Invalid positive integer", f"{where}[quantity]")
    if "price" in item:
        raise _invalid(f"No such price: '{item['price']}'", f"{where}[price]", "resource_missing")
    price = item.get("price_data")
    if not isinstance(price, dict):
        raise _missing(f"{where}[price_data]")
    _unknown(price, _PRICE_DATA_PARAMS, f"{where}[price_data]")
    currency = price.get("currency")
    if not currency:
        raise _missing(f"{where}[price_data][currency]")
    if not re.fullmatch(r"[a-z]{3}", currency):
        raise _invalid(f"Invalid currency: {currency}", f"{where}[price_data][currency]")
    unit = price.get("unit_amount")
    if unit is None:
        raise _missing(f"{where}[price_data][unit_amount]")
    if not isinstance(unit, str) or not unit.isdigit():
        raise _invalid("Invalid non-negative integer", f"{where}[price_data][unit_amount]")
    product = price.get("product_data")
    if not isinstance(product, dict) or not product.get("name"):
        raise _missing(f"{where}[price_data][product_data][name]")
    return int(unit) * int(quantity), currency


def _metadata(value: Any, where: str) -> dict[str, str]:
    """Stripe's metadata rules: at most 50 keys, keys ≤ 40 chars, values ≤ 500 chars."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid("Invalid hash", where)
    if len(value) > 50:
        raise _invalid("You can specify up to 50 metadata keys.", where)
    for name, text in value.items():
        if len(name) > 40:
            raise _invalid(f"Metadata keys can have up to 40 characters: {name}", where)
        if not isinstance(text, str) or len(text) > 500:
            raise _invalid(f"Metadata values can have up to 500 characters: {name}", where)
    return dict(value)
