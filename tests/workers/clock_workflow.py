"""A workflow that reads the wall clock: what a careless edit could do. In a module of its
own, because the sandbox re-imports a workflow's module and everything it imports."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow


@workflow.defn(name="ReadsTheWallClock")
class ReadsTheWallClock:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()
