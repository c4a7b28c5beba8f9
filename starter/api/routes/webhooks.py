"""Provider webhooks: signature first, then the body, then a durable hand-off.

A visit change that ends the visit is answered once the visit settled it, within
PUNCHCARD_WEBHOOK_SETTLE_SECONDS (`starter.api.webhook_intake`). Every refusal is a 4xx whose body names the problem ({"detail": "..."}); event types we
do not act on are answered 2xx and recorded as ignored.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from activities.payments.activities import our_refund_key
from starter.api.deps import Deps
from starter.api.schemas import ErrorBody, WebhookAck
from starter.api.webhook_intake import accept_payment, accept_visit
from starter.ingress import boulevard, mindbody, square, stripe, twilio
from starter.ingress.base import WebhookRejected

log = logging.getLogger("punchcard.webhooks")

REFUSALS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "the body is not what the provider sends"},
    401: {"model": ErrorBody, "description": "missing or wrong signature"},
    422: {"model": ErrorBody, "description": "a required field is missing, or unknown client"},
}

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=REFUSALS)

# The raw body is what is signed: declared here so the OpenAPI document shows a body.
_JSON_BODY: dict[str, object] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
_FORM_BODY: dict[str, object] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        },
    }
}


def _refused(provider: str, err: WebhookRejected) -> JSONResponse:
    log.warning("%s webhook refused (%s): %s", provider, err.status, err.reason)
    return JSONResponse(status_code=err.status, content={"detail": err.reason})


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return None if getter is None else str(getter())


@router.post("/boulevard", openapi_extra=_JSON_BODY, response_model=WebhookAck)
async def boulevard_webhook(request: Request, deps: Deps) -> Response:
    """Boulevard appointment events (the envelope of Boulevard's Admin API webhooks)."""
    body = await request.body()
    s = deps.settings
    config = boulevard.BoulevardSignature(
        secret=_secret(s.boulevard_webhook_secret),
        headers=tuple(
            h.strip().lower() for h in s.boulevard_signature_header.split(",") if h.strip()
        ),
        encoding=s.boulevard_signature_encoding,  # type: ignore[arg-type]
        allow_unsigned=s.boulevard_allow_unsigned,
    )
    try:
        boulevard.verify(body, request.headers, config)
        ack = await accept_visit(deps, boulevard.parse(body))
    except WebhookRejected as err:
        return _refused("boulevard", err)
    return JSONResponse(ack.model_dump(mode="json"))


@router.head("/mindbody", include_in_schema=False)
async def mindbody_validation() -> Response:
    """Mindbody checks the URL with an unsigned HEAD before activating a subscription."""
    return Response(status_code=200)


@router.post("/mindbody", openapi_extra=_JSON_BODY, response_model=WebhookAck)
async def mindbody_webhook(request: Request, deps: Deps) -> Response:
    """Mindbody appointmentBooking.created / .updated / .cancelled."""
    body = await request.body()
    try:
        mindbody.verify(body, request.headers, _secret(deps.settings.mindbody_signature_key))
        ack = await accept_visit(deps, mindbody.parse(body))
    except WebhookRejected as err:
        return _refused("mindbody", err)
    return JSONResponse(ack.model_dump(mode="json"))


@router.post("/stripe", openapi_extra=_JSON_BODY, response_model=WebhookAck)
async def stripe_webhook(request: Request, deps: Deps) -> Response:
    """Stripe payments and refunds: verified, then handed to the payment's workflow."""
    body = await request.body()
    s = deps.settings
    try:
        stripe.verify(
            body,
            request.headers.get("stripe-signature"),
            _secret(s.stripe_webhook_secret),
            tolerance=s.stripe_webhook_tolerance_seconds,
        )
        ack = await accept_payment(deps, stripe.parse(body))
    except WebhookRejected as err:
        return _refused("stripe", err)
    return JSONResponse(ack.model_dump(mode="json"))


@router.post("/square", openapi_extra=_JSON_BODY, response_model=WebhookAck)
async def square_webhook(request: Request, deps: Deps) -> Response:
    """Square payments (payment.updated, COMPLETED) and refunds (refund.updated): verified
    against the notification URL Square signs, then handed to the payment's workflow."""
    body = await request.body()
    s = deps.settings
    url = s.square_notification_url or (
        f"{s.api_public_url}/webhooks/square" if s.api_public_url else None
    )
    try:
        square.verify(
            body,
            request.headers.get(square.SIGNATURE_HEADER),
            _secret(s.square_webhook_signature_key),
            url,
        )
        parsed = square.parse(body)
        event = None if parsed.ignored_reason else square.payment_event(parsed)
        if event is not None and event.refunds:
            # Ours carries our refund key, so the package knows it even before the refund
            # saga has recorded Square's answer.
            lines = [
                line.model_copy(
                    update={"punchcard_refund_key": await our_refund_key(deps.pool, line.refund_id)}
                )
                for line in event.refunds
            ]
            event = event.model_copy(update={"refunds": lines})
        ack = await accept_payment(deps, parsed, event)
    except WebhookRejected as err:
        return _refused("square", err)
    return JSONResponse(ack.model_dump(mode="json"))


@router.post("/twilio/sms", openapi_extra=_FORM_BODY)
async def twilio_inbound_sms(request: Request, deps: Deps) -> Response:
    """Client replies: STOP family opts out, START opts back in, BOOK asks staff to call."""
    s = deps.settings
    body = await request.body()
    try:
        params = _form_pairs(body)
        url = twilio.public_url(str(request.url), s.api_public_url)
        twilio.verify(
            url, params, request.headers.get("x-twilio-signature"), _secret(s.twilio_auth_token)
        )
        sms = twilio.parse_inbound(params)
    except WebhookRejected as err:
        return _refused("twilio", err)
    # The signature has no timestamp: only the MessageSid tells a redelivery (or a replay)
    # from a new text, and an old START acted on again after a STOP would text an
    # opted-out client. A repeat is answered as before and changes nothing.
    earlier = await deps.inbound.get("twilio", sms.message_sid)
    detail: str | None
    if earlier is None:
        status, detail = await _act_on_sms(deps, sms)
    else:
        status, detail = earlier.status, earlier.detail
    await deps.inbound.record(
        provider="twilio",
        event_key=sms.message_sid,
        event_type=f"sms:{sms.keyword or 'other'}",
        status=status,
        detail=detail,
    )
    return Response(content=twilio.twiml(_sms_reply(s.spa_name, sms)), media_type="text/xml")


def _sms_reply(spa: str, sms: twilio.InboundSms) -> str | None:
    """What we text back; None for STOP and START, which Twilio confirms itself."""
    if sms.keyword == "help":
        return f"{spa}: reply BOOK to be called back, STOP to stop texts."
    if sms.keyword == "book":
        return f"Thanks! {spa} will contact you shortly to book."
    return None


async def _act_on_sms(deps: Deps, sms: twilio.InboundSms) -> tuple[str, str]:
    """(inbound status, detail). Opt-outs apply to every client with the number."""
    clients = deps.service.clients
    if sms.keyword == "stop":
        ids = await clients.set_sms_opt_out_by_phone(sms.from_number, True)
        return "accepted" if ids else "ignored", f"opted out: {ids or 'no client'}"
    if sms.keyword == "start":
        ids = await clients.set_sms_opt_out_by_phone(sms.from_number, False)
        return "accepted" if ids else "ignored", f"opted in: {ids or 'no client'}"
    if sms.keyword == "help":
        return "accepted", "help"
    if sms.keyword == "book":
        matches = await clients.find(sms.from_number)
        client_id = matches[0].client_id if len(matches) == 1 else None
        who = matches[0].name if len(matches) == 1 else sms.from_number
        await deps.review.open(
            item_id=f"sms:{sms.message_sid}",
            kind="follow_up",
            reason="book_request",
            detail=f"{who} texted BOOK: call back to book an appointment",
            client_id=client_id,
        )
        return "accepted", "follow-up opened"
    return "ignored", "no keyword"


MAX_FORM_FIELDS = 200  # Twilio sends about 20; WhatsApp media adds a few per attachment


def _form_pairs(body: bytes) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    try:
        return parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise WebhookRejected(
            400, "twilio: body is not application/x-www-form-urlencoded UTF-8"
        ) from None
