"""Redemption throughput and latency, against bare Temporal on the same server.

    python -m bench.redemptions [--packages N] [--redemptions M] [--concurrency C]
                                [--integrations all|sms|none]

One run starts its own real stack (Temporal dev server on a SQLite file, embedded
PostgreSQL, an in-process worker from `workers.worker.build_worker`, and, in a process of
their own, the provider stand-ins every integration is configured against) and measures
two things with the same shape of load, N workflows, M updates, at most C in flight:

1. `punchcard redeem`: M redemptions with distinct appointment ids through
   `PackageService.send`, as the API and CLI send them;
2. `bare temporal counter`: M updates to a workflow that only counts (`bench.baseline`).

Numbers only count if nothing was lost, so the run then waits for the Postgres ledger to
hold every redemption, checks each package's balance and every confirmation, audits what
each provider stand-in received (`bench.integrations.audit`), and exits non-zero when
anything does not add up. Figures go to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import platform
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import astuple, dataclass, field
from time import perf_counter

import asyncpg
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.worker import Worker

from activities.db import create_pool
from activities.repository import ClientLink, ClientRecord, PackageTypeRecord
from bench.baseline import LABELS, SHAPES, CounterWorkflow, Shape, ShapeWorkflow, nothing
from bench.cpu import CpuMeter, per_update
from bench.integrations import DESCRIBED, LEVELS, Expected, Level, StandIns, audit, settings_for
from bench.load import Run, Send, check_answers, drive, eventually, plan
from bench.report import report
from bench.stack import Stack, real_stack
from starter.packages import PackageService, SaleRequest
from workers.settings import Settings
from workers.worker import build_worker, workflow_runner
from workflows.ids import package_workflow_id
from workflows.models import PackageKind, RedeemRequest

TYPE_CODE = "bench-laser-series"
SPARE_UNITS = 5  # every package keeps a few sessions, so enforce mode never refuses
SETTLE_TIMEOUT = 120.0  # seconds the ledger and notices get to catch up after the last ack


class BenchFailure(Exception):
    """The load could not even be set up; str() says what to look at."""


# --- the two sides ------------------------------------------------------------------------
#
# Each side is opened once (workers running, workflows warm), then driven in segments that
# alternate, bare then Punchcard, round after round: on a shared machine whose load drifts
# over a minute, both sides see the same drift. A Punchcard segment ends only once all its
# background work (ledger, notices, write-backs) is done, so none of it runs during the next
# bare segment; its CPU is counted with the segment that caused it.


@dataclass
class Side:
    """One side of the comparison: how to send an update, and what it measured so far."""

    label: str
    targets: list[str]
    send: Send
    run: Run = field(init=False)
    cpu_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def __post_init__(self) -> None:
        self.run = Run(self.label)

    def absorb(self, segment: Run, before: dict[str, float], after: dict[str, float]) -> None:
        """Add one segment's figures to the side's totals."""
        self.run.latencies += segment.latencies
        for target, answers in segment.answers.items():
            self.run.answers[target] += answers
        self.run.errors += segment.errors
        self.run.seconds += segment.seconds
        self.run.last_ack = segment.last_ack
        for role, seconds in after.items():
            self.cpu_s[role] += seconds - before.get(role, 0.0)


@contextlib.asynccontextmanager
async def bare_side(
    client: Client, settings: Settings, packages: int, shape: Shape | None = None
) -> AsyncIterator[Side]:
    """`CounterWorkflow`s (or `ShapeWorkflow`s of `shape`) on their own task queue and
    worker, warm, terminated afterwards."""
    task_queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[CounterWorkflow, ShapeWorkflow],
        activities=[nothing],
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        workflow_runner=workflow_runner(settings),  # the same runner as Punchcard's worker
    )
    prefix = "bench-counter" if shape is None else f"bench-{shape.replace(' ', '')}"
    ids = [f"{prefix}-{n:04d}" for n in range(packages)]

    async def increment(workflow_id: str, key: str) -> int:
        handle = client.get_workflow_handle(workflow_id)
        return await handle.execute_update(CounterWorkflow.increment, key, id=key)

    async with worker:
        for workflow_id in ids:
            if shape is None:
                await client.start_workflow(
                    CounterWorkflow.run, id=workflow_id, task_queue=task_queue
                )
            else:
                await client.start_workflow(
                    ShapeWorkflow.run, shape, id=workflow_id, task_queue=task_queue
                )
        for workflow_id in ids:  # warm: each has run its first task, like a sold package
            await client.get_workflow_handle(workflow_id).query(CounterWorkflow.count)
        label = "bare temporal counter" if shape is None else LABELS[shape]
        yield Side(label, ids, increment)
        for workflow_id in ids:
            await client.get_workflow_handle(workflow_id).terminate("benchmark finished")


@dataclass
class Spa:
    """The Punchcard side's packages and the clients who hold them."""

    service: PackageService
    pool: asyncpg.Pool
    clients: list[ClientRecord]
    urns: list[str]
    package_ids: list[str]
    units: int


@contextlib.asynccontextmanager
async def punchcard_side(
    stack: Stack,
    stand_ins: StandIns,
    settings: Settings,
    *,
    level: Level,
    packages: int,
    units: int,
) -> AsyncIterator[tuple[Side, Spa]]:
    """A real worker and N clients with one package each, sold and warm."""
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
        clients = [
            ClientRecord(
                client_id=f"bench-client-{n:04d}",
                name=f"Bench Client {n}",
                phone=f"+1555010{n:04d}",
                email=f"bench-client-{n:04d}@example.invalid",
            )
            for n in range(packages)
        ]
        urns = await stand_ins.add_clients([c.email or "" for c in clients])
        async with build_worker(settings, stack.client) as worker, worker:
            package_ids: list[str] = []
            for n, record in enumerate(clients):
                await service.clients.upsert(record)
                if level == "all":  # booking write-back needs the client's Boulevard id
                    link = ClientLink(
                        platform="boulevard", external_id=urns[n], client_id=record.client_id
                    )
                    await service.links.link(link)
                sale = await service.sell(
                    SaleRequest(
                        client_id=record.client_id,
                        type_code=TYPE_CODE,
                        purchase_id=f"bench-pkg-{n:04d}",
                    )
                )
                package_ids.extend(sale.package_ids)
            for package_id in package_ids:  # warm: the sale is in the ledger
                if not await service.wait_recorded(package_id, timeout=30):
                    raise BenchFailure(
                        f"package {package_id} never reached the ledger: its workflow task is "
                        "probably failing (see the worker warnings above)"
                    )
            await settle(stack.client, package_ids)

            async def redeem(package_id: str, appointment_id: str) -> int:
                request = RedeemRequest(
                    key=appointment_id, appointment_id=appointment_id, actor="bench"
                )
                answer = await service.send(package_id, request)
                if answer.outcome != "redeemed":
                    raise RuntimeError(f"answered {answer.outcome!r}: {answer.message}")
                return answer.remaining

            spa = Spa(service, pool, clients, urns, package_ids, units)
            yield Side("punchcard redeem", package_ids, redeem), spa
    finally:
        await pool.close()


async def settle(client: Client, package_ids: list[str]) -> None:
    """Until no package has an activity or a workflow task pending (effects all done)."""
    busy = await eventually(
        lambda: busy_packages(client, package_ids),
        lambda n: n == 0,
        SETTLE_TIMEOUT,
        poll=0.1,  # a describe per package per probe: costs CPU that is measured
    )
    if busy:
        raise BenchFailure(f"{busy} packages still busy {SETTLE_TIMEOUT:.0f}s after their load")


@dataclass
class Lags:
    """How long after a segment's last ack its ledger rows, notices and effects were done."""

    ledger_s: float = 0.0
    notices_s: float = 0.0
    settled_s: float = 0.0


async def segment_lags(pool: asyncpg.Pool, client: Client, spa: Spa, run: Run, sent: int) -> Lags:
    """Wait for the segment's ledger rows and confirmations, then for every package to be idle."""

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

    await eventually(redemption_rows, lambda n: n >= sent, SETTLE_TIMEOUT)
    lags = Lags(ledger_s=perf_counter() - run.last_ack)
    await eventually(confirmation_rows, lambda n: n >= 2 * sent, SETTLE_TIMEOUT)
    lags.notices_s = perf_counter() - run.last_ack
    await settle(client, spa.package_ids)
    lags.settled_s = perf_counter() - run.last_ack
    return lags


def chunks(work: list[tuple[str, str]], rounds: int) -> list[list[tuple[str, str]]]:
    """`rounds` consecutive slices of the plan, as even as they come."""
    size = math.ceil(len(work) / rounds)
    return [work[i : i + size] for i in range(0, len(work), size)]


async def interleave(
    stack: Stack,
    meter: CpuMeter,
    bare: list[Side],
    punch: Side,
    spa: Spa,
    *,
    redemptions: int,
    concurrency: int,
    rounds: int,
) -> Lags:
    """Drive every side in alternating segments (the bare ones, then Punchcard, each round);
    the worst lags of the Punchcard segments."""
    bare_work = [chunks(plan(side.targets, redemptions, "bump"), rounds) for side in bare]
    punch_work = chunks(plan(punch.targets, redemptions, "appt"), rounds)
    worst = Lags()
    sent = 0
    for n, punch_part in enumerate(punch_work, start=1):
        rates = []
        for side, work in zip(bare, bare_work, strict=True):
            before = meter.take()
            segment = await drive(side.label, work[n - 1], side.send, concurrency, progress=False)
            if side.label.startswith("bare +"):  # its activities run after the last ack
                await settle_tasks(stack.client, side.targets)
            side.absorb(segment, before, meter.take())
            rates.append(f"{side.label} {len(segment.latencies) / segment.seconds:.1f}/s")

        before = meter.take()
        segment = await drive(punch.label, punch_part, punch.send, concurrency, progress=False)
        sent += len(punch_part)
        lags = await segment_lags(spa.pool, stack.client, spa, segment, sent)
        punch.absorb(segment, before, meter.take())
        print(
            f"  round {n}/{rounds}: {', '.join(rates)}, punchcard "
            f"{len(segment.latencies) / segment.seconds:.1f}/s, settled "
            f"{lags.settled_s:.1f}s after its last ack",
            flush=True,
        )
        worst = Lags(*(max(a, b) for a, b in zip(astuple(worst), astuple(lags), strict=True)))
    for side in [*bare, punch]:
        side.run.cpu_ms = per_update({}, dict(side.cpu_s), redemptions)
    return worst


async def settle_tasks(client: Client, workflow_ids: list[str]) -> None:
    """Until none of these workflows has an activity or a workflow task pending."""
    await eventually(
        lambda: busy_workflows(client, workflow_ids), lambda n: n == 0, SETTLE_TIMEOUT, poll=0.1
    )


async def audit_ledger(
    pool: asyncpg.Pool, work: list[tuple[str, str]], *, units: int
) -> tuple[int, int, list[str]]:
    """Postgres against what was acknowledged, exactly: (redemption rows, confirmation rows,
    problems)."""
    want = len(work)
    rows = int(await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'redemption'"))
    confirmations = int(
        await pool.fetchval("SELECT count(*) FROM outbound_messages WHERE kind = 'confirmation'")
    )
    problems: list[str] = []
    if rows != want:
        problems.append(f"ledger holds {rows} redemption rows, {want} were sent")
    if confirmations != 2 * want:
        problems.append(f"{confirmations} confirmation messages recorded, {2 * want} expected")
    sent = per_target(work)
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
    return rows, confirmations, problems


def per_target(work: list[tuple[str, str]]) -> dict[str, int]:
    sent: dict[str, int] = defaultdict(int)
    for target, _ in work:
        sent[target] += 1
    return sent


async def busy_packages(client: Client, package_ids: list[str]) -> int:
    """How many package workflows still have an activity or a workflow task pending."""
    return await busy_workflows(client, [package_workflow_id(p) for p in package_ids])


async def busy_workflows(client: Client, workflow_ids: list[str]) -> int:
    """How many of these workflows still have an activity or a workflow task pending."""
    busy = 0
    for workflow_id in workflow_ids:
        info = (await client.get_workflow_handle(workflow_id).describe()).raw_description
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


async def main(
    packages: int,
    redemptions: int,
    concurrency: int,
    level: Level,
    rounds: int,
    yardsticks: bool = False,
) -> int:
    """One whole run: the stack, every side in alternating rounds, the audits; the exit code."""
    print(
        "starting Temporal dev server (SQLite file), embedded PostgreSQL and stand-ins…", flush=True
    )
    units = math.ceil(redemptions / packages) + SPARE_UNITS
    load = {"packages": packages, "redemptions": redemptions, "concurrency": concurrency}
    async with real_stack() as stack, StandIns.running() as stand_ins:
        settings = Settings(
            temporal_address=stack.temporal_address,
            task_queue=f"bench-punchcard-{uuid.uuid4().hex[:8]}",
            database_url=SecretStr(stack.database_url),
            # Every provider field is set (to a stand-in, or off), whatever the environment
            # says: a benchmark must never text or email anyone.
            **settings_for(level, stand_ins.endpoints),
            worker_graceful_shutdown_seconds=0,
            codec_keys=SecretStr(stack.codec_keys),
        )
        print(
            f"stack: Temporal {stack.temporal_version} on {stack.temporal_db.name} (SQLite), "
            f"PostgreSQL {stack.postgres_version}, in-process workers; "
            f"{packages} workflows, {redemptions} updates, {concurrency} in flight, "
            f"{rounds} alternating rounds",
            flush=True,
        )
        print(f"integrations: {DESCRIBED[level]}", flush=True)
        meter = CpuMeter(stack.pgdata, stand_ins.pid)
        try:
            async with contextlib.AsyncExitStack() as sides:
                bare = await sides.enter_async_context(bare_side(stack.client, settings, packages))
                shapes = [
                    await sides.enter_async_context(
                        bare_side(stack.client, settings, packages, shape)
                    )
                    for shape in (SHAPES if yardsticks else ())
                ]
                punch, spa = await sides.enter_async_context(
                    punchcard_side(
                        stack, stand_ins, settings, level=level, packages=packages, units=units
                    )
                )
                lags = await interleave(
                    stack,
                    meter,
                    [bare, *shapes],
                    punch,
                    spa,
                    redemptions=redemptions,
                    concurrency=concurrency,
                    rounds=rounds,
                )
                punch_work = plan(punch.targets, redemptions, "appt")
                problems = [
                    p
                    for side in (bare, *shapes)
                    for p in check_answers(
                        side.run, plan(side.targets, redemptions, "bump"), first=1, step=1
                    )
                ]
                problems += check_answers(punch.run, punch_work, first=units - 1, step=-1)
                rows, confirmations, ledger_problems = await audit_ledger(
                    spa.pool, punch_work, units=units
                )
                problems += ledger_problems
                messages = await message_counts(spa.pool)
                sent = per_target(punch_work)
                expected = [
                    Expected(
                        package_id=package_id,
                        client_id=record.client_id,
                        phone=record.phone or "",
                        email=record.email or "",
                        boulevard_urn=spa.urns[n],
                        units=units,
                        redemptions=sent[package_id],
                    )
                    for n, (package_id, record) in enumerate(
                        zip(spa.package_ids, spa.clients, strict=True)
                    )
                ]
                figures, audit_problems = await audit(
                    spa.pool, await stand_ins.report(), level, expected
                )
                problems += audit_problems
        except BenchFailure as err:
            print(f"\nFAILED: {err}", file=sys.stderr)
            return 1

    ok = report(
        punch.run,
        bare.run,
        yardsticks=[side.run for side in shapes],
        config={**load, "units_per_package": units, "rounds": rounds, "yardsticks": yardsticks},
        environment={
            "temporal": stack.temporal_version,
            "temporal_persistence": "sqlite file",
            "postgres": stack.postgres_version,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "integrations": DESCRIBED[level],
            "worker": worker_tuning(settings),
        },
        ledger={
            "redemption_rows": rows,
            "lag_after_last_ack_ms": round(lags.ledger_s * 1000, 1),
            "confirmations": confirmations,
            "confirmations_after_last_ack_ms": round(lags.notices_s * 1000, 1),
            "effects_settled_after_last_ack_ms": round(lags.settled_s * 1000, 1),
            "messages": messages,
        },
        integrations=figures,
        problems=problems,
        name=f"redemptions-{level}",
    )
    return 0 if ok else 1


def worker_tuning(settings: Settings) -> dict[str, object]:
    """The worker settings the figures were taken with (every PUNCHCARD_WORKER_* value)."""
    return {
        name.removeprefix("worker_"): value
        for name, value in settings.model_dump().items()
        if name.startswith("worker_")
    }


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
    parser.add_argument(
        "--rounds",
        type=positive,
        default=4,
        help="alternating bare/Punchcard segments the load is split into (default 4)",
    )
    parser.add_argument(
        "--yardsticks",
        action="store_true",
        help="also drive the bare counter plus an empty local activity, and plus an empty "
        "activity per update: what the redemption's structure costs on Temporal alone",
    )
    parser.add_argument(
        "--integrations",
        choices=LEVELS,
        default="all",
        help="providers configured against local stand-ins: all (default, as production "
        "runs), sms (Twilio only) or none",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(
        asyncio.run(
            main(
                args.packages,
                args.redemptions,
                args.concurrency,
                args.integrations,
                args.rounds,
                args.yardsticks,
            )
        )
    )


if __name__ == "__main__":
    cli()
