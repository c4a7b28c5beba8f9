"""From a verified, parsed delivery to a durable hand-off: client resolution, the inbound
record, and the signal-with-start of the appointment's visit workflow.

A delivery is answered 2xx only after the signal-with-start returned, i.e. once the event
is in Temporal. A completion, no-show or late cancel (a change that ends the visit) is
then answered only once the visit run that got it closed or sent it to the review queue,
or after PUNCHCARD_WEBHOOK_SETTLE_SECONDS (still "accepted": it is durable, it will be
settled), with what became of it in `outcome` and the detail. That is the backpressure: a
platform's senders wait while the stack is behind, instead of a hidden queue building up
behind early acks. Booking chatter is answered at once. A repeat of an accepted event is answered "duplicate" without re-sending;
the visit workflow would ignore it anyway (it dedupes on the event key). Of two copies
racing (both sent before either was recorded), both are handed over and exactly one is
answered "accepted": the record decides, under a row lock.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from starter.api.deps import ApiDeps
from starter.api.schemas import WebhookAck
from starter.ingress import stripe
from starter.ingress.base import ParsedDelivery, WebhookRejected
from workflows.ids import payment_workflow_id
from workflows.payment_models import PaymentInput, StripePaymentEvent
from workflows.visit_models import Platform, VisitChange, VisitEvent, VisitOutcome

log = logging.getLogger("punchcard.webhooks")

# Changes that touch a balance: from an unknown client they are refused (4xx); booking
# chatter about clients who hold no packages is normal and answered "ignored". They also
# end the visit, so their answer waits for it (within the bound).
_CONSUMING = frozenset({VisitChange.COMPLETED, VisitChange.NO_SHOW, VisitChange.LATE_CANCEL})

# What became of a settled delivery, in the words staff use.
_SAID = {
    VisitOutcome.REDEEMED: "redeemed on package {package}",
    VisitOutcome.RECORDED: "recorded on package {package}",
    VisitOutcome.NOTED: "noted on package {package}",
    VisitOutcome.IN_REVIEW: "waiting in the review queue",
    VisitOutcome.DISMISSED: "dismissed by staff: nothing taken",
    VisitOutcome.IGNORED: "nothing taken",
    VisitOutcome.REFUSED: "refused by package {package}",
    VisitOutcome.FAILED: "could not be processed: staff are alerted, a review item is open",
}


async def accept_visit(deps: ApiDeps, parsed: ParsedDelivery) -> WebhookAck:
    visit = parsed.visit
    if visit is None:
        reason = parsed.ignored_reason or "nothing to do"
        await _record(
            deps,
            parsed,
            status="ignored",
            detail=reason,
        )
        return WebhookAck(status="ignored", event_key=parsed.event_key, detail=reason)
    earlier = await deps.inbound.get(parsed.provider, parsed.event_key)
    if earlier is not None and earlier.status == "accepted":
        await _record(
            deps,
            parsed,
            status="accepted",
        )
        return WebhookAck(
            status="duplicate",
            event_key=parsed.event_key,
            detail=f"already accepted ({earlier.deliveries} earlier deliveries): nothing changed",
        )
    visit = await _with_location(deps, visit)
    zone = await deps.locations.zone_of(visit.location_id)
    visit = await _with_client(deps, parsed, _in_spa_zone(visit, zone))
    if visit.client_id is None and visit.change is not VisitChange.UNKNOWN:
        detail = (
            f"unknown client: {visit.platform} client {visit.external_client_id!r} is not "
            "linked to a Punchcard client (link it with PUT /api/clients/{id}/links or "
            "`punchcard link CLIENT PLATFORM ID`)"
        )
        if visit.change not in _CONSUMING:
            await _record(
                deps,
                parsed,
                status="ignored",
                detail=detail,
                appointment_id=visit.appointment_id,
            )
            return WebhookAck(status="ignored", event_key=parsed.event_key, detail=detail)
        await _record(
            deps,
            parsed,
            status="refused",
            detail=detail,
            appointment_id=visit.appointment_id,
        )
        raise WebhookRejected(422, detail)
    handle = await deps.gateway.hand_over(visit)
    workflow_id = handle.id
    first = await _record(
        deps,
        parsed,
        status="accepted",
        detail=f"{visit.change} handed to {workflow_id}",
        appointment_id=visit.appointment_id,
        client_id=visit.client_id,
    )
    if not first:
        return WebhookAck(
            status="duplicate",
            event_key=parsed.event_key,
            detail="a copy of this event was accepted at the same moment: nothing changed",
            visit_workflow_id=workflow_id,
        )
    head = f"{visit.change.value} for appointment {visit.appointment_id}"
    within = deps.settings.webhook_settle_seconds if visit.change in _CONSUMING else 0
    if within <= 0:
        return WebhookAck(
            status="accepted",
            event_key=parsed.event_key,
            detail=f"{head} is recorded",
            visit_workflow_id=workflow_id,
        )
    settled = await deps.gateway.wait_settled(handle, visit, within=within)
    if settled.outcome is None:
        detail = f"{head} is recorded; not settled within {within:g} s, it will be"
    else:
        said = _SAID[settled.outcome].format(package=settled.package_id or "?")
        detail = f"{head}: {said} ({settled.detail})" if settled.detail else f"{head}: {said}"
    return WebhookAck(
        status="accepted",
        event_key=parsed.event_key,
        detail=detail,
        visit_workflow_id=workflow_id,
        outcome=settled.outcome,
        package_id=settled.package_id,
    )


async def _record(deps: ApiDeps, parsed: ParsedDelivery, **fields: Any) -> bool:
    """What became of this delivery, in `inbound_events`; False when already accepted."""
    return await deps.inbound.record(
        provider=parsed.provider,
        event_key=parsed.event_key,
        event_type=parsed.event_type,
        **fields,
    )


async def _with_client(deps: ApiDeps, parsed: ParsedDelivery, visit: VisitEvent) -> VisitEvent:
    """Resolve the Punchcard client: a stored link, else one client with the same email or
    phone as the payload (then linked, so the next event resolves directly)."""
    if visit.client_id is not None or not visit.external_client_id:
        return visit
    client_id = await deps.links.resolve(visit.platform, visit.external_client_id)
    if client_id is None:
        email, phone = contact_hints(visit.platform, parsed.payload)
        client_id = await deps.links.match_contact(email=email, phone=phone)
        if client_id is not None:
            from activities.repository import ClientLink

            await deps.links.link(
                ClientLink(
                    platform=visit.platform,
                    external_id=visit.external_client_id,
                    client_id=client_id,
                )
            )
            log.info("linked %s client %s by contact details", visit.platform, client_id)
    return visit.model_copy(update={"client_id": client_id})


async def _with_location(deps: ApiDeps, visit: VisitEvent) -> VisitEvent:
    """The Punchcard location the platform's location id names (none when it names none:
    a spa that configured no location, or an id not set up yet; the visit goes on)."""
    location_id = await deps.locations.for_platform(
        visit.platform, visit.external_location_id, site_id=visit.site_id
    )
    if location_id is None:
        if visit.external_location_id and await deps.locations.locations.list():
            log.warning(
                "%s location %r is not set up: visit %s has no location",
                visit.platform,
                visit.external_location_id,
                visit.appointment_id,
            )
        return visit
    return visit.model_copy(update={"location_id": location_id})


def contact_hints(platform: str, payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """Email and phone a provider put in the payload, for matching an unlinked client."""
    if platform == Platform.MINDBODY:
        data = payload.get("eventData") or {}
        return _text(data.get("clientEmail")), _text(data.get("clientPhone"))
    if platform == Platform.BOULEVARD:
        node = (payload.get("data") or {}).get("node") or {}
        client = node.get("client") or {}
        if not isinstance(client, dict):
            return None, None
        return _text(client.get("email")), _text(client.get("mobilePhone") or client.get("phone"))
    return None, None


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _in_spa_zone(visit: VisitEvent, timezone: str) -> VisitEvent:
    """The service date is the calendar day where the visit took place (its location's
    zone, else the spa's): a 7 pm visit in New York is not tomorrow because its timestamp
    is in UTC."""
    if visit.scheduled_at is None or visit.scheduled_at.tzinfo is None:
        return visit
    day = visit.scheduled_at.astimezone(ZoneInfo(timezone)).date()
    return visit if day == visit.service_date else visit.model_copy(update={"service_date": day})


async def accept_payment(
    deps: ApiDeps, parsed: ParsedDelivery, event: StripePaymentEvent | None = None
) -> WebhookAck:
    """Hand a payment event (Stripe's, or Square's when `event` is given) to its payment's
    workflow (signal-with-start), then record it.

    Every copy is signalled — the workflow dedupes on the event id, and the package it
    starts is named by the payment — so a copy that arrives after a crash between the
    hand-off and the record is never lost as a "duplicate".
    """
    if parsed.ignored_reason is not None:
        await _record(deps, parsed, status="ignored", detail=parsed.ignored_reason)
        return WebhookAck(
            status="ignored", event_key=parsed.event_key, detail=parsed.ignored_reason
        )
    if event is None:
        event = stripe.payment_event(parsed)
    if event is None:
        detail = "this charge.refunded lists no refunds: they are taken from refund.created"
        await _record(deps, parsed, status="ignored", detail=detail)
        return WebhookAck(status="ignored", event_key=parsed.event_key, detail=detail)
    workflow_id = payment_workflow_id(event.processor, event.payment_intent_id)
    await deps.client.start_workflow(
        "PaymentWorkflow",
        PaymentInput(provider=event.processor, payment_intent_id=event.payment_intent_id),
        id=workflow_id,
        task_queue=deps.settings.task_queue,
        start_signal="event",
        start_signal_args=[event],
    )
    first = await deps.inbound.record(
        provider=parsed.provider,
        event_key=parsed.event_key,
        event_type=parsed.event_type,
        status="accepted",
        detail=f"handed to {workflow_id}",
    )
    if not first:
        return WebhookAck(
            status="duplicate",
            event_key=parsed.event_key,
            detail=f"event {parsed.event_key} was already delivered: nothing changed",
        )
    return WebhookAck(
        status="accepted",
        event_key=parsed.event_key,
        detail=f"{parsed.event_type} handed to {workflow_id}",
    )
