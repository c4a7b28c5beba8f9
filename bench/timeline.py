"""A workflow's history as a timeline, to see where a slow appointment's seconds went.

Event types and times are readable without the codec key (payloads stay encrypted), so
this works on any stack. Offsets are from a wall-clock origin, e.g. the webhook's ack.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType, PendingWorkflowTaskState
from temporalio.client import Client


@dataclass(frozen=True)
class Event:
    at: float  # wall clock, seconds
    kind: str
    detail: str


def _short(event_type: int) -> str:
    return EventType.Name(event_type).removeprefix("EVENT_TYPE_")  # type: ignore[arg-type]


async def events(client: Client, workflow_id: str) -> list[Event]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    out: list[Event] = []
    for event in history.events:
        kind = _short(event.event_type)
        detail = ""
        if kind == "MARKER_RECORDED":
            attrs = event.marker_recorded_event_attributes
            detail = attrs.marker_name
        elif kind == "ACTIVITY_TASK_SCHEDULED":
            detail = event.activity_task_scheduled_event_attributes.activity_type.name
        elif kind.startswith("WORKFLOW_EXECUTION_UPDATE"):
            detail = "update"
        out.append(Event(at=event.event_time.ToDatetime().timestamp(), kind=kind, detail=detail))
    return out


def render(found: list[Event], *, origin: float, window: tuple[float, float] | None = None) -> str:
    """One line per event: `+1.234s KIND detail`, only those inside `window` if given."""
    lines = []
    for event in found:
        if window is not None and not window[0] <= event.at <= window[1]:
            continue
        lines.append(f"    {event.at - origin:+8.3f}s {event.kind} {event.detail}".rstrip())
    return "\n".join(lines)


def task_waits(found: list[Event]) -> list[float]:
    """Seconds between each workflow task's scheduling and its start (its queue time)."""
    waits, scheduled = [], None
    for event in found:
        if event.kind == "WORKFLOW_TASK_SCHEDULED":
            scheduled = event.at
        elif event.kind == "WORKFLOW_TASK_STARTED" and scheduled is not None:
            waits.append(event.at - scheduled)
            scheduled = None
    return waits


async def pending(client: Client, workflow_id: str) -> str:
    """What the server holds open for a workflow: its workflow task (and since when, on
    which attempt) and its activities."""
    raw = (await client.get_workflow_handle(workflow_id).describe()).raw_description
    parts = []
    if raw.HasField("pending_workflow_task"):
        task = raw.pending_workflow_task
        parts.append(
            f"workflow task {PendingWorkflowTaskState.Name(task.state).rsplit('_', 1)[-1]} since {task.scheduled_time.ToDatetime():%H:%M:%S}, "
            f"attempt {task.attempt}"
        )
    for act in raw.pending_activities:
        parts.append(f"activity {act.activity_type.name} attempt {act.attempt}")
    return "; ".join(parts) or "nothing pending"
