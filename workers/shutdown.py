"""A worker stop that ends: bounded local activities, a deadline on shutdown, a pool close
that cannot wait forever.

Why it is needed: the SDK never cancels a *local* activity when its worker shuts down, and
the core keeps retrying one that fails or times out while the worker is stopping. The
ledger write runs as a local activity with unlimited attempts, so one slow or failing
write held `Worker.shutdown()` (and the test fixtures and `punchcard worker` behind it)
forever, with nothing on the Python side counting down.

- `LocalActivityShutdownInterceptor`: once the worker is stopping, a local activity gets
  `grace` to finish; after that, or when it fails meanwhile, it ends with a non-retryable
  `WorkerShutdown` failure. The package workflow already treats a failed ledger write as
  "pause, then write the same row again", so the row is written after the restart.
- `running(worker, ...)`: runs a worker for a block and stops it within a deadline,
  naming what still runs when the deadline passes.
- `close_pool(pool, ...)`: `Pool.close()` waits for every connection to be released;
  this gives it a timeout and then terminates the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
)

from workers.pair import WorkerPair
from workflows.policies import WORKER_SHUTDOWN

log = logging.getLogger("punchcard.worker")

# A local activity never gets less than this once the worker stops: a ledger write takes
# milliseconds, so only a stuck or failing one is cut short.
MIN_LOCAL_GRACE = timedelta(seconds=3)
# What `running` allows past the graceful period before it stops waiting for the SDK.
STOP_MARGIN = timedelta(seconds=15)
POOL_CLOSE_TIMEOUT = timedelta(seconds=10)


class WorkerStopTimedOut(RuntimeError):
    """The worker did not finish shutting down within its deadline."""


class LocalActivityShutdownInterceptor(Interceptor):
    """Bound local activities while the worker shuts down (see the module docstring)."""

    def __init__(self, grace: timedelta) -> None:
        self._grace = max(grace, MIN_LOCAL_GRACE)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BoundedLocalActivity(next, self._grace)


class _BoundedLocalActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, grace: timedelta) -> None:
        super().__init__(next)
        self._grace = grace

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if not activity.info().is_local:
            return await self.next.execute_activity(input)
        work = asyncio.ensure_future(self.next.execute_activity(input))
        deadline = asyncio.ensure_future(self._stopping_past_grace())
        try:
            await asyncio.wait({work, deadline}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            deadline.cancel()
            if not work.done():
                work.cancel()
                # An activity that ignores cancellation must not hold the stop either.
                await asyncio.wait({work}, timeout=self._grace.total_seconds())
        if not work.done() or work.cancelled():
            raise ApplicationError(
                f"the worker stopped before {activity.info().activity_type} finished; "
                "it will run again after the restart",
                type=WORKER_SHUTDOWN,
                non_retryable=True,
            )
        err = work.exception()
        if err is None:
            return work.result()
        if activity.is_worker_shutdown() and not _non_retryable(err):
            # The core would retry it in a loop that holds the shutdown: end it here.
            raise ApplicationError(
                f"{activity.info().activity_type} failed while the worker stopped: {err}",
                type=WORKER_SHUTDOWN,
                non_retryable=True,
            ) from err
        raise err

    async def _stopping_past_grace(self) -> None:
        await activity.wait_for_worker_shutdown()
        await asyncio.sleep(self._grace.total_seconds())


def _non_retryable(err: BaseException) -> bool:
    return isinstance(err, ApplicationError) and err.non_retryable


@contextlib.asynccontextmanager
async def running(
    worker: Worker | WorkerPair, *, graceful: timedelta
) -> AsyncIterator[Worker | WorkerPair]:
    """Run `worker` for the block, then stop it within `graceful` plus `STOP_MARGIN`.

    Raises:
        WorkerStopTimedOut: The SDK's shutdown did not return in time; the worker's tasks
            are cancelled and what was still running is logged.
    """
    run = asyncio.create_task(worker.run(), name=f"worker {worker.task_queue}")
    try:
        yield worker
    finally:
        stop = asyncio.create_task(worker.shutdown())
        bound = (graceful + STOP_MARGIN).total_seconds()
        done, _ = await asyncio.wait({run, stop}, timeout=bound)
        if run not in done:
            busy = [t.get_name() for t in asyncio.all_tasks() if _is_activity(t)]
            log.error(
                "worker on %s did not stop within %.0fs; cancelling it (%d activity tasks "
                "still running; open workflows: %s)",
                worker.task_queue,
                bound,
                len(busy),
                await _open_workflows(worker),
            )
            for task in (stop, run):
                task.cancel()
            await asyncio.wait({stop, run}, timeout=POOL_CLOSE_TIMEOUT.total_seconds())
            raise WorkerStopTimedOut(f"worker on {worker.task_queue} did not stop in {bound}s")
        stop.cancel()
        if not run.cancelled() and run.exception() is not None:
            raise run.exception()  # type: ignore[misc]


async def _open_workflows(worker: Worker | WorkerPair) -> str:
    """What the server still has open on the worker's queue: the evidence for a stop that
    hangs inside the SDK (pending workflow tasks, activities, local-activity markers)."""
    found: list[str] = []

    async def collect() -> None:
        query = f'TaskQueue = "{worker.task_queue}" AND ExecutionStatus = "Running"'
        async for execution in worker.client.list_workflows(query, limit=20):
            described = await worker.client.get_workflow_handle(execution.id).describe()
            raw = described.raw_description
            found.append(
                f"{execution.id} (task pending: {raw.HasField('pending_workflow_task')}, "
                f"activities pending: {len(raw.pending_activities)}, "
                f"history events: {raw.workflow_execution_info.history_length})"
            )

    try:
        await asyncio.wait_for(collect(), timeout=5)
    except Exception as err:  # diagnostics only: never hide the timeout itself
        found.append(f"(listing failed: {type(err).__name__})")
    return "; ".join(found) or "none"


def _is_activity(task: asyncio.Task[Any]) -> bool:
    return "_handle_start_activity_task" in repr(task.get_coro())


async def close_pool(pool: asyncpg.Pool, *, timeout: timedelta = POOL_CLOSE_TIMEOUT) -> None:
    """Close `pool`, terminating it when connections are still held after `timeout`."""
    try:
        await asyncio.wait_for(pool.close(), timeout.total_seconds())
    except TimeoutError:
        log.warning(
            "database pool still had connections in use after %.0fs; terminating it",
            timeout.total_seconds(),
        )
        pool.terminate()
