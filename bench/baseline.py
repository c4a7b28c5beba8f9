"""The bare-Temporal yardsticks: workflows whose update only counts, plus the structure.

`CounterWorkflow` is the yardstick of the ratio targets: whatever Punchcard's redeem costs
beyond it (validation, state, the ledger, notices) is Punchcard's own overhead; the rest
is the price of a Temporal update on the same server, worker settings and concurrency.

`ShapeWorkflow` (with `--yardsticks`) adds, with empty bodies, what the design asks of
every redemption: a local activity (the ledger write, in the task that accepts the
update), and then one activity (the effects). It separates what Temporal itself charges
for that structure from what Punchcard's code adds on top.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from temporalio import activity, workflow

Shape = Literal["local activity", "local activity + activity"]
SHAPES: tuple[Shape, ...] = ("local activity", "local activity + activity")
LABELS: dict[Shape, str] = {
    "local activity": "bare + local activity",
    "local activity + activity": "bare + local + activity",
}


@workflow.defn(name="BenchCounterWorkflow")
class CounterWorkflow:
    def __init__(self) -> None:
        self._count = 0

    @workflow.run
    async def run(self) -> None:
        """Stay open forever, like a package waiting for its next visit."""
        await workflow.wait_condition(lambda: False)

    @workflow.update(name="increment")
    def increment(self, key: str) -> int:
        """Count one update and answer with the new count; `key` only mirrors a message key."""
        self._count += 1
        return self._count

    @workflow.query(name="count")
    def count(self) -> int:
        return self._count


@activity.defn(name="bench.nothing")
async def nothing(count: int) -> int:
    """An activity body that does nothing: only Temporal's cost of running one remains."""
    return count


@workflow.defn(name="BenchShapeWorkflow")
class ShapeWorkflow:
    """The counter, plus a local activity per drain and an activity per update."""

    def __init__(self) -> None:
        self._count = 0
        self._queued: list[int] = []

    @workflow.run
    async def run(self, shape: Shape) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._queued))
            queued, self._queued = self._queued, []
            if shape == "local activity + activity":
                for count in queued:
                    workflow.start_activity(
                        nothing, count, start_to_close_timeout=timedelta(seconds=30)
                    )
            await workflow.execute_local_activity(
                nothing, len(queued), start_to_close_timeout=timedelta(seconds=10)
            )

    @workflow.update(name="increment")
    def increment(self, key: str) -> int:
        self._count += 1
        self._queued.append(self._count)
        return self._count

    @workflow.query(name="count")
    def count(self) -> int:
        return self._count
