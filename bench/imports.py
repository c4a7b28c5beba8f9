"""Moving in at scale: import N clients and M open packages, then the same files again.

    python -m bench.imports [--clients 2000] [--packages 3000] [--batch 50]

One run starts its own real stack (Temporal dev server on a SQLite file, embedded
PostgreSQL, an in-process worker from `workers.worker.build_worker`), makes a clients file
(generic headers with a Mindbody id column) and a packages file (client by Mindbody id,
three package types including dollar credit, purchase dates up to 300 days back, expiries
from 10 to 365 days ahead, some remaining counts partly used), and imports both through
`ImportService` as the API and CLI do, timing each job from submit to done.

Checked before any figure counts: every client and package is in Postgres; every package
workflow is running; for a sample of packages the first timer in its history fires when
its first reminder not yet due (or its expiry) falls; then the same two files again:
nothing created, the ledger unchanged. Targets (issue 12): first import ≤ 180 s, the
re-import ≤ 30 s. Figures go to bench/results/imports.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import platform
import random
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from time import perf_counter
from typing import Literal

import asyncpg
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.db import create_pool
from activities.repository import PackageTypeRecord, PackageTypeRepository
from bench.stack import real_stack
from starter.moving_in import ImportService, ImportStatus
from workers.settings import Settings
from workers.shutdown import running
from workers.worker import build_worker, graceful_shutdown
from workflows import schedule
from workflows.book.staff import open_book
from workflows.book.timers import next_deadline
from workflows.ids import package_workflow_id
from workflows.models import PackageInput, PackageKind, PackageView

TZ = "America/New_York"
TYPES = (
    PackageTypeRecord(
        type_code="laser6", name="Laser (6)", kind=PackageKind.SESSIONS, units=6,
        price_cents=180_000, categories=["laser"], min_interval_days=28,
    ),
    PackageTypeRecord(
        type_code="facial4", name="Facial (4)", kind=PackageKind.SESSIONS, units=4,
        price_cents=60_000, categories=["facial"],
    ),
    PackageTypeRecord(
        type_code="credit500", name="Injectables credit", kind=PackageKind.DOLLARS,
        units=50_000, price_cents=50_000, categories=["injectables"],
    ),
)  # fmt: skip
FIRST_TARGET_S = 180.0
AGAIN_TARGET_S = 30.0
SAMPLE = 40  # packages whose first timer is checked against the plan
RESULTS = Path(__file__).parent / "results" / "imports.json"


def clients_file(count: int) -> str:
    lines = ["Client ID,First Name,Last Name,Mobile Phone,Email,Mindbody ID"]
    for n in range(count):
        lines.append(
            f",Client{n},Bench,(212) {200 + n // 10000:03d}-{n % 10000:04d},"
            f"client{n}@example.com,{100000 + n}"
        )
    return "\n".join(lines) + "\n"


def packages_file(count: int, clients: int, today: date, seed: int = 12) -> str:
    rng = random.Random(seed)
    lines = [
        "Client ID,Package Type,Purchase Date,Expiry Date,Sessions Bought,Sessions Remaining,"
        "Credit,Balance,Price Paid,Purchase ID"
    ]
    for n in range(count):
        client = 100000 + n % clients
        bought_on = today - timedelta(days=rng.randint(1, 300))
        expires_on = today + timedelta(days=rng.randint(10, 365))
        kind = n % 3
        if kind == 0:
            row = f"laser6,{bought_on},{expires_on},6,{rng.randint(1, 6)},,,1800.00"
        elif kind == 1:
            row = f"facial4,{bought_on},{expires_on},4,{rng.randint(1, 4)},,,600"
        else:
            row = (
                f"credit500,{bought_on},{expires_on},,,500.00,{rng.randint(1, 50000) / 100:.2f},500"
            )
        lines.append(f"{client},{row},MB-{n:06d}")
    return "\n".join(lines) + "\n"


async def timed(
    imports: ImportService, kind: Literal["clients", "packages"], text: str, batch: int
) -> tuple[ImportStatus, float]:
    began = perf_counter()
    job = await imports.submit(kind, text.encode(), actor="bench", batch_size=batch)
    step = max(job.rows_total // 10, 1)
    shown = 0
    while True:
        status = await imports.status(job.job_id, lines=False)
        if status.rows_done >= shown + step or status.finished:
            shown = status.rows_done
            print(
                f"  {kind}: {status.rows_done}/{status.rows_total} in {perf_counter() - began:.1f}s",
                flush=True,
            )
        if status.finished:
            break
        await asyncio.sleep(0.2)
    return await imports.status(job.job_id, problems_only=True), perf_counter() - began


async def first_timers_match(client: Client, package_ids: list[str]) -> list[str]:
    """The first timer each sampled package started fires at its book's next deadline."""
    problems = []
    for package_id in package_ids:
        handle = client.get_workflow_handle(package_workflow_id(package_id))
        started = None
        timer = None
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                started = event
            if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
                timer = event
                break
        if started is None or timer is None:
            problems.append(f"{package_id}: no timer started")
            continue
        view: PackageView = await handle.query("state", result_type=PackageView)
        fires = timer.event_time.ToDatetime(tzinfo=UTC) + (
            timer.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        )
        payloads = started.workflow_execution_started_event_attributes.input.payloads
        [package_input] = await client.data_converter.decode(payloads, [PackageInput])
        book = open_book(package_input, started_at=started.event_time.ToDatetime(tzinfo=UTC))
        due = next_deadline(book)
        if due is None or abs(fires - due) > timedelta(seconds=2):
            problems.append(f"{package_id}: timer fires {fires}, plan says {due}")
        if view.snapshot.status != "active":
            problems.append(f"{package_id}: {view.snapshot.status}")
    return problems


async def run(clients: int, packages: int, batch: int) -> int:
    print("starting Temporal dev server (SQLite file) and embedded PostgreSQL…", flush=True)
    async with real_stack() as stack:
        settings = Settings(
            temporal_address=stack.temporal_address,
            task_queue=f"bench-imports-{uuid.uuid4().hex[:8]}",
            database_url=SecretStr(stack.database_url),
            spa_timezone=TZ,
            twilio_account_sid=None,
            twilio_auth_token=None,
            smtp_host=None,
            staff_email="manager@example.invalid",
            worker_graceful_shutdown_seconds=0,
            codec_keys=SecretStr(stack.codec_keys),
        )
        pool = await create_pool(stack.database_url, max_size=4)
        try:
            for package_type in TYPES:
                await PackageTypeRepository(pool).upsert(package_type)
            imports = ImportService(client=stack.client, pool=pool, settings=settings)
            today = datetime.now(UTC).astimezone(schedule.zone(TZ)).date()
            clients_text = clients_file(clients)
            packages_text = packages_file(packages, clients, today)
            async with (
                build_worker(settings, stack.client) as worker,
                running(worker, graceful=graceful_shutdown(settings)),
            ):
                print(f"importing {clients} clients and {packages} packages…", flush=True)
                first_clients, clients_s = await timed(imports, "clients", clients_text, batch)
                first_packages, packages_s = await timed(imports, "packages", packages_text, batch)
                problems = check_first(first_clients, first_packages, clients, packages)
                problems += await check_stored(pool, stack.client, clients, packages)
                entries = await pool.fetchval("SELECT count(*) FROM ledger_entries")
                print("importing the same files again…", flush=True)
                again_clients, again_clients_s = await timed(
                    imports, "clients", clients_text, batch
                )
                again_packages, again_packages_s = await timed(
                    imports, "packages", packages_text, batch
                )
                for status in (again_clients, again_packages):
                    if status.counts["created"] or status.counts["updated"]:
                        problems.append(f"re-import of {status.kind} changed rows: {status.counts}")
                if await pool.fetchval("SELECT count(*) FROM ledger_entries") != entries:
                    problems.append("the re-import changed the ledger")
        finally:
            await pool.close()
    first_s, again_s = clients_s + packages_s, again_clients_s + again_packages_s
    figures = {
        "clients": clients,
        "packages": packages,
        "batch": batch,
        "first_import_s": {
            "clients": round(clients_s, 1),
            "packages": round(packages_s, 1),
            "total": round(first_s, 1),
        },
        "re_import_s": {
            "clients": round(again_clients_s, 1),
            "packages": round(again_packages_s, 1),
            "total": round(again_s, 1),
        },
        "targets_s": {"first_import": FIRST_TARGET_S, "re_import": AGAIN_TARGET_S},
        "temporal": stack.temporal_version,
        "postgres": stack.postgres_version,
        "python": platform.python_version(),
        "problems": problems,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(
        f"\nfirst import: {first_s:.1f}s ({clients_s:.1f}s clients, {packages_s:.1f}s packages; "
        f"target {FIRST_TARGET_S:.0f}s)\nre-import:    {again_s:.1f}s ({again_clients_s:.1f}s "
        f"clients, {again_packages_s:.1f}s packages; target {AGAIN_TARGET_S:.0f}s)"
    )
    for problem in problems[:20]:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    ok = not problems and first_s <= FIRST_TARGET_S and again_s <= AGAIN_TARGET_S
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


def check_first(
    clients_status: ImportStatus, packages_status: ImportStatus, clients: int, packages: int
) -> list[str]:
    problems = [f"line {line.line}: {line.message}" for line in clients_status.lines]
    problems += [f"line {line.line}: {line.message}" for line in packages_status.lines]
    if clients_status.counts["created"] != clients:
        problems.append(f"clients created: {clients_status.counts}")
    if packages_status.counts["created"] != packages:
        problems.append(f"packages created: {packages_status.counts}")
    return problems


async def check_stored(
    pool: asyncpg.Pool, client: Client, clients: int, packages: int
) -> list[str]:
    problems = []
    if (n := await pool.fetchval("SELECT count(*) FROM clients")) != clients:
        problems.append(f"{n} clients stored, not {clients}")
    if (
        n := await pool.fetchval("SELECT count(*) FROM packages WHERE status = 'active'")
    ) != packages:
        problems.append(f"{n} active packages stored, not {packages}")
    running_count = (
        await client.count_workflows(
            "WorkflowType = 'PackageWorkflow' AND ExecutionStatus = 'Running'"
        )
    ).count
    if running_count != packages:
        problems.append(f"{running_count} package workflows running, not {packages}")
    sample = [str(r["package_id"]) for r in await pool.fetch(
        "SELECT package_id FROM packages ORDER BY random() LIMIT $1", SAMPLE
    )]  # fmt: skip
    problems += await first_timers_match(client, sample)
    return problems


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--packages", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(run(args.clients, args.packages, args.batch)))


if __name__ == "__main__":
    cli()
