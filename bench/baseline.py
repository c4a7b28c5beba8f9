"""The bare-Temporal yardstick: a workflow whose update only counts.

Whatever Punchcard's redeem costs beyond this (validation, state, the ledger outbox,
notices) is Punchcard's own overhead; the rest is the price of a Temporal update on the
same server, worker settings and concurrency.
"""

from __future__ import annotations

from temporalio import workflow


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
