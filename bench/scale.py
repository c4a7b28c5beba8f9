"""Many open packages on `punchcard up`: memory, cache and sale rate at each size.

    python -m bench.scale [--checkpoints 1000,10000] [--concurrency 16] [--touch 200]

One run starts a real `punchcard up --no-demo` (temporary data directory, free ports:
`bench.up`) and sells packages through the CLI's `PackageService.sell`, S at a time, each
to its own client. Every package is a workflow that stays open with one pending timer
(its next reminder; reminders at 60/30/14 days before expiry, then the expiry itself).

At each checkpoint, once every sale so far is in the Postgres ledger, it records:
- the sale rate (packages per second, sale call to ledger row) since the last checkpoint;
- the `up` process's memory (worker and API share it), the Temporal dev server's and
  PostgreSQL's (with its backends), after a short idle so the numbers settle;
- the worker's sticky cache size (`temporal_sticky_cache_size`), which
  PUNCHCARD_WORKER_MAX_CACHED_WORKFLOWS bounds;
- disk: the dev server's SQLite file (with its WAL), the Postgres database;
- open package workflows (visibility count) and, for a sample, that the timer is pending.

Then `--touch N` redemptions on packages picked at random (most of them evicted from the
cache at 10k): their ack latency and the cache misses they caused, i.e. what a replay
costs. Figures go to bench/results/scale.json; exits 1 if a sale never reached the ledger
or a sampled package has no pending timer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import operator
import os
import platform
import random
import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from time import perf_counter
from typing import Any

import asyncpg
import httpx
from temporalio.client import Client

from activities.db import create_pool
from activities.repository import ClientRecord, PackageTypeRecord
from bench import probe, timeline
from bench.load import eventually, percentile
from bench.up import UpStack, extra_settings, punchcard_up
from starter.packages import PackageService, SaleRequest
from workers.worker import connect_temporal
from workflows.ids import package_workflow_id
from workflows.models import PackageKind, RedeemRequest

RESULTS = Path(__file__).with_name("results") / "scale.json"
TYPE_CODE = "scale-facial-6"
SETTLE_S = 10.0  # idle before memory is read, so in-flight work and GC settle
LEDGER_TIMEOUT = 900.0
TIMER_SAMPLE = 20


async def in_ledger(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM packages"))


async def sell(service: PackageService, start: int, stop: int, concurrency: int) -> None:
    """Clients start..stop-1, one package each, `concurrency` sales in flight."""
    gate = asyncio.Semaphore(concurrency)
    step = max((stop - start) // 10, 1)
    began = perf_counter()
    done = 0

    async def one(n: int) -> None:
        nonlocal done
        async with gate:
            client_id = f"scale-client-{n:06d}"
            await service.clients.upsert(
                ClientRecord(
                    client_id=client_id,
                    name=f"Scale Client {n}",
                    phone=f"+1555{3_000_000 + n:07d}",
                    email=f"{client_id}@example.invalid",
                )
            )
            await service.sell(
                SaleRequest(client_id=client_id, type_code=TYPE_CODE, purchase_id=f"scale-{n:06d}")
            )
            done += 1
            if done % step == 0:
                rate = done / (perf_counter() - began)
                print(f"  sold {start + done}/{stop} ({rate:.0f}/s started)", flush=True)

    await asyncio.gather(*(one(n) for n in range(start, stop)))


async def pending_timers(client: Client, package_ids: list[str]) -> list[str]:
    """Packages of the sample whose history has no timer left running (should be none)."""
    missing = []
    for package_id in package_ids:
        events = await timeline.events(client, package_workflow_id(package_id))
        started = sum(e.kind == "TIMER_STARTED" for e in events)
        ended = sum(e.kind in ("TIMER_FIRED", "TIMER_CANCELED") for e in events)
        if started <= ended:
            missing.append(package_id)
    return missing


def disk_mb(data_dir: Path) -> float:
    temporal = data_dir / "temporal"
    return sum(p.stat().st_size for p in temporal.glob("temporal.db*")) / 2**20


async def checkpoint(
    stack: UpStack,
    pool: asyncpg.Pool,
    client: Client,
    http: httpx.AsyncClient,
    *,
    sold: int,
    sale_seconds: float,
    since: int,
) -> dict[str, Any]:
    await asyncio.sleep(SETTLE_S)
    metrics = await probe.scrape(http, stack.metrics_url)
    procs = probe.sample_all(stack.pids())
    running = await client.count_workflows(
        "WorkflowType = 'PackageWorkflow' AND ExecutionStatus = 'Running'"
    )
    sample = random.sample(range(sold), min(TIMER_SAMPLE, sold))
    no_timer = await pending_timers(client, [f"scale-{n:06d}" for n in sample])
    events = [
        len(await timeline.events(client, package_workflow_id(f"scale-{n:06d}")))
        for n in sample[:5]
    ]
    row = {
        "packages": sold,
        "sales_per_s": round((sold - since) / sale_seconds, 1),
        "open_package_workflows": running.count,
        "sticky_cache_size": metrics.total("temporal_sticky_cache_size"),
        "memory_mb": {name: round(s.rss_mb, 1) for name, s in procs.items()},
        "temporal_sqlite_mb": round(disk_mb(stack.data_dir), 1),
        "postgres_db_mb": round(
            int(await pool.fetchval("SELECT pg_database_size(current_database())")) / 2**20, 1
        ),
        "ledger_rows": int(await pool.fetchval("SELECT count(*) FROM ledger_entries")),
        "history_events_per_package": events,
        "sampled_without_pending_timer": no_timer,
    }
    print(f"checkpoint {sold}: {json.dumps(row)}", flush=True)
    return row


async def touch(
    service: PackageService, http: httpx.AsyncClient, stack: UpStack, sold: int, count: int
) -> dict[str, Any]:
    """Redeem on random packages, one at a time: each is most likely out of the cache."""
    before = await probe.scrape(http, stack.metrics_url)
    latencies = []
    for i, n in enumerate(random.sample(range(sold), min(count, sold))):
        request = RedeemRequest(key=f"touch-{i}", appointment_id=f"touch-{i}", actor="bench")
        began = perf_counter()
        await service.send(f"scale-{n:06d}", request)
        latencies.append((perf_counter() - began) * 1000)
    after = await probe.scrape(http, stack.metrics_url)
    ms = sorted(latencies)
    miss = "temporal_sticky_cache_miss"
    return {
        "redemptions": len(ms),
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "cache_misses": after.total(miss) - before.total(miss),
    }


async def measure(stack: UpStack, args: argparse.Namespace) -> bool:
    pool = await create_pool(stack.settings.database_dsn(), max_size=4)
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    try:
        client = await connect_temporal(stack.settings)
        service = PackageService(client=client, pool=pool, settings=stack.settings)
        await service.types.upsert(
            PackageTypeRecord(
                type_code=TYPE_CODE,
                name="HydraFacial 6-pack",
                kind=PackageKind.SESSIONS,
                units=6,
                price_cents=90_000,
                expiry_months=12,
                categories=["facial"],
            )
        )
        async with httpx.AsyncClient() as http:
            sold = 0
            for target in args.checkpoints:
                began = perf_counter()
                await sell(service, sold, target, args.concurrency)
                recorded = await eventually(
                    lambda: in_ledger(pool), partial(operator.le, target), LEDGER_TIMEOUT
                )
                seconds = perf_counter() - began
                if recorded < target:
                    problems.append(f"{target - recorded} sales never reached the ledger")
                row = await checkpoint(
                    stack, pool, client, http, sold=target, sale_seconds=seconds, since=sold
                )
                problems += [f"{p}: no pending timer" for p in row["sampled_without_pending_timer"]]
                rows.append(row)
                sold = target
            touched = await touch(service, http, stack, sold, args.touch) if args.touch else None
    finally:
        await pool.close()
    return report(rows, touched, problems, args)


def report(
    rows: list[dict[str, Any]],
    touched: dict[str, Any] | None,
    problems: list[str],
    args: argparse.Namespace,
) -> bool:
    print()
    print(
        f"{'packages':>9}{'sales/s':>9}{'cache':>7}{'up MB':>8}{'temporal MB':>12}"
        f"{'postgres MB':>12}{'sqlite MB':>10}{'pg db MB':>9}"
    )
    for r in rows:
        mem = r["memory_mb"]
        print(
            f"{r['packages']:>9}{r['sales_per_s']:>9}{r['sticky_cache_size']:>7.0f}"
            f"{mem.get('up (worker + API)', 0):>8.0f}{mem.get('temporal dev server', 0):>12.0f}"
            f"{mem.get('postgres (postmaster)', 0):>12.0f}{r['temporal_sqlite_mb']:>10.1f}"
            f"{r['postgres_db_mb']:>9.1f}"
        )
    if touched:
        print(f"touch: {json.dumps(touched)}")
    figures = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "checkpoints": args.checkpoints,
            "concurrency": args.concurrency,
            "settings": extra_settings(args.env),
        },
        "environment": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "checkpoints": rows,
        "touch": touched,
        "ok": not problems,
        "problems": problems,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures written to {RESULTS}")
    if problems:
        print(f"FAILED: {len(problems)} problem(s)", file=sys.stderr)
        for problem in problems[:20]:
            print(f"  {problem}", file=sys.stderr)
        return False
    print("verified: every sale in the ledger, each sampled package waits on its timer")
    return True


async def run(args: argparse.Namespace) -> bool:
    async with punchcard_up(extra_settings(args.env), keep=args.keep, label="scale") as stack:
        return await measure(stack, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--checkpoints",
        default="1000,10000",
        help="package counts at which to measure, ascending (the last is the total)",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="sales in flight")
    parser.add_argument(
        "--touch", type=int, default=200, help="redemptions on random packages at the end"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="PUNCHCARD_NAME=VALUE",
        help="extra configuration for `punchcard up` (repeatable), e.g. the cache size",
    )
    args = parser.parse_args()
    args.checkpoints = sorted(int(x) for x in args.checkpoints.split(","))
    logging.basicConfig(level=logging.WARNING)
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()
