"""Workflows run sandboxed in the test suite, so a non-deterministic call fails CI."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.workers.clock_workflow import ReadsTheWallClock
from workers.settings import Settings
from workers.worker import workflow_runner


async def _run(client: Client, settings: Settings) -> str:
    queue = f"runner-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[ReadsTheWallClock],
        workflow_runner=workflow_runner(settings),
    ):
        result: str = await client.execute_workflow(
            "ReadsTheWallClock",
            id=f"clock-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=5),  # a refused call retries its task
        )
        return result


async def test_the_suite_refuses_the_wall_clock_inside_a_workflow(
    client: Client, settings: Settings
) -> None:
    assert settings.worker_workflow_sandbox
    with pytest.raises(WorkflowFailureError):
        await _run(client, settings)


def test_production_runs_unsandboxed_by_default(settings: Settings) -> None:
    production = settings.model_copy(update={"worker_workflow_sandbox": False})
    assert isinstance(workflow_runner(production), UnsandboxedWorkflowRunner)
