"""Waiting, within a bound, for a handed-over visit event to be settled.

A webhook whose change ends the visit (completed, no-show, late cancel) is answered once
the visit workflow run that got it has settled it, so a platform's burst slows to the
pace the stack really completes visits instead of queueing unseen behind early acks. The
hand-off (signal-with-start) stays the durable part and needs no worker; this wait only
reads, and costs no worker task:

- the run's result: one history long-poll for its close event (`handle.result`, not
  following continue-as-new). Cancelling it (the bound, a sender gone) cancels that RPC
  only; the workflow never hears of it.
- the review queue (PostgreSQL): a completion no package took keeps its run open until
  staff decide, and the item the run opens is named after the event
  (`workflows.ids.visit_review_item_id`), so finding it means the run recorded its step.
  Looked up at growing intervals (0.25 s, 0.5 s, then every second) while the run is open.

Whatever else happens — the bound passes, the run fails or continues as new, Temporal or
PostgreSQL cannot be read — the wait ends with no outcome: the event is in history anyway.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from temporalio.client import WorkflowHandle

from activities.repository import ReviewItem, ReviewQueue
from workflows.ids import visit_review_item_id
from workflows.models import Model
from workflows.visit_models import VisitChange, VisitEvent, VisitOutcome, VisitState

log = logging.getLogger("punchcard.intake")

FIRST_REVIEW_CHECK = 0.25  # seconds after the hand-off; doubled up to REVIEW_CHECK_EVERY
REVIEW_CHECK_EVERY = 1.0


class Handover(Model):
    """What became of one handed-over event, as far as the wait saw."""

    workflow_id: str
    outcome: VisitOutcome | None = None  # None: not settled within the bound (still durable)
    package_id: str | None = None
    detail: str = ""


async def wait_settled(
    handle: WorkflowHandle[Any, VisitState],
    event: VisitEvent,
    *,
    within: float,
    review: ReviewQueue | None,
) -> Handover:
    """The run's step for `event` once the run closed or sent it to review, else (after
    `within` seconds, or anything going wrong) a bare handover."""
    bare = Handover(workflow_id=handle.id)
    if within <= 0:
        return bare
    tasks: set[asyncio.Task[Handover | None]] = {asyncio.create_task(_closed(handle, event, bare))}
    if review is not None:
        tasks.add(asyncio.create_task(_in_review(review, handle.id, event)))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    pending = set(tasks)
    try:
        while pending:
            done, pending = await asyncio.wait(
                pending,
                timeout=max(deadline - loop.time(), 0),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:
                return bare  # the bound
            for task in done:
                if (found := task.result()) is not None:
                    return found
        return bare
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _closed(
    handle: WorkflowHandle[Any, VisitState], event: VisitEvent, bare: Handover
) -> Handover | None:
    """The run's step for the event once it closed; bare if it ended any other way."""
    try:
        state = await handle.result(follow_runs=False)
    except asyncio.CancelledError:
        raise
    except Exception as err:  # failed, terminated, continued as new, unreachable: say nothing
        log.warning("visit %s: no result to report (%s)", handle.id, type(err).__name__)
        return bare
    index = state.seen.get(event.event_key)
    if index is None or index >= len(state.steps):
        return bare
    step = state.steps[index]
    return bare.model_copy(
        update={"outcome": step.outcome, "package_id": step.package_id, "detail": step.detail}
    )


async def _in_review(review: ReviewQueue, workflow_id: str, event: VisitEvent) -> Handover | None:
    """Found once the run opened this event's item (or, for a completion, once the visit
    already waits on one: the run records "already waiting" for it at once)."""
    item_id = visit_review_item_id(event.platform, event.appointment_id, event.event_key)
    waiting_visit = workflow_id if event.change is VisitChange.COMPLETED else None
    pause = FIRST_REVIEW_CHECK
    while True:
        await asyncio.sleep(pause)
        pause = min(pause * 2, REVIEW_CHECK_EVERY)
        try:
            item = await review.waiting_on(item_id, visit_workflow_id=waiting_visit)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the run's close still ends the wait
            log.warning("visit %s: review queue unreadable (%s)", workflow_id, type(err).__name__)
            return None
        if item is not None:
            return Handover(workflow_id=workflow_id, outcome=_outcome(item), detail=item.detail)


def _outcome(item: ReviewItem) -> VisitOutcome:
    if item.kind == "unmatched_visit" and not item.reason.startswith("failed"):
        return VisitOutcome.IN_REVIEW
    return VisitOutcome.FAILED
