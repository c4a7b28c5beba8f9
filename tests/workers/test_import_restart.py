"""Kill -9 the worker in the middle of an import of open packages, start another: the job
resumes where it was, and every package comes in once."""

from __future__ import annotations

import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from temporalio.client import Client

from activities.repository import ClientRepository, PackageTypeRepository
from starter.moving_in import ImportService
from tests.conftest import eventually
from tests.workers.test_worker_crash import start_worker
from tests.workflows.conftest import ANA, LASER
from workers.settings import Settings

ROWS = 120


async def test_an_import_resumes_after_a_killed_worker_and_does_nothing_twice(
    settings: Settings, client: Client, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await ClientRepository(pool).upsert(ANA)
    await PackageTypeRepository(pool).upsert(LASER)
    expiry = (datetime.now(UTC) + timedelta(days=200)).date().isoformat()
    run = uuid.uuid4().hex[:8]
    text = "Client ID,Package Type,Expiry Date,Sessions Remaining,Purchase ID\n" + "".join(
        f"{ANA.client_id},laser6,{expiry},{1 + n % 6},{run}-{n}\n" for n in range(ROWS)
    )
    imports = ImportService(client=client, pool=pool, settings=settings)
    job = await imports.submit("packages", text.encode(), actor="mgr", batch_size=5)

    log = tmp_path.joinpath("workers.log").open("wb")
    first = start_worker(settings, log)
    try:
        await eventually(
            lambda: imports.status(job.job_id, lines=False),
            lambda s: s.rows_done >= 25,
            timeout=90,
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    killed_at = (await imports.status(job.job_id, lines=False)).rows_done
    second = start_worker(settings, log)
    try:
        done = await imports.wait(job.job_id, timeout=180)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
        log.close()

    assert killed_at < ROWS, "the worker was killed after the job had finished"
    assert done.status == "done" and done.counts["created"] == ROWS, done.counts
    assert await pool.fetchval("SELECT count(*) FROM packages") == ROWS
    openings = await pool.fetch(
        "SELECT package_id, count(*) AS n FROM ledger_entries WHERE kind = 'opening_balance' "
        "GROUP BY package_id"
    )
    assert len(openings) == ROWS and {r["n"] for r in openings} == {1}
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries") == ROWS
    remaining = await pool.fetchval("SELECT sum(remaining) FROM packages")
    assert remaining == sum(1 + n % 6 for n in range(ROWS))
    print(f"killed after {killed_at} of {ROWS} rows")
