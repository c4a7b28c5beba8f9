"""Every effect a package owes, in one activity per drain.

A redemption owes a confirmation (SMS and email), sometimes a staff alert, a CRM and a
booking-platform write-back and a lifecycle webhook; a reminder owes a renewal Checkout
link first. Each used to be an activity of its own, so every integration added history
events and workflow tasks to every visit. Here they all run concurrently inside one
activity, through the same per-target code (`messaging`, `alerts`, `writeback`, `events`,
`payments`), and each target keeps its own idempotency in its table:

    outbound_messages (message key, channel)   staff_alerts (alert key)
    integration_syncs (package, target)        event_deliveries (event id, url)
    renewal_links / stripe_checkouts (offer key; the processor's idempotency key)
    klaviyo_events (notice key; Klaviyo's unique_id), when the spa hands notices to Klaviyo

so when one target fails transiently and the activity is retried, the others answer
"already done" from their rows and only the failed one is attempted again. A target
refused for good is recorded by its own code and reported back as a failure (the package
alerts staff). On the last attempt the policy allows (`attempt_limit`), what still fails
is recorded as given up and reported the same way instead of raised: bounded, never a
silent retry loop. A provider that asked for a pause (429 Retry-After) holds the retry
back that long, up to the policy's longest interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.alerts import StaffAlertActivities
from activities.events.activities import EventActivities
from activities.messaging.activities import MessagingActivities
from activities.messaging.handoff import (
    ClientMessaging,
    Handoff,
    KlaviyoHandoff,
    PackageFacts,
    hands_to_klaviyo,
    punchcard_sends,
)
from activities.payments.activities import PaymentActivities
from activities.repository.client_pages import ClientPageLinks
from activities.writeback.activities import SyncActivities
from workflows import contracts
from workflows.contracts import (
    ClientMessageInput,
    EffectFailure,
    EffectsInput,
    EffectsResult,
    EffectTarget,
    RenewalCheckoutInput,
    StaffAlertInput,
    SyncResult,
    UndeliveredInput,
)
from workflows.models import RENEWAL_LINK, ClientNoticeEffect, StaffAlertEffect
from workflows.policies import EFFECTS, INVALID_DATA, PERMANENT_ERRORS

EFFECTS_PENDING = "EffectsPending"
PAGE_LINK_LABEL = "Your packages:"
# A transient Checkout failure is retried with the rest for this many attempts (about
# 30 s); after that the offer goes out with the spa's renewal page instead of waiting.
CHECKOUT_ATTEMPTS = 5
# A Retry-After longer than the policy's own longest interval would hold every other
# pending target back with it: cap it there.
_LONGEST_WAIT = EFFECTS.retry.maximum_interval or timedelta(minutes=10)


@dataclass
class _Pending:
    key: str
    target: EffectTarget
    staff_alert: bool
    reason: str
    message_key: str | None = None  # for messages: recorded as failed when given up
    delay: timedelta | None = None  # the provider's Retry-After, when it gave one


@dataclass
class _Outcome:
    """What the targets of one attempt did."""

    attempt: int
    last: bool
    failures: list[EffectFailure] = field(default_factory=list)
    pending: list[_Pending] = field(default_factory=list)
    renewal_link: str | None = None
    sent: int = 0


def _describe(err: BaseException) -> str:
    if isinstance(err, ApplicationError):
        return f"{err.type or type(err).__name__}: {err.message}"[:500]
    return f"{type(err).__name__}: {err}"[:500]


def _permanent(err: BaseException) -> bool:
    return isinstance(err, ApplicationError) and (
        err.non_retryable or (err.type or "") in PERMANENT_ERRORS
    )


class EffectActivities:
    """Composes the per-target activities' code; registered as one activity."""

    def __init__(
        self,
        *,
        alerts: StaffAlertActivities,
        messaging: MessagingActivities,
        payments: PaymentActivities,
        sync: SyncActivities,
        events: EventActivities,
        klaviyo: KlaviyoHandoff | None = None,
        client_messaging: ClientMessaging = "punchcard",
        pages: ClientPageLinks | None = None,
    ) -> None:
        """With `pages`, every client message ends with a link to the client's own page."""
        self._alerts = alerts
        self._messaging = messaging
        self._payments = payments
        self._sync = sync
        self._events = events
        self._klaviyo = klaviyo
        self._client_messaging: ClientMessaging = client_messaging if klaviyo else "punchcard"
        self._pages = pages

    @activity.defn(name=contracts.PERFORM_EFFECTS.name)
    async def perform(self, input: EffectsInput) -> EffectsResult:
        """Perform every effect of `input`; answer once each is done, refused or given up.

        Raises:
            ApplicationError(EffectsPending): some target failed transiently and attempts
                remain; the retry redoes only those targets.
        """
        attempt = activity.info().attempt
        outcome = _Outcome(attempt=attempt, last=attempt >= input.attempt_limit)
        jobs: list[Awaitable[object]] = []
        for notice in input.notices:
            if isinstance(notice, ClientNoticeEffect):
                jobs.append(self._client_notice(input, notice, outcome))
            else:
                jobs.append(self._staff_alert(input, notice, outcome))
        if input.sync is not None:
            key = f"sync:v{input.sync.version}"
            jobs.append(self._target(outcome, key, "crm", self._sync.sync_crm(input.sync)))
            jobs.append(
                self._target(outcome, key, "booking", self._sync.write_back_booking(input.sync))
            )
        for event in input.events:
            jobs.append(
                self._target(outcome, event.event_id, "webhook", self._events.publish(event))
            )
        await asyncio.gather(*jobs)
        if outcome.pending and not outcome.last:
            first = outcome.pending[0]
            # A provider that asked us to wait (429 Retry-After) is not asked again sooner.
            delays = [p.delay for p in outcome.pending if p.delay is not None]
            raise ApplicationError(
                f"{len(outcome.pending)} effect(s) of package {input.package_id} failed and "
                f"will be retried (attempt {attempt} of {input.attempt_limit}); first: "
                f"{first.target} {first.key}: {first.reason}",
                type=EFFECTS_PENDING,
                next_retry_delay=min(max(delays), _LONGEST_WAIT) if delays else None,
            )
        for pending in outcome.pending:
            await self._give_up(pending, attempt)
            outcome.failures.append(
                EffectFailure(
                    key=pending.key,
                    target=pending.target,
                    staff_alert=pending.staff_alert,
                    reason=f"gave up after {attempt} attempts: {pending.reason}",
                )
            )
        return EffectsResult(
            renewal_link=outcome.renewal_link, failures=outcome.failures, sent=outcome.sent
        )

    # --- targets ------------------------------------------------------------------------

    async def _client_notice(
        self, input: EffectsInput, notice: ClientNoticeEffect, outcome: _Outcome
    ) -> None:
        body = notice.body
        link: str | None = None
        if notice.renewal_offer:
            link = await self._renewal_link(input, notice, outcome)
            if link is None:
                return  # pending: the whole notice waits for the retry
            body = body.replace(RENEWAL_LINK, link)
        if self._pages is not None:
            body = with_page_link(body, await self._pages.link_for(input.client_id))
        message = ClientMessageInput(
            message_key=notice.key,
            client_id=input.client_id,
            package_id=input.package_id,
            kind=notice.kind,
            subject=notice.subject,
            body=body,
        )
        jobs: list[Awaitable[bool]] = []
        mode = self._client_messaging
        if punchcard_sends(mode, notice.kind):
            jobs.append(
                self._target(
                    outcome,
                    notice.key,
                    "sms",
                    self._messaging.send_client_sms(message),
                    message=True,
                )
            )
            jobs.append(
                self._target(
                    outcome,
                    notice.key,
                    "email",
                    self._messaging.send_client_email(message),
                    message=True,
                )
            )
        if self._klaviyo is not None and hands_to_klaviyo(mode, notice.kind):
            handoff = _handoff(input, notice, body, link if notice.renewal_offer else None)
            jobs.append(
                self._target(
                    outcome, notice.key, "klaviyo", self._klaviyo.hand_over(handoff), message=True
                )
            )
        await asyncio.gather(*jobs)

    async def _renewal_link(
        self, input: EffectsInput, notice: ClientNoticeEffect, outcome: _Outcome
    ) -> str | None:
        """The offer's link: a stable `/renew/{token}` link (the checkout is made on click),
        or, without links, a checkout for the offer (the same one on every attempt); the
        spa's renewal page once the processor has failed for good or for long enough."""
        offer = input.offer
        if offer is None:
            raise ApplicationError(
                f"renewal offer {notice.key} came without the offer's terms",
                type=INVALID_DATA,
                non_retryable=True,
            )
        checkout = RenewalCheckoutInput(
            offer_key=notice.key,
            package_id=input.package_id,
            client_id=input.client_id,
            type_code=offer.type_code,
            name=offer.name,
            price_cents=offer.price_cents,
        )
        try:
            link = await self._payments.renewal_offer_link(checkout)
        except Exception as err:
            if not _permanent(err) and outcome.attempt < CHECKOUT_ATTEMPTS and not outcome.last:
                outcome.pending.append(_Pending(notice.key, "checkout", False, _describe(err)))
                return None
            activity.logger.warning(
                "renewal checkout for %s failed, sending the renewal page: %s",
                notice.key,
                _describe(err),
            )
            outcome.renewal_link = offer.fallback_url
            return offer.fallback_url
        outcome.renewal_link = link
        return link

    async def _staff_alert(
        self, input: EffectsInput, notice: StaffAlertEffect, outcome: _Outcome
    ) -> None:
        """The alert's row first (the alert of record), then the email about it."""
        alert = StaffAlertInput(
            alert_key=notice.key,
            package_id=input.package_id,
            client_id=input.client_id,
            kind=notice.kind,
            message=notice.message,
        )
        recorded = await self._target(
            outcome, notice.key, "staff_alert", self._alerts.record_staff_alert(alert), staff=True
        )
        if recorded:
            await self._target(
                outcome,
                notice.key,
                "staff_email",
                self._messaging.send_staff_email(alert),
                staff=True,
                message=True,
            )

    async def _target(
        self,
        outcome: _Outcome,
        key: str,
        target: EffectTarget,
        work: Awaitable[object],
        *,
        staff: bool = False,
        message: bool = False,
    ) -> bool:
        """Run one target; True when it is settled (done or refused for good)."""
        try:
            result = await work
        except Exception as err:
            if _permanent(err):
                outcome.failures.append(
                    EffectFailure(key=key, target=target, staff_alert=staff, reason=_describe(err))
                )
                return True
            activity.logger.info("%s for %s failed, will retry: %s", target, key, _describe(err))
            delay = err.next_retry_delay if isinstance(err, ApplicationError) else None
            outcome.pending.append(
                _Pending(
                    key,
                    target,
                    staff,
                    _describe(err),
                    message_key=key if message else None,
                    delay=delay,
                )
            )
            return False
        if isinstance(result, SyncResult):
            for answer in result.results:
                if answer.status == "rejected":
                    outcome.failures.append(
                        EffectFailure(
                            key=key,
                            target=target,
                            staff_alert=False,
                            reason=f"{answer.target}: {answer.detail or 'rejected'}",
                        )
                    )
                elif answer.status == "updated":
                    outcome.sent += 1
        elif getattr(result, "status", None) == "sent":
            outcome.sent += 1
        return True

    async def _give_up(self, pending: _Pending, attempt: int) -> None:
        """Close a message's row as failed, so it never reads `sending` (the other tables
        keep the last error of their target already)."""
        if pending.message_key is None:
            return
        if pending.target == "klaviyo" and self._klaviyo is not None:
            await self._klaviyo.record_undelivered(
                pending.message_key, f"gave up after {attempt} attempts: {pending.reason}"
            )
            return
        if pending.target not in ("sms", "email", "staff_email"):
            return
        channel = "sms" if pending.target == "sms" else "email"
        await self._messaging.record_undelivered(
            UndeliveredInput(
                message_key=pending.message_key,
                channel=channel,
                reason=f"gave up after {attempt} attempts: {pending.reason}",
            )
        )


def with_page_link(body: str, url: str) -> str:
    """The message with the client's page link as its last line."""
    return f"{body}\n{PAGE_LINK_LABEL} {url}"


def _handoff(
    input: EffectsInput, notice: ClientNoticeEffect, body: str, offer_link: str | None
) -> Handoff:
    """The notice for Klaviyo, with the package as this drain knows it: the sync's state
    (the latest), else the newest event's snapshot, else (None) the projection row."""
    facts: PackageFacts | None = None
    sync = input.sync
    if sync is not None:
        facts = PackageFacts(
            name=sync.name,
            kind=sync.kind,
            status=sync.status,
            remaining=sync.remaining,
            purchased_units=sync.purchased_units,
            expires_at=sync.expires_at,
        )
    elif input.events:
        snap = max(input.events, key=lambda e: e.entry_seq or 0).package
        facts = PackageFacts(
            name=snap.name,
            kind=snap.kind.value,
            status=snap.status.value,
            remaining=snap.remaining,
            purchased_units=snap.purchased_units,
            expires_at=snap.expires_at,
        )
    return Handoff(
        key=notice.key,
        kind=notice.kind,
        client_id=input.client_id,
        package_id=input.package_id,
        subject=notice.subject,
        body=body,
        renewal_link=offer_link or (sync.renewal_url if sync is not None else None),
        package=facts,
    )
