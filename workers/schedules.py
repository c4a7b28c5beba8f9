"""Temporal Schedules the workers run, ensured at every worker start (idempotent).

- `review-escalation`, hourly: review items older than a day alert the manager.
- `reconciliation`, weekly (`reconciliation_cron` in the spa's time zone): the week's
  reconciliation report, stored and emailed to the manager.
- `poll-<platform>-<location>`, one per active polled location (Zenoti centers), every
  `poll_interval_minutes` (15 by default). Overlap SKIP: a run still going (a long
  catch-up) is never doubled. The catch-up window is one interval, so after a Temporal
  outage at most one missed run is taken at once; it reads the whole gap anyway, because
  the window starts at the stored cursor, not at the schedule's time. Deactivated
  locations lose their schedule. An existing schedule is updated in place, keeping
  whether staff paused it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.polling import JANE_BLOCKED
from activities.repository.poll_locations import PollLocation, PollLocationRepository
from workers.settings import Settings
from workflows.poll_models import POLL_WORKFLOW, PollInput, poll_schedule_id
from workflows.reconcile import ReconciliationWorkflow
from workflows.reconcile_models import RECONCILE_SCHEDULE_ID, ReconcileInput
from workflows.reconcile_models import RUN_TIMEOUT as RECONCILE_RUN_TIMEOUT
from workflows.review import ReviewEscalationWorkflow
from workflows.visit_models import EscalateInput, Platform

# A run that cannot finish in this long is stuck (its activities give up in minutes);
# ending it lets the next scheduled run start and re-read the window.
RUN_TIMEOUT = timedelta(hours=1)
MAX_JITTER = timedelta(minutes=1)  # spreads many centers' requests (rate limits are org-wide)
# Locations of these platforms can be recorded, but a schedule would only fail every run.
BLOCKED_PLATFORMS: dict[str, str] = {Platform.JANE.value: JANE_BLOCKED}


@dataclass
class ScheduleSync:
    """What `ensure_poll_schedules` changed, by schedule id."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    blocked: dict[str, str] = field(default_factory=dict)  # schedule id -> why not


def poll_interval(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.poll_interval_minutes)


def poll_schedule(settings: Settings, location: PollLocation) -> Schedule:
    """The schedule of one location: its interval, SKIP overlap, a one-interval catch-up."""
    every = poll_interval(settings)
    platform = Platform(location.platform)
    return Schedule(
        action=ScheduleActionStartWorkflow(
            POLL_WORKFLOW,
            PollInput(platform=platform, location_id=location.location_id),
            id=poll_schedule_id(platform, location.location_id),
            task_queue=settings.task_queue,
            execution_timeout=RUN_TIMEOUT,
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=every)], jitter=min(every / 4, MAX_JITTER)
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=every),
    )


async def ensure_poll_schedules(
    client: Client, settings: Settings, locations: Iterable[PollLocation]
) -> ScheduleSync:
    """Create or update the schedule of every active location; delete inactive ones'.

    Jane locations get no schedule (see `ScheduleSync.blocked`) until Jane polling exists.

    Safe to run at every start-up and after every location change: an existing
    schedule is updated in place (keeping whether staff paused it).
    """
    sync = ScheduleSync()
    for location in locations:
        schedule_id = poll_schedule_id(location.platform, location.location_id)
        blocked = BLOCKED_PLATFORMS.get(location.platform)
        if blocked is not None and location.active:
            sync.blocked[schedule_id] = blocked
        if not location.active or blocked is not None:
            if await _delete(client, schedule_id):
                sync.removed.append(schedule_id)
            continue
        schedule = poll_schedule(settings, location)
        try:
            await client.create_schedule(schedule_id, schedule)
            sync.created.append(schedule_id)
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(schedule_id).update(_replace_with(schedule))
            sync.updated.append(schedule_id)
    return sync


async def remove_poll_schedule(client: Client, platform: Platform | str, location_id: str) -> bool:
    """Delete one location's schedule; False when it had none."""
    return await _delete(client, poll_schedule_id(platform, location_id))


def _replace_with(schedule: Schedule) -> Callable[[ScheduleUpdateInput], ScheduleUpdate]:
    """New action, spec and policy; the state (paused, note) stays as staff left it."""

    def updater(current: ScheduleUpdateInput) -> ScheduleUpdate:
        state = current.description.schedule.state
        return ScheduleUpdate(schedule=dataclasses.replace(schedule, state=state))

    return updater


async def _delete(client: Client, schedule_id: str) -> bool:
    try:
        await client.get_schedule_handle(schedule_id).delete()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


REVIEW_SCHEDULE_ID = "review-escalation"
REVIEW_CHECK_EVERY = timedelta(hours=1)


def review_schedule(settings: Settings) -> Schedule:
    """Hourly: review items older than `review_escalate_hours` (a day) alert the manager."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReviewEscalationWorkflow.run,
            EscalateInput(older_than_hours=settings.review_escalate_hours),
            id=REVIEW_SCHEDULE_ID,
            task_queue=settings.task_queue,
            execution_timeout=timedelta(minutes=30),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=REVIEW_CHECK_EVERY)]),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=REVIEW_CHECK_EVERY
        ),
    )


async def ensure_review_schedule(client: Client, settings: Settings) -> None:
    """Create the schedule, or bring an existing one up to date (safe at every start)."""
    schedule = review_schedule(settings)
    try:
        await client.create_schedule(REVIEW_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(REVIEW_SCHEDULE_ID).update(
            lambda current: ScheduleUpdate(
                schedule=dataclasses.replace(schedule, state=current.description.schedule.state)
            )
        )


def reconciliation_schedule(settings: Settings) -> Schedule:
    """Weekly (`reconciliation_cron`, Monday 07:00 by default, in the spa's time zone): the
    reconciliation of the week before, emailed to the manager. A run missed while Temporal
    was down is still taken up to a day late."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReconciliationWorkflow.run,
            ReconcileInput(),
            id=RECONCILE_SCHEDULE_ID,
            task_queue=settings.task_queue,
            execution_timeout=RECONCILE_RUN_TIMEOUT,
        ),
        spec=ScheduleSpec(
            cron_expressions=[settings.reconciliation_cron], time_zone_name=settings.spa_timezone
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
    )


async def ensure_reconciliation_schedule(client: Client, settings: Settings) -> None:
    """Create the weekly schedule, or bring it up to date keeping whether staff paused it."""
    schedule = reconciliation_schedule(settings)
    try:
        await client.create_schedule(RECONCILE_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(RECONCILE_SCHEDULE_ID).update(_replace_with(schedule))


async def ensure_schedules(client: Client, settings: Settings, pool: asyncpg.Pool) -> ScheduleSync:
    """Every schedule the workers run: escalation, the weekly reconciliation, and one per
    polled location."""
    await ensure_review_schedule(client, settings)
    await ensure_reconciliation_schedule(client, settings)
    return await ensure_poll_schedules(client, settings, await PollLocationRepository(pool).list())
