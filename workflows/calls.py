"""Typed activity contracts and the one way workflows call them.

A `Contract` names an activity, its input and result types, its timeouts and retry
policy, and whether it runs as a local activity. Workflows call `call(CONTRACT, arg)`;
activities implement `@activity.defn(name=CONTRACT.name)`. The types travel with the
name, so a workflow cannot pass the wrong input or read the wrong result without mypy
saying so, and no call site repeats options or casts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

with workflow.unsafe.imports_passed_through():
    from workflows.policies import ActivityOptions

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True, kw_only=True)
class Contract(Generic[ArgT, ResultT]):
    """One activity: `name` as registered, `arg` and `result` types, how it is retried.

    `local` runs it in the worker that runs the workflow task (a marker in history, no
    server round trip), holding that workflow task open while it runs: for short work
    that touches only Punchcard's own database, never a provider that may be slow nor
    anything that waits on another workflow's task (that task may need the slot this one
    holds).
    """

    name: str
    arg: type[ArgT]
    result: type[ResultT]
    options: ActivityOptions
    local: bool = False


async def call(
    contract: Contract[ArgT, ResultT], arg: ArgT, *, summary: str | None = None
) -> ResultT:
    """Run the contract's activity with its options.

    `summary` is the line the Temporal UI's timeline shows (user metadata, not part of the
    command's identity: adding or rewording it replays alike). No PII in it. Local
    activities have no summary field in the UI, so it is ignored for them.
    """
    options = contract.options
    if contract.local:
        try:
            result = await workflow.execute_local_activity(
                contract.name,
                arg,
                result_type=contract.result,
                start_to_close_timeout=options.start_to_close,
                schedule_to_close_timeout=options.schedule_to_close,
                retry_policy=options.retry,
                summary=summary,
            )
        except ApplicationError as err:
            raise _as_activity_error(contract.name, err) from err
    else:
        result = await workflow.execute_activity(
            contract.name,
            arg,
            result_type=contract.result,
            start_to_close_timeout=options.start_to_close,
            schedule_to_close_timeout=options.schedule_to_close,
            heartbeat_timeout=options.heartbeat,
            retry_policy=options.retry,
            summary=summary,
        )
    return cast(ResultT, result)


def _as_activity_error(name: str, err: ApplicationError) -> ActivityError:
    """A local activity's failure can arrive as the bare ApplicationError; callers handle
    every activity failure as ActivityError (with `cause` and `activity_type`), so wrap it."""
    wrapped = ActivityError(
        f"local activity {name} failed",
        scheduled_event_id=0,
        started_event_id=0,
        identity="",
        activity_type=name,
        activity_id="",
        retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
    wrapped.__cause__ = err
    return wrapped
