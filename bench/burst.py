"""A burst of signed Boulevard completions into `punchcard up`: acks, ledger, texts.

    python -m bench.burst [--appointments 2000] [--rate 40] [--senders 8] [--per-package 2]

One run starts a real `punchcard up --no-demo` (temporary data directory, free ports:
`bench.up`) with Boulevard signing on and SMS pointed at the Twilio stand-in
(`tests/fakes/twilio.py`, through PUNCHCARD_TWILIO_*), so every confirmation is really
sent over HTTP. Then:

1. **Set-up**, as staff would through the CLI's services: a session package type, the
   service's catalog mapping, one client per package (phone, Boulevard link), each sold a
   package; it waits until every sale is in the Postgres ledger.
2. **Burst**: N `APPOINTMENT_COMPLETED` webhooks, signed as Boulevard does, POSTed to the
   real API by S concurrent senders on a fixed schedule of R per second. A package gets
   K of them (`--per-package`), on K different service days (the same-day rule).
3. **Drain**: waits for the ledger to hold every redemption and the stand-in to have
   received every confirmation text.
4. **Audit**: every ack 200 "accepted"; each appointment exactly one redemption row and
   exactly one confirmation text; every balance exactly `units - K`; every SMS row sent.

Figures: ack latency p50/p99 and the outcome each answer named (a completion's answer
waits for its visit, within PUNCHCARD_WEBHOOK_SETTLE_SECONDS); ledger complete how long
after the last ack (target ≤ 30 s); each confirmation's arrival at the stand-in minus its
own webhook's ack, p50/p99 (target p99 ≤ 10 s); and, to see where time goes, when each
redemption reached the ledger after its ack, the worker's task and activity
schedule-to-start times, and CPU per process.
They go to bench/results/burst.json. Exits 1 if anything was lost or doubled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import platform
import re
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

import asyncpg
import httpx
from temporalio.client import Client

from activities.db import create_pool
from activities.repository import ClientLink, ClientRecord, PackageTypeRecord, ServiceMapping
from bench import probe, timeline
from bench.load import eventually, percentile
from bench.up import UpStack, extra_settings, punchcard_up
from starter.ingress.signing import boulevard_headers
from starter.packages import PackageService, SaleRequest
from tests.fakes.twilio import TwilioFake
from workers.settings import Settings
from workers.worker import connect_temporal
from workflows.ids import package_workflow_id, visit_workflow_id
from workflows.models import PackageKind

RESULTS = Path(__file__).with_name("results") / "burst.json"
TYPE_CODE = "burst-laser"
SERVICE = "Laser Hair Removal - Underarm"
CATEGORY = "laser"
SPARE_UNITS = 5  # never down to 2 left: no low-balance texts besides the confirmations
SECRET = "burst-bench-secret"
SETUP_CONCURRENCY = 16
SETUP_TIMEOUT = 600.0
TARGET_LEDGER_S = 30.0
TARGET_TEXT_P99_S = 10.0
SERVER_CALLS = (
    "SignalWithStartWorkflowExecution",
    "UpdateWorkflowExecution",
    "RespondWorkflowTaskCompleted",
    "RespondActivityTaskCompleted",
)
_CONFIRMATION = re.compile(r"Session (\d+) of (\d+) complete")


@dataclass(frozen=True)
class Appointment:
    index: int
    package: int  # which client / package
    urn: str
    service_day: str  # ISO date: the k-th visit of a package is k days before today

    @property
    def ref(self) -> str:
        """The appointment as the ledger names it (platform-qualified)."""
        return f"boulevard:{self.urn}"


@dataclass
class Ack:
    appointment: Appointment
    status: int
    answer: str
    latency_s: float
    acked_at: float  # wall clock (time.time()), to compare with the stand-in's timestamps
    late_s: float  # how far behind its slot on the schedule it was sent
    outcome: str | None = None  # what the visit did before the answer (None: not waited for)


@dataclass
class Burst:
    acks: list[Ack] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    last_ack_perf: float = 0.0
    last_ack_wall: float = 0.0


@dataclass(frozen=True)
class Plan:
    appointments: int
    rate: float
    senders: int
    per_package: int

    @property
    def packages(self) -> int:
        return math.ceil(self.appointments / self.per_package)

    @property
    def units(self) -> int:
        return self.per_package + SPARE_UNITS

    def client_id(self, n: int) -> str:
        return f"burst-client-{n:05d}"

    def phone(self, n: int) -> str:
        return f"+1555{2_000_000 + n:07d}"

    def client_urn(self, n: int) -> str:
        return f"urn:blvd:Client:burst-{n:05d}"

    def schedule(self, run: str) -> list[Appointment]:
        """Round-robin over the packages: a package's K visits are spread over the burst."""
        today = datetime.now().date()
        return [
            Appointment(
                index=i,
                package=i % self.packages,
                urn=f"urn:blvd:Appointment:{run}-{i:05d}",
                service_day=(today - timedelta(days=i // self.packages)).isoformat(),
            )
            for i in range(self.appointments)
        ]

    def sent_to(self, n: int) -> int:
        """How many of the burst's completions package n gets."""
        return sum(1 for i in range(self.appointments) if i % self.packages == n)


# --- set-up ---------------------------------------------------------------------------


async def set_up(service: PackageService, pool: asyncpg.Pool, plan: Plan) -> float:
    """Type, catalog, clients, links and one sale each; returns sales per second (until
    every sale is in the ledger)."""
    await service.types.upsert(
        PackageTypeRecord(
            type_code=TYPE_CODE,
            name=f"Laser series of {plan.units}",
            kind=PackageKind.SESSIONS,
            units=plan.units,
            price_cents=plan.units * 25_000,
            expiry_months=12,
            categories=[CATEGORY],
        )
    )
    await service.catalog.upsert(
        ServiceMapping(platform="*", service_key=SERVICE, category=CATEGORY)
    )
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)
    started = perf_counter()

    async def one(n: int) -> None:
        async with gate:
            client_id = plan.client_id(n)
            await service.clients.upsert(
                ClientRecord(
                    client_id=client_id,
                    name=f"Burst Client {n}",
                    phone=plan.phone(n),
                    email=f"{client_id}@example.invalid",
                )
            )
            await service.links.link(
                ClientLink(
                    platform="boulevard", external_id=plan.client_urn(n), client_id=client_id
                )
            )
            await service.sell(
                SaleRequest(client_id=client_id, type_code=TYPE_CODE, purchase_id=f"burst-{n:05d}")
            )

    await asyncio.gather(*(one(n) for n in range(plan.packages)))
    print(f"set-up: {plan.packages} packages sold in {perf_counter() - started:.1f}s", flush=True)
    sold = await eventually(
        lambda: packages_in_ledger(pool), lambda n: n >= plan.packages, SETUP_TIMEOUT
    )
    seconds = perf_counter() - started
    print(f"set-up: {sold} sales in the ledger after {seconds:.1f}s", flush=True)
    return plan.packages / seconds


async def disk_bytes(pool: asyncpg.Pool, stack: UpStack) -> dict[str, float]:
    """Punchcard's database and the dev server's SQLite file (with its log), in bytes."""
    temporal = stack.data_dir / "temporal"
    return {
        "postgres": float(await pool.fetchval("SELECT pg_database_size(current_database())")),
        "temporal_sqlite": float(sum(p.stat().st_size for p in temporal.glob("temporal.db*"))),
    }


async def packages_in_ledger(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM packages"))


# --- the burst ------------------------------------------------------------------------


def webhook(plan: Plan, appt: Appointment) -> tuple[bytes, dict[str, str]]:
    """An APPOINTMENT_COMPLETED in Boulevard's envelope, signed with the shared secret."""
    start = f"{appt.service_day}T10:00:00-05:00"
    payload = {
        "apiApplicationId": "5b0e7c1a-0000-4000-8000-000000000001",
        "businessId": "9d2f4a10-0000-4000-8000-0000000000aa",
        "event": "APPOINTMENT_COMPLETED",
        "eventType": "APPOINTMENT_COMPLETED",
        "idempotencyKey": str(uuid.uuid4()),
        "resource": "Appointment",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "webhookId": "urn:blvd:Webhook:7a7a7a7a-0000-4000-8000-000000000003",
        "data": {
            "node": {
                "__typename": "Appointment",
                "id": appt.urn,
                "clientId": plan.client_urn(appt.package),
                "startAt": start,
                "endAt": start,
                "duration": 45,
                "cancellation": None,
                "appointmentServices": [{"service": {"name": SERVICE}}],
                "tags": [],
            }
        },
    }
    body = json.dumps(payload).encode()
    return body, {"content-type": "application/json", **boulevard_headers(body, SECRET)}


async def send_burst(
    stack: UpStack, plan: Plan, schedule: list[Appointment], watch: probe.SlotWatch
) -> Burst:
    """S senders share one schedule: appointment i is due at start + i / rate."""
    burst = Burst()
    url = f"{stack.api_url}/webhooks/boulevard"
    pending = iter(schedule)
    step = max(len(schedule) // 10, 1)
    start = perf_counter() + 0.5

    async def sender() -> None:
        async with httpx.AsyncClient(timeout=60.0) as http:
            for appt in pending:  # one shared iterator: each webhook is sent once
                body, headers = webhook(plan, appt)
                due = start + appt.index / plan.rate
                if (wait := due - perf_counter()) > 0:
                    await asyncio.sleep(wait)
                began = perf_counter()
                try:
                    response = await http.post(url, content=body, headers=headers)
                except httpx.HTTPError as err:
                    burst.errors.append(f"{appt.urn}: {type(err).__name__}: {err}")
                    continue
                acked = perf_counter()
                burst.last_ack_perf, burst.last_ack_wall = acked, time.time()
                body = response.json() if response.status_code == 200 else {}
                answer = body.get("status", "")
                burst.acks.append(
                    Ack(
                        appointment=appt,
                        status=response.status_code,
                        answer=answer or response.text[:200],
                        latency_s=acked - began,
                        acked_at=burst.last_ack_wall,
                        late_s=max(began - due, 0.0),
                        outcome=body.get("outcome"),
                    )
                )
                done = len(burst.acks) + len(burst.errors)
                if done % step == 0 or done == len(schedule):
                    ms = sorted(a.latency_s * 1000 for a in burst.acks)
                    print(
                        f"  burst: {done}/{len(schedule)} sent in {perf_counter() - start:.1f}s, "
                        f"ack p50 {percentile(ms, 50):.0f} ms p99 {percentile(ms, 99):.0f} ms; "
                        f"{watch.last()}",
                        flush=True,
                    )

    async with asyncio.TaskGroup() as group:
        for _ in range(plan.senders):
            group.create_task(sender())
    burst.seconds = perf_counter() - start
    return burst


# --- the drain ------------------------------------------------------------------------


@dataclass
class Drain:
    ledger_done_after_s: float | None = None  # after the last ack
    texts_done_after_s: float | None = None
    ledger_rows: int = 0
    texts: int = 0
    stalled_after_s: float | None = None  # no progress for `stall` seconds: gave up there


def confirmations(fake: TwilioFake) -> int:
    return sum(1 for m in fake.stored if _CONFIRMATION.search(m.body))


async def drain(
    pool: asyncpg.Pool,
    fake: TwilioFake,
    burst: Burst,
    want: int,
    timeout: float,
    watch: probe.SlotWatch,
    stall: float,
) -> Drain:
    """Poll until the ledger holds every redemption and every text has arrived, or until
    nothing has moved for `stall` seconds (a stuck stack: the audit then says what)."""
    out = Drain()
    deadline = perf_counter() + timeout
    last_print = 0.0
    moved, seen = perf_counter(), (-1, -1)
    while perf_counter() < deadline:
        out.ledger_rows = int(
            await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'redemption'")
        )
        out.texts = confirmations(fake)
        now = perf_counter()
        if (out.ledger_rows, out.texts) != seen:
            moved, seen = now, (out.ledger_rows, out.texts)
        elif now - moved > stall:
            out.stalled_after_s = moved - burst.last_ack_perf
            print(
                f"  drain: STALLED: nothing moved for {stall:.0f}s (since "
                f"{out.stalled_after_s:.1f}s after the last ack); {watch.last()}",
                flush=True,
            )
            break
        if out.ledger_done_after_s is None and out.ledger_rows >= want:
            out.ledger_done_after_s = now - burst.last_ack_perf
        if out.texts_done_after_s is None and out.texts >= want:
            out.texts_done_after_s = now - burst.last_ack_perf
        if out.ledger_done_after_s is not None and out.texts_done_after_s is not None:
            break
        if now - last_print >= 5:
            last_print = now
            print(
                f"  drain: {now - burst.last_ack_perf:5.1f}s after the last ack: ledger "
                f"{out.ledger_rows}/{want} redemptions, texts {out.texts}/{want}; {watch.last()}",
                flush=True,
            )
        await asyncio.sleep(0.1)
    # Let late duplicates show up, if any were coming, before the audit counts.
    await asyncio.sleep(3)
    out.texts = confirmations(fake)
    return out


# --- the audit ------------------------------------------------------------------------


@dataclass
class Audit:
    problems: list[str]
    text_latency_s: list[float]
    ledger_latency_s: list[float]
    slowest: list[dict[str, Any]]
    other_texts: int
    disk_kb_per_appointment: dict[str, float] = field(default_factory=dict)


async def audit(
    pool: asyncpg.Pool, fake: TwilioFake, plan: Plan, schedule: list[Appointment], burst: Burst
) -> Audit:
    """Exactly one redemption row and one confirmation text per appointment; exact balances."""
    problems = list(burst.errors)
    for ack in burst.acks:
        if ack.status != 200 or ack.answer != "accepted":
            problems.append(f"{ack.appointment.urn}: answered {ack.status} {ack.answer!r}")
    by_ref = {a.ref: a for a in schedule}
    acked = {a.appointment.ref: a for a in burst.acks}

    rows = await pool.fetch(
        """
        SELECT l.appointment_id, l.package_id, l.balance_after, l.recorded_at,
               p.purchased_units, c.phone
        FROM ledger_entries l
        JOIN packages p USING (package_id)
        JOIN clients c ON c.client_id = l.client_id
        WHERE l.kind = 'redemption'
        """
    )
    per_ref = Counter(r["appointment_id"] for r in rows)
    for ref in by_ref:
        if per_ref[ref] != 1:
            problems.append(f"{ref}: {per_ref[ref]} redemption rows")
    problems += [f"{ref}: a redemption nobody sent" for ref in per_ref if ref not in by_ref]

    balances = await pool.fetch("SELECT package_id, remaining FROM packages")
    for row in balances:
        n = int(row["package_id"].removeprefix("burst-"))
        expected = plan.units - plan.sent_to(n)
        if row["remaining"] != expected:
            problems.append(f"{row['package_id']}: {row['remaining']} left, expected {expected}")
    if len(balances) != plan.packages:
        problems.append(f"{len(balances)} packages in the ledger, {plan.packages} sold")

    # Which text is which appointment: the k-th session of a package is the ledger row
    # whose balance after is units - k, and its text says "Session k of units".
    by_text = {
        (r["phone"], r["purchased_units"] - r["balance_after"]): r["appointment_id"] for r in rows
    }
    seen: Counter[tuple[str, int]] = Counter()
    arrived: dict[str, float] = {}
    other = 0
    for message in fake.stored:
        match = _CONFIRMATION.search(message.body)
        if match is None:
            other += 1
            continue
        key = (message.to, int(match[1]))
        seen[key] += 1
        found = by_text.get(key)
        if found is None:
            problems.append(
                f"a confirmation to {message.to} (session {match[1]}) with no redemption"
            )
        elif seen[key] == 1:
            arrived[found] = message.created.timestamp()
    problems += [
        f"{to} session {k}: {n} confirmation texts" for (to, k), n in seen.items() if n > 1
    ]
    problems += [f"{ref}: no confirmation text" for ref in by_ref if ref not in arrived]

    sms = await pool.fetch(
        "SELECT status, count(*) AS n FROM outbound_messages "
        "WHERE kind = 'confirmation' AND channel = 'sms' GROUP BY status"
    )
    statuses = {r["status"]: int(r["n"]) for r in sms}
    if statuses != {"sent": len(schedule)}:
        problems.append(f"confirmation SMS rows by status: {statuses}")

    text_latency, ledger_latency, slowest = [], [], []
    recorded = {r["appointment_id"]: r["recorded_at"].timestamp() for r in rows}
    for ref, ack in acked.items():
        if ref in arrived:
            text_latency.append(arrived[ref] - ack.acked_at)
            slowest.append(
                {
                    "appointment": ref,
                    "package": f"burst-{ack.appointment.package:05d}",
                    "text_after_ack_s": round(arrived[ref] - ack.acked_at, 2),
                    "ledger_after_ack_s": round(recorded.get(ref, 0.0) - ack.acked_at, 2),
                }
            )
        if ref in recorded:
            ledger_latency.append(recorded[ref] - ack.acked_at)
    slowest.sort(key=lambda s: -s["text_after_ack_s"])
    return Audit(problems, sorted(text_latency), sorted(ledger_latency), slowest[:10], other)


# --- the run --------------------------------------------------------------------------


def seconds_row(values: list[float]) -> dict[str, float]:
    return {
        "p50_s": round(percentile(values, 50), 2),
        "p99_s": round(percentile(values, 99), 2),
        "max_s": round(values[-1], 2) if values else 0.0,
    }


async def run(args: argparse.Namespace) -> bool:
    plan = Plan(
        appointments=args.appointments,
        rate=args.rate,
        senders=args.senders,
        per_package=args.per_package,
    )
    print(
        f"burst: {plan.appointments} Boulevard completions at {plan.rate:g}/s from "
        f"{plan.senders} senders, {plan.per_package} per package ({plan.packages} packages "
        f"of {plan.units} sessions)",
        flush=True,
    )
    fake = TwilioFake()
    await fake.start()
    env = {
        "PUNCHCARD_BOULEVARD_WEBHOOK_SECRET": SECRET,
        "PUNCHCARD_TWILIO_BASE_URL": fake.base_url,
        "PUNCHCARD_TWILIO_ACCOUNT_SID": fake.account_sid,
        "PUNCHCARD_TWILIO_AUTH_TOKEN": fake.auth_token,
        "PUNCHCARD_TWILIO_FROM_NUMBER": "+15555550100",
        **extra_settings(args.env),
    }
    try:
        async with punchcard_up(env, keep=args.keep, label="burst") as stack:
            return await measure(stack, fake, plan, args)
    finally:
        await fake.stop()


async def measure(stack: UpStack, fake: TwilioFake, plan: Plan, args: argparse.Namespace) -> bool:
    pool = await create_pool(stack.settings.database_dsn(), max_size=4)
    try:
        client = await connect_temporal(stack.settings)
        service = PackageService(client=client, pool=pool, settings=stack.settings)
        sales_per_s = await set_up(service, pool, plan)
        schedule = plan.schedule(uuid.uuid4().hex[:8])
        disk_before = await disk_bytes(pool, stack)
        async with httpx.AsyncClient() as http:
            server_url = await probe.server_metrics_url(http, stack.temporal_pid)
            server_before = await probe.scrape(http, server_url) if server_url else None
            metrics_before = await probe.scrape(http, stack.metrics_url)
            procs_before = probe.sample_all(stack.pids())
            watch = probe.SlotWatch(stack.metrics_url)
            watching = asyncio.create_task(watch.run(http))
            began = perf_counter()
            burst = await send_burst(stack, plan, schedule, watch)
            settled = await drain(
                pool, fake, burst, plan.appointments, args.settle_timeout, watch, args.stall
            )
            window = perf_counter() - began
            watching.cancel()
            metrics_after = await probe.scrape(http, stack.metrics_url)
            server = None
            if server_url and server_before:
                server_after = await probe.scrape(http, server_url)
                server = probe.persistence(server_before, server_after, window, plan.appointments)
            procs = probe.cpu_between(procs_before, probe.sample_all(stack.pids()), window)
        checked = await audit(pool, fake, plan, schedule, burst)
        disk_after = await disk_bytes(pool, stack)
        checked.disk_kb_per_appointment = {
            k: round((disk_after[k] - disk_before[k]) / 1024 / plan.appointments, 1)
            for k in disk_after
        }
        if args.explain:
            await explain(client, checked.slowest[: args.explain], burst)
        if settled.stalled_after_s is not None:
            await explain_stuck(client, pool, burst, max(args.explain, 2))
    finally:
        await pool.close()
    slots = watch.summary(
        {
            "workflow": float(args.workflow_slots),
            "local_activity": 100.0,  # the SDK's default
            "activity": float(args.activity_slots),
        }
    )
    return report(
        plan,
        burst,
        settled,
        checked,
        sales_per_s,
        procs,
        (metrics_before, metrics_after, slots, server),
        fake,
        args,
    )


async def explain_stuck(client: Client, pool: asyncpg.Pool, burst: Burst, count: int) -> None:
    """Appointments acknowledged but never redeemed: their visit's history and what the
    server says is pending on the visit and on the package it should reach."""
    rows = await pool.fetch("SELECT appointment_id FROM ledger_entries")
    done = {r["appointment_id"] for r in rows}
    stuck = [a for a in burst.acks if a.appointment.ref not in done][:count]
    for ack in stuck:
        urn = ack.appointment.urn
        package = package_workflow_id(f"burst-{ack.appointment.package:05d}")
        print(f"\nstuck: {urn} (acked; no redemption), package {package}")
        visit_id = visit_workflow_id("boulevard", urn)
        print(timeline.render(await timeline.events(client, visit_id), origin=ack.acked_at))
        for workflow_id in (visit_id, package):
            print(f"  {workflow_id}: {await timeline.pending(client, workflow_id)}")


async def explain(client: Client, slowest: list[dict[str, Any]], burst: Burst) -> None:
    """The slowest confirmations: their visit's and package's history around them, from
    the webhook's ack (0.000 s) to the text's arrival."""
    acks = {a.appointment.ref: a for a in burst.acks}
    for slow in slowest:
        ack = acks[slow["appointment"]]
        urn = slow["appointment"].removeprefix("boulevard:")
        origin = ack.acked_at
        print(
            f"\n{urn} (package {slow['package']}): ledger +{slow['ledger_after_ack_s']}s, "
            f"text +{slow['text_after_ack_s']}s after the ack"
        )
        visit = await timeline.events(client, visit_workflow_id("boulevard", urn))
        waits = timeline.task_waits(visit)
        print(f"  visit workflow (workflow task queue times: {[round(w, 2) for w in waits]}):")
        print(timeline.render(visit, origin=origin))
        package = await timeline.events(client, package_workflow_id(slow["package"]))
        window = (origin - 1.0, origin + slow["text_after_ack_s"] + 1.0)
        print("  package workflow, same window:")
        print(timeline.render(package, origin=origin, window=window))


def worker_figures(before: probe.Metrics, after: probe.Metrics) -> dict[str, Any]:
    """Mean schedule-to-start of workflow tasks and activities over the burst and drain:
    how long work waited for a worker slot (or a poller)."""
    wf = "temporal_workflow_task_schedule_to_start_latency"
    act = "temporal_activity_schedule_to_start_latency"
    out: dict[str, Any] = {
        "workflow_task_schedule_to_start_mean_ms": probe.histogram_mean_ms(before, after, wf),
        "activity_schedule_to_start_mean_ms": probe.histogram_mean_ms(before, after, act),
        "workflow_tasks": after.total("temporal_workflow_task_execution_latency_count")
        - before.total("temporal_workflow_task_execution_latency_count"),
        "workflow_task_execution_mean_ms": probe.histogram_mean_ms(
            before, after, "temporal_workflow_task_execution_latency"
        ),
        "activities": after.total("temporal_activity_execution_latency_count")
        - before.total("temporal_activity_execution_latency_count"),
        "local_activities": after.total("temporal_local_activity_execution_latency_count")
        - before.total("temporal_local_activity_execution_latency_count"),
        "sticky_cache_size": after.total("temporal_sticky_cache_size"),
        "sticky_cache_misses": after.total("temporal_sticky_cache_miss")
        - before.total("temporal_sticky_cache_miss"),
    }
    # What the server took to answer, as the stack's clients saw it (API and worker).
    for operation in SERVER_CALLS:
        out[f"server_{operation}_mean_ms"] = probe.histogram_mean_ms(
            before, after, "temporal_request_latency", operation=operation
        )
    out["server_PollWorkflowTaskQueue_mean_ms"] = probe.histogram_mean_ms(
        before, after, "temporal_long_request_latency", operation="PollWorkflowTaskQueue"
    )
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in out.items()}


def report(
    plan: Plan,
    burst: Burst,
    settled: Drain,
    checked: Audit,
    sales_per_s: float,
    procs: dict[str, dict[str, Any]],
    worker: tuple[probe.Metrics, probe.Metrics, dict[str, Any], dict[str, Any] | None],
    fake: TwilioFake,
    args: argparse.Namespace,
) -> bool:
    acks = sorted(a.latency_s * 1000 for a in burst.acks)
    late = sorted(a.late_s for a in burst.acks)
    ledger_after = settled.ledger_done_after_s
    texts = seconds_row(checked.text_latency_s)
    figures: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "appointments": plan.appointments,
            "rate_per_s": plan.rate,
            "senders": plan.senders,
            "per_package": plan.per_package,
            "packages": plan.packages,
            "units_per_package": plan.units,
            "settings": extra_settings(args.env),
        },
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "setup_sales_per_s": round(sales_per_s, 1),
        "burst": {
            "seconds": round(burst.seconds, 2),
            "achieved_rate_per_s": round(len(burst.acks) / burst.seconds, 1),
            "send_late_p99_s": round(percentile(late, 99), 2),
            "ack_p50_ms": round(percentile(acks, 50), 1),
            "ack_p99_ms": round(percentile(acks, 99), 1),
            "ack_max_ms": round(acks[-1], 1) if acks else 0.0,
            # Answered once the visit settled it (PUNCHCARD_WEBHOOK_SETTLE_SECONDS), by
            # outcome; "none": answered at once, or at the bound.
            "outcomes": dict(Counter(a.outcome or "none" for a in burst.acks)),
        },
        "ledger": {
            "complete_after_last_ack_s": None if ledger_after is None else round(ledger_after, 2),
            "target_s": TARGET_LEDGER_S,
            "row_after_its_ack": seconds_row(checked.ledger_latency_s),
        },
        "confirmation_texts": {
            **texts,
            "target_p99_s": TARGET_TEXT_P99_S,
            "all_arrived_after_last_ack_s": None
            if settled.texts_done_after_s is None
            else round(settled.texts_done_after_s, 2),
            "twilio_requests": fake.attempts,
            "other_texts": checked.other_texts,
        },
        "slowest_confirmations": checked.slowest,
        "disk_kb_per_appointment": checked.disk_kb_per_appointment,
        "worker": {**worker_figures(worker[0], worker[1]), "slots": worker[2]},
        "server_persistence_per_appointment": worker[3],
        "processes": procs,
        "cpu_ms_per_appointment": {
            name: round(row["cpu_s"] * 1000 / plan.appointments, 1) for name, row in procs.items()
        },
        "stalled_after_last_ack_s": settled.stalled_after_s,
        "ok": not checked.problems,
        "problems": checked.problems[:200],
    }
    ledger_ok = ledger_after is not None and ledger_after <= TARGET_LEDGER_S
    texts_ok = bool(checked.text_latency_s) and texts["p99_s"] <= TARGET_TEXT_P99_S
    b = figures["burst"]
    print()
    print(
        f"acks: {len(burst.acks)} in {b['seconds']:.1f}s ({b['achieved_rate_per_s']}/s), "
        f"p50 {b['ack_p50_ms']} ms, p99 {b['ack_p99_ms']} ms, max {b['ack_max_ms']} ms; "
        f"outcomes {b['outcomes']}"
    )
    shown = "never" if ledger_after is None else f"{ledger_after:.1f}s"
    print(
        f"ledger complete {shown} after the last ack (target ≤ {TARGET_LEDGER_S:.0f}s: "
        f"{'met' if ledger_ok else 'MISSED'}); each row after its ack p50 "
        f"{figures['ledger']['row_after_its_ack']['p50_s']}s p99 "
        f"{figures['ledger']['row_after_its_ack']['p99_s']}s"
    )
    print(
        f"confirmation text after its ack: p50 {texts['p50_s']}s, p99 {texts['p99_s']}s, max "
        f"{texts['max_s']}s (target p99 ≤ {TARGET_TEXT_P99_S:.0f}s: "
        f"{'met' if texts_ok else 'MISSED'})"
    )
    print(f"worker: {json.dumps(figures['worker'])}")
    print(f"server persistence: {json.dumps(worker[3])}")
    for name, row in procs.items():
        print(
            f"  {name:<24} {row['cpu_s']:>7.1f} CPU s ({row['cores']:.2f} cores), {row['rss_mb']:.0f} MB"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    print(f"figures written to {RESULTS}")
    if checked.problems:
        print(f"\nFAILED: {len(checked.problems)} problem(s):", file=sys.stderr)
        for problem in checked.problems[:20]:
            print(f"  {problem}", file=sys.stderr)
        return False
    print(
        f"verified: {plan.appointments} appointments, each exactly one redemption row and one "
        f"confirmation text; {plan.packages} balances exact"
    )
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appointments", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=40.0, help="webhooks per second")
    parser.add_argument("--senders", type=int, default=8, help="concurrent senders")
    parser.add_argument(
        "--per-package", type=int, default=2, help="completions per package (different days)"
    )
    parser.add_argument(
        "--settle-timeout", type=float, default=600.0, help="seconds to wait for the drain"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--stall",
        type=float,
        default=120.0,
        help="give up the drain after this many seconds without progress (then explain)",
    )
    parser.add_argument(
        "--explain",
        type=int,
        default=0,
        metavar="N",
        help="print the visit and package history timelines of the N slowest confirmations",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="PUNCHCARD_NAME=VALUE",
        help="extra configuration for `punchcard up` (repeatable), e.g. worker tuning",
    )
    args = parser.parse_args()
    extra = extra_settings(args.env)
    fields = Settings.model_fields
    args.workflow_slots = int(
        extra.get(
            "PUNCHCARD_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS",
            fields["worker_max_concurrent_workflow_tasks"].default,
        )
    )
    args.activity_slots = int(
        extra.get(
            "PUNCHCARD_WORKER_MAX_CONCURRENT_ACTIVITIES",
            fields["worker_max_concurrent_activities"].default,
        )
    )
    logging.basicConfig(level=logging.WARNING)
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()
