"""A worker whose ledger write is stuck in PostgreSQL still stops, in-process and on SIGTERM.

The write is held by a real lock on `ledger_entries` taken from another connection: the
local activity waits in the database with nothing on the Python side counting down,
which is what held the test fixtures' teardown and `punchcard worker` forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from temporalio.client import Client

from activities.intake import VisitGateway
from activities.repository import ClientRepository, PackageTypeRepository, ServiceMapping
from starter.packages import PackageService, SaleRequest
from tests.conftest import eventually, settled
from tests.workers.test_worker_crash import start_worker
from tests.workflows.conftest import ANA, LASER
from workers.settings import Settings
from workers.shutdown import MIN_LOCAL_GRACE, STOP_MARGIN, running
from workers.worker import build_worker, graceful_shutdown
from workflows.models import EntryKind, RedeemRequest
from workflows.visit_models import Platform, VisitChange, VisitEvent

# Enough for the local activity's grace and the SDK's own stop, well under the margin.
BOUND = MIN_LOCAL_GRACE.total_seconds() + 10


@contextlib.asynccontextmanager
async def ledger_locked(database_url: str) -> AsyncIterator[None]:
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE ledger_entries IN ACCESS EXCLUSIVE MODE")
            yield
    finally:
        await conn.close()


async def ledger_writes_waiting(pool: asyncpg.Pool) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database() AND query ILIKE '%ledger_entries%'"
        )
    )


async def sold(service: PackageService, pool: asyncpg.Pool) -> str:
    await ClientRepository(pool).upsert(ANA)
    await PackageTypeRepository(pool).upsert(LASER)
    [package_id] = (
        await service.sell(SaleRequest(client_id=ANA.client_id, type_code=LASER.type_code))
    ).package_ids
    assert await service.wait_recorded(package_id)
    return package_id


async def test_worker_with_a_stuck_ledger_write_stops_within_its_bound(
    settings: Settings, client: Client, pool: asyncpg.Pool, database_url: str
) -> None:
    service = PackageService(client=client, pool=pool, settings=settings)
    package_id = await sold_without_worker(service, pool, settings, client)
    async with ledger_locked(database_url), build_worker(settings, client) as worker:
        async with running(worker, graceful=graceful_shutdown(settings)):
            await service.send(package_id, RedeemRequest(key="k1", appointment_id="a1"))
            await eventually(lambda: ledger_writes_waiting(pool), lambda n: n >= 1)
            started = time.monotonic()
        stopped_in = time.monotonic() - started  # the write was still blocked throughout
    assert stopped_in < BOUND < (graceful_shutdown(settings) + STOP_MARGIN).total_seconds()


async def test_punchcard_worker_with_a_stuck_ledger_write_exits_on_sigterm(
    settings: Settings, client: Client, pool: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    service = PackageService(client=client, pool=pool, settings=settings)
    package_id = await sold_without_worker(service, pool, settings, client)
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = start_worker(settings, log)
        try:
            async with ledger_locked(database_url):
                await service.send(package_id, RedeemRequest(key="k1", appointment_id="a1"))
                await eventually(lambda: ledger_writes_waiting(pool), lambda n: n >= 1)
                started = time.monotonic()
                process.send_signal(signal.SIGTERM)
                code = await asyncio.to_thread(process.wait, BOUND)
                stopped_in = time.monotonic() - started
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert code == 0, log_path.read_text()
    assert stopped_in < BOUND


async def sold_without_worker(
    service: PackageService, pool: asyncpg.Pool, settings: Settings, client: Client
) -> str:
    """Sell with an in-process worker that is stopped again before the subprocess starts."""
    async with (
        build_worker(settings, client) as worker,
        running(worker, graceful=graceful_shutdown(settings)),
    ):
        return await sold(service, pool)


async def test_a_visit_cut_short_by_a_stop_is_handed_over_after_the_restart(
    settings: Settings, client: Client, pool: asyncpg.Pool, database_url: str
) -> None:
    """The hand-over to the package waits in a local activity; stopping the worker then
    fails the visit's workflow task (not the visit): after the restart the completion is
    redeemed once, with no review item and no staff alert."""
    service = PackageService(client=client, pool=pool, settings=settings)
    package_id = await sold_without_worker(service, pool, settings, client)
    await service.catalog.upsert(
        ServiceMapping(platform="*", service_key="Laser hair removal", category="laser")
    )
    gateway = VisitGateway(client, task_queue=settings.visit_queue, idle_days=1)
    completion = VisitEvent(
        event_key="done-1",
        platform=Platform.BOULEVARD,
        appointment_id="appt-stop",
        change=VisitChange.COMPLETED,
        client_id=ANA.client_id,
        service_name="Laser hair removal",
        occurred_at=datetime.now(UTC),
    )
    async with ledger_locked(database_url), build_worker(settings, client) as worker:
        async with running(worker, graceful=graceful_shutdown(settings)):
            await gateway.submit(completion)
            # The package took the update and waits on the ledger; the visit waits on it.
            await eventually(lambda: ledger_writes_waiting(pool), lambda n: n >= 1)

    async with (
        build_worker(settings, client) as worker,
        running(worker, graceful=graceful_shutdown(settings)),
    ):
        route = "SELECT package_id FROM appointment_routes WHERE appointment_id = 'appt-stop'"
        await eventually(lambda: pool.fetchval(route), lambda found: found == package_id)
        await settled(client, settings.task_queue)
        # In the package's book once (its ledger row follows after the ledger's pause).
        history = await service.history(package_id)
    redeemed = [e.appointment_id for e in history if e.kind is EntryKind.REDEMPTION]
    assert redeemed == ["boulevard:appt-stop"]
    assert await pool.fetchval("SELECT count(*) FROM review_items") == 0
    assert await pool.fetchval("SELECT count(*) FROM staff_alerts") == 0
