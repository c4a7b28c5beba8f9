"""Redemption throughput and latency, against bare Temporal on the same server.

    python -m bench.redemptions [--packages N] [--redemptions M] [--concurrency C]

One run starts its own real stack (Temporal dev server on a SQLite file, embedded
PostgreSQL, an in-process worker from `workers.worker.build_worker`) and measures two
things with the same shape of load, N workflows, M updates, at most C in flight:

1. `punchcard redeem`: M redemptions with distinct appointment ids through
   `PackageService.send`, as the API and CLI send them;
2. `bare temporal counter`: M updates to a workflow that only counts (`bench.baseline`).

Numbers only count if nothing was lost, so the run then waits for the Postgres ledger to
hold every redemption, checks each package's balance and every confirmation, and exits
non-zero when anything does not add up. Figures go to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import platform
import sys
import uuid
from collections import defaultdict
from dataclasses import dataclass
from time import perf_counter

import asyncpg
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.worker import Worker

from activities.db import create_pool
from activities.repository import ClientRecord, PackageTypeRecord
from bench.baseline import CounterWorkflow
from bench.load import Run, check_answers, drive, eventually, plan
from bench.report import report
from bench.stack import Stack, real_stack
from starter.packages import PackageService, SaleRequest
from workers.settings import Settings
from workers.worker import build_worker
from workflows.ids import package_workflow_id
from workflows.models import PackageKind, RedeemRequest

TYPE_CODE = "bench-laser-series"
SPARE_UNITS = 5  # every package keeps a few sessions, so enforce mode never refuses
SETTLE_TIMEOUT = 120.0  # seconds the ledger and notices get to catch up after the last ack


class BenchFailure(Exception):
    """The load could not even be set up; str() says what to look at."""


# --- bare Temporal ------------------------------------------------------------------------


async def bench_baseline(
    client: Client, *, packages: int, redemptions: int, concurrency: int, settings: Settings
) -> tuple[Run, list[str]]:
    """The same load against `CounterWorkflow`, on its own task queue and worker."""
    task_queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[CounterWorkflow],
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
    )
    ids = [f"bench-counter-{n:04d}" for n in range(packages)]

    async def increment(workflow_id: str, key: str) -> int:
        handle = client.get_workflow_handle(workflow_id)
        return await handle.execute_update(CounterWorkflow.increment, key, id=key)

    async with worker:
        for workflow_id in ids:
            await client.start_workflow(CounterWorkflow.run, id=workflow_id, task_queue=task_queue)
        for workflow_id in ids:  # warm: each has run its first task, like a sold package
            handle = client.get_workflow_handle(workflow_id)
            await handle.query(CounterWorkflow.count)
        work = plan(ids, redemptions, "bump")
        run = await drive("bare temporal counter", work, increment, concurrency)
        problems = check_answers(run, work, first=1, step=1)
        for workflow_id in ids:
            await client.get_workflow_handle(workflow_id).terminate("benchmark finished")
    return run, problems


# --- Punchcard ------------------------------------------------------------------------


@dataclass
class LedgerCheck:
    """What Postgres held once it caught up, and every way it disagreed with the answers."""

    lag_s: float
    redemption_rows: int
    confirmations: int
    notice_lag_s: float
    messages: dict[str, int]
    problems: list[str]


async def bench_punchcard(
    stack: Stack, *, packages: int, redemptions: int, concurrency: int, settings: Settings
) -> tuple[Run, LedgerCheck, int]:
    """Sell N packages, redeem M appointments through PackageService, then audit Postgres."""
    per_package = math.ceil(redemptions / packages)
    units = per_package + SPARE_UNITS
    pool = await create_pool(stack.database_url, max_size=4)
    try:
        service = PackageService(client=stack.client, pool=pool, settings=settings)
        await service.types.upsert(
            PackageTypeRecord(
                type_code=TYPE_CODE,
                name=f"Laser series of {units}",
                kind=PackageKind.SESSIONS,
                units=units,
                price_cents=units * 25_000,
                expiry_months=12,
                categories=["laser"],
            )
        )
        package_ids: list[str] = []
        async with build_worker(settings, stack.client) as worker, worker:
            for n in range(packages):
                client_id = f"bench-client-{n:04d}"
                await service.clients.upsert(
                    ClientRecord(
                        client_id=client_id,
                        name=f"Bench Client {n}",
                        phone=f"+1555010{n:04d}",
                        email=f"{client_id}@example.invalid",
                    )
                )
                sale = await service.sell(
                    SaleRequest(
                        client_id=client_id, type_code=TYPE_CODE, purchase_id=f"bench-pkg-{n:04d}"
                    )
                )
                package_ids.extend(sale.package_ids)
            for package_id in package_ids:  # warm: the sale is in the ledger
                if not await service.wait_recorded(package_id, timeout=30):
                    raise BenchFailure(
                        f"package {package_id} never reached the ledger: its workflow task is "
                        "probably failing (see the worker warnings above)"
                    )

            async def redeem(package_id: str, appointment_id: str) -> int:
                request = RedeemRequest(
                    key=appointment_id, appointment_id=appointment_id, actor="bench"
                )
                answer = await service.send(package_id, request)
                if answer.outcome != "redeemed":
                    raise RuntimeError(f"answered {answer.outcome!r}: {answer.message}")
                return answer.remaining

            work = plan(package_ids, redemptions, "appt")
            run = await drive("punchcard redeem", work, redeem, concurrency)
            check = await audit_ledger(pool, run, work, units=units)
            # Let background notices and alerts finish, so the message counts are whole
            # and the worker stops without cutting activities short.
            await eventually(
                lambda: busy_packages(stack.client, package_ids), lambda n: n == 0, SETTLE_TIMEOUT
            )
            check.messages = await message_counts(pool)
            check.problems = check_answers(run, work, first=units - 1, step=-1) + check.problems
        return run, check, units
    finally:
        await pool.close()


async def audit_ledger(
    pool: asyncpg.Pool, run: Run, work: list[tuple[str, str]], *, units: int
) -> LedgerCheck:
    """Wait for Postgres to catch up with what was acknowledged, then compare them exactly."""
    want = len(work)

    async def redemption_rows() -> int:
        return int(
            await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'redemption'")
        )

    async def confirmation_rows() -> int:
        return int(
            await pool.fetchval(
                "SELECT count(*) FROM outbound_messages WHERE kind = 'confirmation'"
            )
        )

    rows = await eventually(redemption_rows, lambda n: n >= want, SETTLE_TIMEOUT)
    lag = perf_counter() - run.last_ack
    confirmations = await eventually(confirmation_rows, lambda n: n >= 2 * want, SETTLE_TIMEOUT)
    notice_lag = perf_counter() - run.last_ack

    problems: list[str] = []
    if rows != want:
        problems.append(f"ledger holds {rows} redemption rows, {want} were sent")
    if confirmations != 2 * want:
        problems.append(f"{confirmations} confirmation messages recorded, {2 * want} expected")

    sent: dict[str, int] = defaultdict(int)
    for package_id, _ in work:
        sent[package_id] += 1
    balances = {
        r["package_id"]: (r["remaining"], r["redeemed"])
        for r in await pool.fetch(
            """
            SELECT p.package_id, p.remaining,
                   (SELECT count(*) FROM ledger_entries e
                    WHERE e.package_id = p.package_id AND e.kind = 'redemption') AS redeemed
            FROM packages p
            """
        )
    }
    for package_id, count in sorted(sent.items()):
        remaining, redeemed = balances.get(package_id, (None, 0))
        if remaining != units - count or redeemed != count:
            problems.append(
                f"{package_id}: remaining {remaining} with {redeemed} ledger redemptions, "
                f"expected {units - count} after {count}"
            )
    return LedgerCheck(lag, rows, confirmations, notice_lag, {}, problems)


async def busy_packages(client: Client, package_ids: list[str]) -> int:
    """How many package workflows still have an activity or a workflow task pending."""
    busy = 0
    for package_id in package_ids:
        described = await client.get_workflow_handle(package_workflow_id(package_id)).describe()
        info = described.raw_description
        busy += bool(info.pending_activities) or info.HasField("pending_workflow_task")
    return busy


async def message_counts(pool: asyncpg.Pool) -> dict[str, int]:
    """Messages by channel and status, plus staff alerts: what the notices amounted to."""
    counts = {
        f"{r['channel']} {r['status']}": int(r["n"])
        for r in await pool.fetch(
            "SELECT channel, status, count(*) AS n FROM outbound_messages GROUP BY 1, 2 ORDER BY 1, 2"
        )
    }
    counts["staff alerts"] = int(await pool.fetchval("SELECT count(*) FROM staff_alerts"))
    return counts


# --- the run ------------------------------------------------------------------------


async def main(packages: int, redemptions: int, concurrency: int) -> int:
    """One whole run: the stack, the baseline, Punchcard, the audit; the exit code."""
    print("starting Temporal dev server (SQLite file) and embedded PostgreSQL…", flush=True)
    async with real_stack() as stack:
        settings = Settings(
            temporal_address=stack.temporal_address,
            task_queue=f"bench-punchcard-{uuid.uuid4().hex[:8]}",
            database_url=SecretStr(stack.database_url),
            # Providers are left unconfigured on purpose, whatever the environment says:
            # a benchmark must never text or email anyone.
            twilio_account_sid=None,
            twilio_auth_token=None,
            smtp_host=None,
            staff_email="manager@example.invalid",
            worker_graceful_shutdown_seconds=0,
            codec_keys=SecretStr(stack.codec_keys),
        )
        print(
            f"stack: Temporal {stack.temporal_version} on {stack.temporal_db.name} (SQLite), "
            f"PostgreSQL {stack.postgres_version}, in-process workers; "
            f"{packages} workflows, {redemptions} updates, {concurrency} in flight",
            flush=True,
        )
        print(
            "SMS/email providers are not configured: every notice is recorded in "
            "outbound_messages as not_configured, nothing is sent",
            flush=True,
        )
        load = {"packages": packages, "redemptions": redemptions, "concurrency": concurrency}
        try:
            bare, bare_problems = await bench_baseline(stack.client, settings=settings, **load)
            punch, check, units = await bench_punchcard(stack, settings=settings, **load)
        except BenchFailure as err:
            print(f"\nFAILED: {err}", file=sys.stderr)
            return 1

    problems = check.problems + bare_problems
    ok = report(
        punch,
        bare,
        config={**load, "units_per_package": units},
        environment={
            "temporal": stack.temporal_version,
            "temporal_persistence": "sqlite file",
            "postgres": stack.postgres_version,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "messaging": "providers not configured (recorded as not_configured)",
        },
        ledger={
            "redemption_rows": check.redemption_rows,
            "lag_after_last_ack_ms": round(check.lag_s * 1000, 1),
            "confirmations": check.confirmations,
            "confirmations_after_last_ack_ms": round(check.notice_lag_s * 1000, 1),
            "messages": check.messages,
        },
        problems=problems,
    )
    return 0 if ok else 1


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def cli() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.redemptions",
        description="Redemption throughput and latency of Punchcard against bare Temporal.",
    )
    parser.add_argument("--packages", type=positive, default=20, help="workflows (default 20)")
    parser.add_argument(
        "--redemptions", type=positive, default=400, help="updates per side (default 400)"
    )
    parser.add_argument(
        "--concurrency", type=positive, default=8, help="updates in flight (default 8)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(main(args.packages, args.redemptions, args.concurrency)))


if __name__ == "__main__":
    cli()
