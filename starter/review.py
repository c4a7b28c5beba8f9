"""Settling review items, for the API and the CLI alike (one path, one set of rules).

An unmatched visit is settled through its visit workflow (`resolve` update), so the
redemption and the closing of the item happen together, exactly once; a follow-up with
no workflow (an SMS asking to BOOK) is simply marked done.
"""

from __future__ import annotations

import uuid

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.repository import ReviewQueue
from starter.packages import NotFound, PunchcardError, Refused
from workflows.models import Model
from workflows.visit import VisitWorkflow
from workflows.visit_models import ResolveAnswer, ResolveReview


class Settled(Model):
    item_id: str
    status: str
    package_id: str | None = None
    detail: str


class ReviewService:
    def __init__(self, *, client: Client, queue: ReviewQueue) -> None:
        self._client = client
        self.queue = queue

    async def settle(self, item_id: str, request: ResolveReview) -> Settled:
        item = await self.queue.get(item_id)
        if item is None:
            raise NotFound(f"no review item {item_id!r}")
        if item.status != "open":
            raise Refused("NotInReview", f"review item {item_id} is already {item.status}")
        if item.visit_workflow_id is None:
            if request.action == "assign":
                raise Refused(
                    "NothingToAssign",
                    f"review item {item_id} is a {item.kind}: dismiss it when done",
                )
            await self.queue.close(
                item_id, status="done", resolved_by=request.actor, resolution=request.reason or ""
            )
            return Settled(item_id=item_id, status="done", detail=request.reason or "")
        handle = self._client.get_workflow_handle_for(VisitWorkflow.run, item.visit_workflow_id)
        try:
            answer: object = await handle.execute_update(
                VisitWorkflow.resolve,
                request,
                # Unique per request: a retry after a refusal (say, after a top-up) is
                # a new decision; the open-item check and package keys keep it once.
                id=f"resolve:{item_id}:{uuid.uuid4().hex}",
            )
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError):
                raise Refused(cause.type or "Refused", cause.message) from None
            raise PunchcardError(f"review item {item_id}: {cause or err}") from None
        except RPCError as err:
            raise PunchcardError(f"review item {item_id}: {err.message}") from None
        # The SDK types an async handler's result as its coroutine: it is the answer.
        assert isinstance(answer, ResolveAnswer)
        return Settled(
            item_id=item_id,
            status="assigned" if request.action == "assign" else "dismissed",
            package_id=answer.package_id,
            detail=answer.detail,
        )
