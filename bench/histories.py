"""Counting a workflow run's history: events, workflow tasks and Temporal Cloud Actions.

Actions are counted from the events by the documented definition (docs.temporal.io,
"Temporal Cloud Actions", /cloud/actions):

    workflow started        every run: client start, signal-with-start, continue-as-new
    signal                  every signal, except the one a signal-with-start carries (one
                            Action in all: its WorkflowExecutionSignaled is event 2)
    update                  every accepted update (rejected ones never reach history; none
                            are sent on the paths measured here)
    activity                every activity scheduled, plus one per retry (attempt - 1)
    local activities        every workflow task that recorded local-activity markers: one
                            Action however many it ran
    timer                   every timer started (the SDK's `wait_condition(timeout=…)` too)
    search attributes       every UpsertWorkflowSearchAttributes command
    child workflow          two per child started (none here)

Queries are Actions too but leave no event; the paths measured send none (the benchmark's
own polling uses DescribeWorkflowExecution, which is not an Action).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

LOCAL_ACTIVITY_MARKER = "core_local_activity"

_ONE_ACTION = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "workflow started",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "update",
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity",
    EventType.EVENT_TYPE_TIMER_STARTED: "timer",
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "search attributes",
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: "signal",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED: "options updated",
}


def event_name(event: HistoryEvent) -> str:
    """ "WorkflowTaskCompleted" for EVENT_TYPE_WORKFLOW_TASK_COMPLETED."""
    raw = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    return "".join(part.capitalize() for part in raw.split("_"))


def actions(events: Iterable[HistoryEvent]) -> Counter[str]:
    """Temporal Cloud Actions these events stand for, by kind (see the module docstring)."""
    found: Counter[str] = Counter()
    marker_tasks: set[int] = set()
    for event in events:
        kind = event.event_type
        if kind in _ONE_ACTION:
            found[_ONE_ACTION[kind]] += 1
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            if event.event_id != 2:  # event 2: the signal of a signal-with-start
                found["signal"] += 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            retries = event.activity_task_started_event_attributes.attempt - 1
            if retries > 0:
                found["activity"] += retries
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == LOCAL_ACTIVITY_MARKER:
                marker_tasks.add(marker.workflow_task_completed_event_id)
        elif kind == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            found["child workflow"] += 2
    if marker_tasks:
        found["local activities"] = len(marker_tasks)
    return found


def workflow_tasks(events: Iterable[HistoryEvent]) -> int:
    return sum(1 for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
