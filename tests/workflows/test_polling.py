"""Polling on the real stack: windows from a durable cursor, catch-up after downtime, and
completions fed to intake counted once however often they are read."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from temporalio import activity
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleOverlapPolicy,
    WorkflowFailureError,
)
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import Worker

from activities.booking.zenoti import ZenotiApi
from activities.polling import PollingActivities
from activities.repository import (
    ClientLink,
    ClientLinkRepository,
    ClientRepository,
    LedgerReader,
    PackageTypeRepository,
    ServiceCatalog,
    ServiceMapping,
)
from activities.repository.poll_locations import PollLocation, PollLocationRepository
from starter.packages import PackageService
from tests.conftest import eventually, settled
from tests.fakes.zenoti import CLOSED, NEW, ZenotiFake
from tests.workflows.conftest import ANA, BEN, CARA, LASER, Spa
from workers.schedules import ensure_poll_schedules
from workers.settings import Settings
from workers.worker import build_worker
from workflows.policies import PROVIDER_REJECTED
from workflows.poll import PollLocationWorkflow
from workflows.poll_models import PollInput, PollOutcome, poll_schedule_id
from workflows.visit_models import SUBMIT_VISITS, Platform, SubmitResult, SubmitVisits, VisitEvent


@pytest.fixture
async def zenoti() -> AsyncIterator[ZenotiFake]:
    fake = ZenotiFake()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def settings(settings: Settings, zenoti: ZenotiFake) -> Settings:
    return settings.model_copy(
        update={"zenoti_base_url": zenoti.base_url, "zenoti_api_key": SecretStr(zenoti.api_key)}
    )


@pytest.fixture
def center() -> str:
    return f"center-{uuid.uuid4().hex[:8]}"


async def poll(client: Client, settings: Settings, center: str, **options: int) -> PollOutcome:
    return await client.execute_workflow(
        PollLocationWorkflow.run,
        PollInput(platform=Platform.ZENOTI, location_id=center, **options),
        id=f"test-poll-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
    )


# --- the whole path: Zenoti -> poll -> intake -> visit -> package -------------------------


async def remaining(ledger: LedgerReader, package_id: str) -> int:
    row = await ledger.balance(package_id)
    assert row is not None
    return row.remaining


async def test_polls_feed_intake_and_a_restarted_worker_catches_up_the_gap(
    settings: Settings, client: Client, pool: asyncpg.Pool, zenoti: ZenotiFake, center: str
) -> None:
    # Three clients, one laser package each (a package takes one session a day).
    await PackageTypeRepository(pool).upsert(LASER)
    for record, guest in ((ANA, "g-ana"), (BEN, "g-ben"), (CARA, "g-cara")):
        await ClientRepository(pool).upsert(record)
        await ClientLinkRepository(pool).link(
            ClientLink(platform="zenoti", external_id=guest, client_id=record.client_id)
        )
    await ServiceCatalog(pool).upsert(
        ServiceMapping(platform="zenoti", service_key="svc-laser", category="laser")
    )
    locations = PollLocationRepository(pool)
    location = await locations.add("zenoti", center, "Test center")
    ledger = LedgerReader(pool)
    spa = Spa(PackageService(client=client, pool=pool, settings=settings), pool, ledger)
    now = datetime.now(UTC)
    done = zenoti.add(center, guest_id="g-ana", start=now - timedelta(hours=3), status=CLOSED)
    later = zenoti.add(center, guest_id="g-ben", start=now - timedelta(hours=1), status=NEW)
    stranger = zenoti.add(center, guest_id="g-nobody", start=now - timedelta(hours=2))
    zenoti.set_status(stranger, CLOSED)

    async with build_worker(settings, client) as worker, worker:
        packages = {
            c.client_id: (await spa.sell("laser6", c.client_id))[0] for c in (ANA, BEN, CARA)
        }
        first = await poll(client, settings, center)

        assert first.window is not None and first.status == "polled"
        assert first.window.end - first.window.start == timedelta(hours=24)  # first lookback
        assert (first.appointments, first.submitted, first.accepted) == (3, 3, 2)
        assert first.unknown_clients == [stranger]
        stored = await locations.get("zenoti", center)
        assert stored is not None and stored.cursor_at == first.window.end
        await eventually(lambda: remaining(ledger, packages["c-ana"]), lambda n: n == 5)
        assert await remaining(ledger, packages["c-ben"]) == 6  # booked only

    # The worker is down. Meanwhile Ben's visit is closed, Cara walks in and out, and the
    # schedule fires: its run waits for a worker.
    zenoti.set_status(later, CLOSED)
    walk_in = zenoti.add(center, guest_id="g-cara", start=datetime.now(UTC), status=CLOSED)
    sync = await ensure_poll_schedules(client, settings, [location])
    schedule = client.get_schedule_handle(poll_schedule_id("zenoti", center))
    try:
        assert sync.created == [schedule.id]
        await schedule.trigger()
        started = await eventually(
            lambda: schedule.describe(), lambda d: len(d.info.recent_actions) == 1
        )
        action = started.info.recent_actions[0].action
        assert isinstance(action, ScheduleActionExecutionStartWorkflow)
        assert len(zenoti.requests) == 1  # nothing was read while the worker was down

        async with build_worker(settings, client) as worker, worker:
            handle = client.get_workflow_handle_for(PollLocationWorkflow.run, action.workflow_id)
            second = await handle.result()
            # It resumed from the stored cursor (less the overlap), not from "now".
            assert second.window is not None
            assert second.window.start == first.window.end - timedelta(minutes=30)
            # Ana's completion is read again with the rest; it must not count twice.
            assert (second.appointments, second.accepted) == (4, 3)
            assert second.unknown_clients == [stranger]
            for package in (packages["c-ben"], packages["c-cara"]):
                await eventually(partial(remaining, ledger, package), lambda n: n == 5)
            again = await poll(client, settings, center)  # and once more, for good measure
            assert again.window is not None and again.accepted == 3
            await settled(client, settings.task_queue)  # the visits finished what they were handed
        stored = await locations.get("zenoti", center)
        assert stored is not None and stored.cursor_at == again.window.end
        for client_id, appointment in (("c-ana", done), ("c-ben", later), ("c-cara", walk_in)):
            package = packages[client_id]
            assert await remaining(ledger, package) == 5
            assert await ledger.count_entries(package, "redemption") == 1
            [redemption] = [e for e in await ledger.entries(package) if e.kind == "redemption"]
            assert redemption.appointment_id == f"zenoti:{appointment}"
    finally:
        await ensure_poll_schedules(
            client, settings, [location.model_copy(update={"active": False})]
        )


# --- the workflow alone, with intake replaced by a recorder -----------------------------


@dataclass
class IntakeRecorder:
    """`intake.submit_visits` as a test double: records what it was handed."""

    batches: list[list[VisitEvent]] = field(default_factory=list)

    @activity.defn(name=SUBMIT_VISITS.name)
    async def submit_visits(self, batch: SubmitVisits) -> SubmitResult:
        self.batches.append(batch.visits)
        return SubmitResult(accepted=len(batch.visits))

    @property
    def keys(self) -> list[str]:
        return [v.event_key for batch in self.batches for v in batch]


@pytest.fixture
async def intake(
    settings: Settings, client: Client, pool: asyncpg.Pool, zenoti: ZenotiFake
) -> AsyncIterator[IntakeRecorder]:
    recorder = IntakeRecorder()
    async with httpx.AsyncClient(timeout=5.0) as http:
        polling = PollingActivities(
            pool, ZenotiApi(http, base_url=zenoti.base_url, api_key=zenoti.api_key)
        )
        async with Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[PollLocationWorkflow],
            activities=[
                polling.read_cursor,
                polling.fetch_page,
                polling.advance_cursor,
                recorder.submit_visits,
            ],
        ):
            yield recorder


async def test_after_a_long_outage_the_whole_gap_is_read_in_pages(
    settings: Settings,
    client: Client,
    pool: asyncpg.Pool,
    zenoti: ZenotiFake,
    intake: IntakeRecorder,
    center: str,
) -> None:
    locations = PollLocationRepository(pool)
    await locations.add("zenoti", center)
    last_poll = datetime.now(UTC) - timedelta(days=10)  # the last run before the outage
    await locations.record_run("zenoti", center, cursor_at=last_poll, result="ok")
    during = zenoti.add(center, guest_id="g", start=last_poll + timedelta(days=1), status=CLOSED)
    recent = zenoti.add(center, guest_id="g", start=datetime.now(UTC), status=NEW)

    outcome = await poll(client, settings, center)

    assert outcome.window is not None
    assert outcome.window.start == last_poll - timedelta(minutes=30)
    assert outcome.pages == len(zenoti.windows(center)) == 2  # at most seven days a request
    assert zenoti.windows(center)[0][0] <= outcome.window.start.date()
    assert intake.keys == [f"zenoti:{during}:completed", f"zenoti:{recent}:booked"]
    stored = await locations.get("zenoti", center)
    assert stored is not None and stored.cursor_at == outcome.window.end
    assert stored.last_result is not None and stored.last_result.startswith("polled: 2 appoint")


async def test_a_gap_longer_than_the_cap_is_caught_up_over_several_runs(
    settings: Settings,
    client: Client,
    pool: asyncpg.Pool,
    zenoti: ZenotiFake,
    intake: IntakeRecorder,
    center: str,
) -> None:
    locations = PollLocationRepository(pool)
    await locations.add("zenoti", center)
    await locations.record_run(
        "zenoti", center, cursor_at=datetime.now(UTC) - timedelta(days=20), result="ok"
    )

    first = await poll(client, settings, center, max_window_days=7)
    second = await poll(client, settings, center, max_window_days=7)
    third = await poll(client, settings, center, max_window_days=7)

    assert [first.caught_up, second.caught_up, third.caught_up] == [False, False, True]
    assert first.window is not None and second.window is not None
    assert second.window.start == first.window.end - timedelta(minutes=30)


async def test_a_run_failing_part_way_keeps_the_cursor_and_the_next_run_reads_it_again(
    settings: Settings,
    client: Client,
    pool: asyncpg.Pool,
    zenoti: ZenotiFake,
    intake: IntakeRecorder,
    center: str,
) -> None:
    locations = PollLocationRepository(pool)
    await locations.add("zenoti", center)
    cursor = datetime.now(UTC) - timedelta(days=9)
    await locations.record_run("zenoti", center, cursor_at=cursor, result="ok")
    early = zenoti.add(center, guest_id="g", start=cursor + timedelta(hours=1), status=CLOSED)
    late = zenoti.add(center, guest_id="g", start=datetime.now(UTC), status=CLOSED)
    zenoti.fail_next(1, status=400, message="Invalid center", after=1)  # page two, for good

    with pytest.raises(WorkflowFailureError) as failure:
        await poll(client, settings, center)

    activity_error = failure.value.cause
    assert isinstance(activity_error, ActivityError)
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError) and cause.type == PROVIDER_REJECTED
    assert intake.keys == [f"zenoti:{early}:completed"]  # page one was handed over
    stored = await locations.get("zenoti", center)
    assert stored is not None and stored.cursor_at == cursor
    assert stored.last_result is not None
    assert stored.last_result.startswith("failed: ProviderRejected")

    outcome = await poll(client, settings, center)

    assert outcome.window is not None
    assert outcome.window.start == cursor - timedelta(minutes=30)
    # Page one again (the same key: a no-op downstream), then what the failure hid.
    assert intake.keys == [
        f"zenoti:{early}:completed",
        f"zenoti:{early}:completed",
        f"zenoti:{late}:completed",
    ]
    stored = await locations.get("zenoti", center)
    assert stored is not None and stored.cursor_at == outcome.window.end


async def test_a_transient_failure_is_retried_within_the_run(
    settings: Settings,
    client: Client,
    pool: asyncpg.Pool,
    zenoti: ZenotiFake,
    intake: IntakeRecorder,
    center: str,
) -> None:
    await PollLocationRepository(pool).add("zenoti", center)
    done = zenoti.add(center, guest_id="g", start=datetime.now(UTC), status=CLOSED)
    zenoti.fail_next(1, status=503, message="busy")

    outcome = await poll(client, settings, center)

    assert outcome.status == "polled" and zenoti.attempts == 2
    assert intake.keys == [f"zenoti:{done}:completed"]


async def test_unknown_or_inactive_locations_are_not_polled(
    settings: Settings,
    client: Client,
    pool: asyncpg.Pool,
    zenoti: ZenotiFake,
    intake: IntakeRecorder,
    center: str,
) -> None:
    assert (await poll(client, settings, center)).status == "inactive"
    locations = PollLocationRepository(pool)
    await locations.add("zenoti", center)
    await locations.deactivate("zenoti", center)

    assert (await poll(client, settings, center)).status == "inactive"
    assert zenoti.attempts == 0 and intake.batches == []


# --- schedules ----------------------------------------------------------------------------


async def test_schedules_are_created_updated_and_removed(
    settings: Settings, client: Client, center: str
) -> None:
    location = PollLocation(platform="zenoti", location_id=center)
    jane = PollLocation(platform="jane", location_id=f"{center}-jane")
    schedule_id = poll_schedule_id("zenoti", center)
    try:
        sync = await ensure_poll_schedules(client, settings, [location, jane])
        assert (sync.created, sync.updated, sync.removed) == ([schedule_id], [], [])
        assert list(sync.blocked) == [poll_schedule_id("jane", jane.location_id)]
        assert "Jane Developer Platform" in sync.blocked[poll_schedule_id("jane", jane.location_id)]
        described = await client.get_schedule_handle(schedule_id).describe()
        spec = described.schedule.spec
        assert [i.every for i in spec.intervals] == [timedelta(minutes=15)]
        assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert described.schedule.policy.catchup_window == timedelta(minutes=15)

        await client.get_schedule_handle(schedule_id).pause(note="staff paused it")
        slower = settings.model_copy(update={"poll_interval_minutes": 30})
        sync = await ensure_poll_schedules(client, slower, [location])
        assert sync.updated == [schedule_id]
        described = await client.get_schedule_handle(schedule_id).describe()
        assert [i.every for i in described.schedule.spec.intervals] == [timedelta(minutes=30)]
        assert described.schedule.state.paused  # kept as staff left it
    finally:
        sync = await ensure_poll_schedules(
            client, settings, [location.model_copy(update={"active": False})]
        )
    assert sync.removed == [schedule_id]
    assert (
        await ensure_poll_schedules(
            client, settings, [location.model_copy(update={"active": False})]
        )
    ).removed == []
