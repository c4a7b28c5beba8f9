"""One workflow per Stripe payment: its events (paid, refunded) meet here, in order.

A paid event starts the package the payment bought (rule 14), exactly once: the package
id is derived from the payment intent and the package workflow is started with
REJECT_DUPLICATE, so Stripe's redeliveries, a checkout.session.completed plus its
payment_intent.succeeded, or a second run of this workflow all find it already started.
A payment that cannot be tied to a client and package type goes to the review queue, and
so does one whose amount or currency differs from the price (`amount_mismatch`,
`currency_mismatch`): a payment is never sold silently at a price it did not pay.
charge.refunded is handed to the package: ours is already recorded, a dashboard refund
cancels or reduces it.

The workflow lingers a few minutes after its last event so close redeliveries are
deduplicated by event id too, then ends; a later event starts a fresh run.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    import workflows.payment_models as pm
    import workflows.visibility as visibility
    from workflows.calls import call
    from workflows.ids import package_workflow_id
    from workflows.models import StripeRefundNotice

LINGER = timedelta(minutes=5)


@workflow.defn(name="PaymentWorkflow")
class PaymentWorkflow:
    @workflow.init
    def __init__(self, input: pm.PaymentInput) -> None:
        self._input = input
        self._queue: list[pm.StripePaymentEvent] = []
        self._seen: set[str] = set()
        self._packages: list[str] = []
        self._events: list[str] = []
        self._notes: list[str] = []

    @workflow.signal(name="event")
    def event(self, event: pm.StripePaymentEvent) -> None:
        if event.event_id not in self._seen:
            self._seen.add(event.event_id)
            self._queue.append(event)

    @workflow.query(name="outcome")
    def outcome(self) -> pm.PaymentOutcome:
        return pm.PaymentOutcome(
            payment_intent_id=self._input.payment_intent_id,
            package_ids=list(self._packages),
            events=list(self._events),
            notes=list(self._notes),
        )

    @workflow.run
    async def run(self, input: pm.PaymentInput) -> pm.PaymentOutcome:
        while True:
            try:
                await workflow.wait_condition(lambda: bool(self._queue), timeout=LINGER)
            except TimeoutError:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._queue:
                    return self.outcome()
            event = self._queue.pop(0)
            self._events.append(f"{event.event_type} {event.event_id}")
            if event.event_type in pm.REFUND_EVENTS:
                await self._refunded(event)
            elif event.is_paid:
                await self._paid(event)
            else:
                self._note(f"{event.event_type}: payment not complete yet, nothing to do")

    def _note(self, text: str) -> None:
        self._notes.append(text)
        workflow.logger.info("payment %s: %s", self._input.payment_intent_id, text)

    async def _paid(self, event: pm.StripePaymentEvent) -> None:
        if self._packages:
            self._note(f"{event.event_type}: package {self._packages[0]} already started")
            return
        prepared = await call(
            pm.PREPARE_SALE,
            event,
        )
        review_id = f"payment:{event.payment_intent_id}"
        if prepared.package_input is None:
            reason = prepared.unmatched_reason or "cannot be tied to a client and package type"
            # review_reason only changes the activity's argument, never which commands run,
            # so histories from before it replay alike (theirs decode it as None): no patch.
            await call(
                pm.OPEN_PAYMENT_REVIEW,
                pm.PaymentReviewInput(
                    item_id=review_id,
                    payment_intent_id=event.payment_intent_id,
                    reason=prepared.review_reason or "unmatched_payment",
                    detail=(
                        f"{event.processor.title()} payment {event.payment_intent_id} of {event.amount_cents / 100:.2f} "
                        f"{(event.currency or '').upper()}: {reason}"
                    ),
                    client_id=event.metadata.get("punchcard_client_id"),
                ),
            )
            self._note(f"{event.event_type}: to review ({reason})")
            return
        package = prepared.package_input
        try:
            await workflow.start_child_workflow(
                "PackageWorkflow",
                package,
                id=package_workflow_id(package.package_id),
                task_queue=workflow.info().task_queue,
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                # Attributes of the command, not new commands: histories from before them
                # replay alike (the package upserts its own if a start lacks them).
                search_attributes=visibility.index_at_sale(package).at_start(),
                static_summary=visibility.summary(package),
                static_details=visibility.details(package),
            )
            self._note(f"{event.event_type}: started package {package.package_id}")
        except WorkflowAlreadyStartedError:
            self._note(f"{event.event_type}: package {package.package_id} was already started")
        self._packages.append(package.package_id)
        # An earlier event of this payment may have queued it for review before the
        # event with our metadata arrived: the sale settles it.
        await call(
            pm.CLOSE_PAYMENT_REVIEW,
            pm.CloseReviewInput(
                item_id=review_id, resolution="package started", package_id=package.package_id
            ),
        )

    async def _refunded(self, event: pm.StripePaymentEvent) -> None:
        package_ids: list[str] = await call(
            pm.PACKAGES_FOR_PAYMENT,
            event.payment_intent_id,
        )
        if not package_ids:
            self._note("charge.refunded: no package was bought with this payment")
            return
        for line in event.refunds:
            notice = StripeRefundNotice(
                key=line.refund_id,
                actor="stripe",
                source="stripe",
                refund_id=line.refund_id,
                amount_cents=line.amount_cents,
                charge_amount_cents=event.charge_amount_cents,
                fully_refunded=event.fully_refunded,
                punchcard_refund_key=line.punchcard_refund_key,
            )
            if line.punchcard_refund_key is None and len(package_ids) > 1:
                # A dashboard refund of a shared purchase: which attendee gives units back
                # is a person's call.
                await call(
                    pm.OPEN_PAYMENT_REVIEW,
                    pm.PaymentReviewInput(
                        item_id=f"refund:{line.refund_id}",
                        payment_intent_id=event.payment_intent_id,
                        reason="shared_refund",
                        detail=(
                            f"{event.processor.title()} refund {line.refund_id} of {line.amount_cents / 100:.2f} on "
                            f"a shared purchase ({', '.join(package_ids)}): adjust by hand"
                        ),
                    ),
                )
                continue
            for package_id in package_ids:
                result = await call(
                    pm.DELIVER_REFUND,
                    pm.DeliverRefundInput(package_id=package_id, notice=notice),
                )
                self._note(f"refund {line.refund_id} on {package_id}: {result.message}")
