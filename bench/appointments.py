"""History events and Temporal Actions per completed appointment, by integration count.

    python -m bench.appointments [--packages N] [--rounds R] [--integrations none,sms,all]

For each integration level (`bench.integrations`) one run starts its own stack (Temporal
dev server, embedded PostgreSQL, the provider stand-ins in their own process), a real
worker and the real API in-process, and drives appointments the way production does:

1. N clients, each linked to a Boulevard client and holding one package, sold through
   `PackageService.sell`; once every sale is settled, each package run's history length
   is noted, so the sale's own events are not counted;
2. R rounds: in each, one signed Boulevard APPOINTMENT_COMPLETED webhook per package is
   POSTed to /webhooks/boulevard (the real route: signature check, client resolution,
   inbound record, signal-with-start of the appointment's visit workflow), a day apart
   between rounds; a round ends once every visit workflow closed, every ledger row is
   in and no package has work left (confirmation sent, write-backs and webhooks done);
   so each completion is measured alone, as a spa's packages see them;
3. then every history is fetched from the server: each appointment's visit workflow,
   and every run of every package workflow (continue-as-new runs included), and their
   events, workflow tasks and Actions (`bench.histories`) summed and divided by the
   number of completions.

Checks: every webhook was accepted, every appointment redeemed exactly one session, and
what the stand-ins received adds up (`bench.integrations.audit`). Targets: at most 40
events per completed appointment, the same at every integration level. Figures go to
bench/results/appointments.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import platform
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from time import perf_counter
from typing import Any

import asyncpg
import httpx
from pydantic import SecretStr
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionStatus

from activities.db import create_pool
from activities.repository import ClientLink, ClientRecord, PackageTypeRecord, ServiceMapping
from bench.histories import actions, event_name, workflow_tasks
from bench.integrations import (
    COUNT,
    DESCRIBED,
    LEVELS,
    Expected,
    Level,
    StandIns,
    audit,
    settings_for,
)
from bench.load import eventually
from bench.redemptions import busy_packages
from bench.report import write_results
from bench.stack import Stack, real_stack
from starter.api.app import create_app
from starter.ingress.signing import boulevard_headers
from starter.packages import PackageService, SaleRequest
from workers.settings import Settings
from workers.worker import build_worker
from workflows.models import PackageKind

TARGET_EVENTS = 40
TYPE_CODE = "bench-laser-course"
SERVICE = "Laser Hair Removal - Underarm"
WEBHOOK_SECRET = "bench-boulevard-webhook-secret"
ROUND_TIMEOUT = 120.0
COMPLETED = WorkflowExecutionStatus.COMPLETED


@dataclass
class Tally:
    """Events, workflow tasks and Actions of a set of histories (or slices of them)."""

    runs: int = 0
    events: int = 0
    workflow_tasks: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)

    def add(self, events: list[HistoryEvent]) -> None:
        self.runs += 1
        self.events += len(events)
        self.workflow_tasks += workflow_tasks(events)
        self.actions.update(actions(events))
        self.by_type.update(event_name(e) for e in events)

    def per(self, n: int) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "events": round(self.events / n, 2),
            "workflow_tasks": round(self.workflow_tasks / n, 2),
            "actions": round(sum(self.actions.values()) / n, 2),
            "actions_by_kind": {k: round(v / n, 2) for k, v in sorted(self.actions.items())},
            "events_by_type": {k: round(v / n, 2) for k, v in sorted(self.by_type.items())},
        }


@dataclass
class LevelResult:
    level: Level
    completions: int
    visit: Tally
    package: Tally
    sale: Tally
    round_seconds: list[float]
    integrations: dict[str, Any]
    problems: list[str]

    def figures(self) -> dict[str, Any]:
        n = self.completions
        visit, package = self.visit.per(n), self.package.per(n)
        return {
            "integrations": DESCRIBED[self.level],
            "integration_count": COUNT[self.level],
            "completions": n,
            "events_per_completion": round(visit["events"] + package["events"], 2),
            "workflow_tasks_per_completion": round(
                visit["workflow_tasks"] + package["workflow_tasks"], 2
            ),
            "actions_per_completion": round(visit["actions"] + package["actions"], 2),
            "visit": visit,
            "package_share": package,
            "sale_per_package": self.sale.per(max(self.sale.runs, 1)),
            "round_seconds": [round(s, 2) for s in self.round_seconds],
            "stand_ins": self.integrations,
            "ok": not self.problems,
            "problems": self.problems,
        }


def completion(appointment: str, client_urn: str, day: date) -> bytes:
    """A Boulevard APPOINTMENT_COMPLETED delivery, as Boulevard's webhooks send it."""
    start = f"{day.isoformat()}T11:00:00-05:00"
    payload = {
        "apiApplicationId": "5b0e7c1a-0000-4000-8000-000000000001",
        "businessId": "9d2f4a10-0000-4000-8000-0000000000aa",
        "event": "APPOINTMENT_COMPLETED",
        "eventType": "APPOINTMENT_COMPLETED",
        "idempotencyKey": str(uuid.uuid4()),
        "resource": "Appointment",
        "timestamp": f"{day.isoformat()}T17:05:11.204Z",
        "webhookId": "urn:blvd:Webhook:7a7a7a7a-0000-4000-8000-000000000003",
        "data": {
            "node": {
                "__typename": "Appointment",
                "id": f"urn:blvd:Appointment:{appointment}",
                "clientId": client_urn,
                "startAt": start,
                "endAt": start,
                "duration": 45,
                "cancellation": None,
                "appointmentServices": [{"service": {"name": SERVICE}}],
                "tags": [],
            }
        },
    }
    return json.dumps(payload).encode()


@contextlib.asynccontextmanager
async def api_client(
    settings: Settings, client: Client, pool: asyncpg.Pool
) -> AsyncIterator[httpx.AsyncClient]:
    """The real ASGI app, in-process (its lifespan runs), as Boulevard would reach it."""
    app = create_app(settings, client=client, pool=pool)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://punchcard.example"
        ) as http,
    ):
        yield http


async def run_level(
    level: Level, *, packages: int, rounds: int, concurrency: int, run_limit: int | None
) -> LevelResult:
    async with real_stack() as stack, StandIns.running() as stand_ins:
        settings = Settings(
            temporal_address=stack.temporal_address,
            task_queue=f"bench-visits-{uuid.uuid4().hex[:8]}",
            database_url=SecretStr(stack.database_url),
            **settings_for(level, stand_ins.endpoints),
            boulevard_webhook_secret=SecretStr(WEBHOOK_SECRET),
            boulevard_signature_encoding="hex",
            worker_graceful_shutdown_seconds=0,
            codec_keys=SecretStr(stack.codec_keys),
        )
        pool = await create_pool(stack.database_url, max_size=4)
        try:
            return await _drive(
                stack, stand_ins, pool, settings, level, packages, rounds, concurrency, run_limit
            )
        finally:
            await pool.close()


async def _drive(
    stack: Stack,
    stand_ins: StandIns,
    pool: asyncpg.Pool,
    settings: Settings,
    level: Level,
    packages: int,
    rounds: int,
    concurrency: int,
    run_limit: int | None,
) -> LevelResult:
    service = PackageService(client=stack.client, pool=pool, settings=settings)
    units = rounds + 5
    await service.types.upsert(
        PackageTypeRecord(
            type_code=TYPE_CODE,
            name=f"Laser course of {units}",
            kind=PackageKind.SESSIONS,
            units=units,
            price_cents=units * 25_000,
            expiry_months=12,
            categories=["laser"],
        )
    )
    await service.catalog.upsert(
        ServiceMapping(platform="*", service_key=SERVICE, category="laser")
    )
    clients = [
        ClientRecord(
            client_id=f"bench-client-{n:04d}",
            name=f"Bench Client {n}",
            phone=f"+1555020{n:04d}",
            email=f"bench-client-{n:04d}@example.invalid",
        )
        for n in range(packages)
    ]
    urns = await stand_ins.add_clients([c.email or "" for c in clients])
    problems: list[str] = []
    async with build_worker(settings, stack.client) as worker, worker:
        package_ids: list[str] = []
        for n, record in enumerate(clients):
            await service.clients.upsert(record)
            await service.links.link(
                ClientLink(platform="boulevard", external_id=urns[n], client_id=record.client_id)
            )
            sold = await service.sell(
                SaleRequest(
                    client_id=record.client_id,
                    type_code=TYPE_CODE,
                    purchase_id=f"bench-{n:04d}",
                    max_messages_per_run=run_limit,
                )
            )
            package_ids.extend(sold.package_ids)
        await _settled(stack.client, pool, package_ids, ledger_rows=0)
        warm = await _history_lengths(stack.client, settings.task_queue)

        round_seconds: list[float] = []
        visit_ids: list[str] = []
        async with api_client(settings, stack.client, pool) as http:
            gate = asyncio.Semaphore(concurrency)
            first_day = date.today() - timedelta(days=rounds + 1)

            async def post(appointment: str, urn: str, day: date) -> str:
                body = completion(appointment, urn, day)
                headers = {"content-type": "application/json"}
                headers |= boulevard_headers(body, WEBHOOK_SECRET)
                async with gate:
                    response = await http.post("/webhooks/boulevard", content=body, headers=headers)
                ack = response.json()
                if response.status_code != 200 or ack.get("status") != "accepted":
                    problems.append(f"{appointment}: {response.status_code} {ack}")
                return str(ack.get("visit_workflow_id", ""))

            for r in range(rounds):
                began = perf_counter()
                day = first_day + timedelta(days=r)
                posted = await asyncio.gather(
                    *(post(f"bench-r{r}-p{n:04d}", urns[n], day) for n in range(packages))
                )
                visit_ids.extend(posted)
                await _visits_closed(stack.client, posted)
                await _settled(stack.client, pool, package_ids, ledger_rows=(r + 1) * packages)
                round_seconds.append(perf_counter() - began)
                print(f"  {level}: round {r + 1}/{rounds} settled in {round_seconds[-1]:.1f}s")

        completions = rounds * packages
        problems += await _check_ledger(pool, package_ids, rounds, units)
        expected = [
            Expected(
                package_id=package_id,
                client_id=record.client_id,
                phone=record.phone or "",
                email=record.email or "",
                boulevard_urn=urns[n],
                units=units,
                redemptions=rounds,
            )
            for n, (package_id, record) in enumerate(zip(package_ids, clients, strict=True))
        ]
        figures, audit_problems = await audit(pool, await stand_ins.report(), level, expected)
        problems += audit_problems
        visit, package, sale = await _tally(stack.client, settings, warm)
        if visit.runs != completions:
            problems.append(f"{visit.runs} visit workflow runs for {completions} completions")
    return LevelResult(level, completions, visit, package, sale, round_seconds, figures, problems)


async def _visits_closed(client: Client, workflow_ids: list[str]) -> None:
    async def open_visits() -> int:
        still = 0
        for workflow_id in workflow_ids:
            described = await client.get_workflow_handle(workflow_id).describe()
            still += described.status != COMPLETED
        return still

    left = await eventually(open_visits, lambda n: n == 0, ROUND_TIMEOUT, poll=0.1)
    if left:
        raise RuntimeError(f"{left} visit workflows still open after {ROUND_TIMEOUT}s")


async def _settled(
    client: Client, pool: asyncpg.Pool, package_ids: list[str], *, ledger_rows: int
) -> None:
    """Every redemption in the ledger, every package idle (effects done), seen twice."""

    async def rows() -> int:
        return int(
            await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'redemption'")
        )

    await eventually(rows, lambda n: n >= ledger_rows, ROUND_TIMEOUT, poll=0.05)
    for _ in range(2):
        busy = await eventually(
            lambda: busy_packages(client, package_ids), lambda n: n == 0, ROUND_TIMEOUT, poll=0.1
        )
        if busy:
            raise RuntimeError(f"{busy} packages still busy after {ROUND_TIMEOUT}s")


async def _history_lengths(client: Client, task_queue: str) -> dict[str, int]:
    """Events so far of every package workflow run (run id -> length)."""
    lengths: dict[str, int] = {}
    query = f"WorkflowType = 'PackageWorkflow' AND TaskQueue = '{task_queue}'"
    async for execution in client.list_workflows(query):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        lengths[execution.run_id] = len((await handle.fetch_history()).events)
    return lengths


async def _tally(
    client: Client, settings: Settings, warm: dict[str, int]
) -> tuple[Tally, Tally, Tally]:
    """Every visit history; every package run's events after the sale (new runs whole)."""
    visit, package, sale = Tally(), Tally(), Tally()
    async for execution in client.list_workflows(
        f"WorkflowType = 'VisitWorkflow' AND TaskQueue = '{settings.visit_queue}'"
    ):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        visit.add(list((await handle.fetch_history()).events))
    async for execution in client.list_workflows(
        f"WorkflowType = 'PackageWorkflow' AND TaskQueue = '{settings.task_queue}'"
    ):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        events = list((await handle.fetch_history()).events)
        done = warm.get(execution.run_id, 0)
        if done:
            sale.add(events[:done])
        package.add(events[done:])
    return visit, package, sale


async def _check_ledger(
    pool: asyncpg.Pool, package_ids: list[str], rounds: int, units: int
) -> list[str]:
    rows = await pool.fetch(
        """
        SELECT p.package_id, p.remaining,
               (SELECT count(*) FROM ledger_entries e
                WHERE e.package_id = p.package_id AND e.kind = 'redemption') AS redeemed
        FROM packages p
        """
    )
    found = {r["package_id"]: (r["remaining"], r["redeemed"]) for r in rows}
    return [
        f"{package_id}: {found.get(package_id)} (remaining, redemptions), expected "
        f"{(units - rounds, rounds)}"
        for package_id in package_ids
        if found.get(package_id) != (units - rounds, rounds)
    ]


def print_table(results: list[LevelResult]) -> None:
    print()
    print(
        f"{'per completed appointment':<34}{'events':>8}{'visit':>7}{'package':>9}"
        f"{'wf tasks':>10}{'actions':>9}"
    )
    for result in results:
        f = result.figures()
        label = f"{result.level} ({COUNT[result.level]} integrations)"
        print(
            f"{label:<34}{f['events_per_completion']:>8.1f}{f['visit']['events']:>7.1f}"
            f"{f['package_share']['events']:>9.1f}{f['workflow_tasks_per_completion']:>10.1f}"
            f"{f['actions_per_completion']:>9.1f}"
        )
    for result in results:
        f = result.figures()
        kinds = Counter(f["visit"]["actions_by_kind"]) + Counter(
            f["package_share"]["actions_by_kind"]
        )
        print(
            f"actions ({result.level}): "
            + ", ".join(f"{k} {v:g}" for k, v in sorted(kinds.items()))
        )
    first = results[0].figures()
    print(
        f"package events by type ({results[0].level}): {first['package_share']['events_by_type']}"
    )
    print(f"visit events by type ({results[0].level}): {first['visit']['events_by_type']}")


async def main(
    packages: int, rounds: int, concurrency: int, levels: list[Level], run_limit: int | None
) -> int:
    results = []
    for level in levels:
        print(f"{level}: {DESCRIBED[level]}; {packages} packages x {rounds} rounds", flush=True)
        results.append(
            await run_level(
                level,
                packages=packages,
                rounds=rounds,
                concurrency=concurrency,
                run_limit=run_limit,
            )
        )
    print_table(results)
    totals = [r.figures()["events_per_completion"] for r in results]
    problems = [f"{r.level}: {p}" for r in results for p in r.problems]
    if max(totals) > TARGET_EVENTS:
        problems.append(f"more than {TARGET_EVENTS} events per completion: {totals}")
    if len(set(totals)) > 1:
        problems.append(f"events per completion differ with the integrations: {totals}")
    figures = {
        "config": {
            "packages": packages,
            "rounds": rounds,
            "concurrency": concurrency,
            "messages_per_run": run_limit or "default",
        },
        "environment": {"python": platform.python_version(), "machine": platform.machine()},
        "target_events_per_completion": TARGET_EVENTS,
        "levels": {r.level: r.figures() for r in results},
        "ok": not problems,
        "problems": problems,
    }
    path = write_results(
        "appointments" if run_limit is None else f"appointments-run-limit-{run_limit}", figures
    )
    print(f"figures written to {path}")
    if problems:
        print(f"\nFAILED: {len(problems)} problem(s):", file=sys.stderr)
        for problem in problems[:20]:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(
        f"verified: every webhook accepted, one session per appointment, every provider "
        f"received each effect once; at most {TARGET_EVENTS} events per completion at every level"
    )
    return 0


def cli() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.appointments",
        description="History events and Temporal Actions per completed appointment.",
    )
    parser.add_argument("--packages", type=int, default=10, help="packages (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="completions each (default 3)")
    parser.add_argument("--concurrency", type=int, default=4, help="webhooks in flight (default 4)")
    parser.add_argument(
        "--integrations",
        default=",".join(LEVELS),
        help="comma list of levels: none, sms, all (default: all three)",
    )
    parser.add_argument(
        "--run-limit",
        type=int,
        default=None,
        help="messages per package run before continue-as-new (default: the production "
        "default); a small one puts continue-as-new runs into the count",
    )
    args = parser.parse_args()
    named = [lvl.strip() for lvl in args.integrations.split(",") if lvl.strip()]
    levels = [lvl for lvl in LEVELS if lvl in named]
    unknown = [lvl for lvl in named if lvl not in LEVELS]
    if unknown or not levels:
        parser.error(f"unknown integration levels {unknown} (use {', '.join(LEVELS)})")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(
        asyncio.run(main(args.packages, args.rounds, args.concurrency, levels, args.run_limit))
    )


if __name__ == "__main__":
    cli()
