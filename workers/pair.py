"""The worker process's two Temporal workers: visits on a queue of their own, the rest.

A visit hands a completion to its package in a local activity that waits for the
package's update, and that wait holds the visit's workflow task slot. Sharing one worker,
a burst of visits could fill every slot, so no package task could start to answer them
(the stall `tests/workflows/test_visit_slots.py` guards). With visits on their own queue
and worker they can only fill their own slots; the hand-over costs a marker in the
visit's history instead of an activity and a second workflow task.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from temporalio.client import Client
from temporalio.worker import Worker


class WorkerPair:
    """Runs, enters and stops both workers together; reads as the main one (its queue and
    client) where one worker is expected."""

    def __init__(self, main: Worker, visits: Worker) -> None:
        self.main = main
        self.visits = visits
        self._stack: contextlib.AsyncExitStack | None = None

    @property
    def task_queue(self) -> str:
        return self.main.task_queue

    @property
    def client(self) -> Client:
        return self.main.client

    async def run(self) -> None:
        """Until both stop; one failing stops the other."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.main.run())
            group.create_task(self.visits.run())

    async def shutdown(self) -> None:
        """Visits first: their hand-overs in flight wait on package tasks, which the main
        worker keeps answering until the visits have stopped."""
        await self.visits.shutdown()
        await self.main.shutdown()

    async def __aenter__(self) -> WorkerPair:
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(self.main)
        await stack.enter_async_context(self.visits)  # exits first (see shutdown)
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)
