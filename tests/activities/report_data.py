"""A small spa with a known week, written through the ledger activity (the real write path):
every figure of its reconciliation is worked out by hand in the test.

The week is Monday 2 March 2026 to Monday 9 March 2026 in New York (daylight saving time
starts on Sunday the 8th, so the week is 167 hours long).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg
from temporalio.testing import ActivityEnvironment

from activities.ledger import LedgerActivities
from activities.repository import (
    ClientRecord,
    ClientRepository,
    PackageTypeRecord,
    PackageTypeRepository,
    ReviewQueue,
)
from workflows.contracts import LedgerBatchInput, LedgerWriter
from workflows.models import (
    Entry,
    EntryKind,
    LedgerEffect,
    PackageKind,
    PackageSnapshot,
    PackageStatus,
)

NY = "America/New_York"
ZONE = ZoneInfo(NY)


def ny(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=ZONE)


WEEK_START = ny(2026, 3, 2, 0)
WEEK_END = ny(2026, 3, 9, 0)

LASER = PackageTypeRecord(
    type_code="laser6", name="Laser 6", units=6, price_cents=180_000, categories=["laser"]
)
FACIAL = PackageTypeRecord(  # two categories: counted under the first, facial
    type_code="facial4", name="Facial 4", units=4, price_cents=40_000, categories=["facial", "peel"]
)
CREDIT = PackageTypeRecord(
    type_code="credit",
    name="Injectables credit",
    kind=PackageKind.DOLLARS,
    units=150_000,
    price_cents=150_000,
    categories=["injectables"],
)
CONSULT = PackageTypeRecord(type_code="consult", name="Consult", units=1, price_cents=5_000)
TYPES = (LASER, FACIAL, CREDIT, CONSULT)

CLIENTS = (
    ClientRecord(client_id="c1", name="Ana One", phone="+15555550001", email="ana@example.com"),
    ClientRecord(client_id="c2", name="Ben Two", phone="+15555550002", email="ben@example.com"),
    ClientRecord(client_id="c3", name="Cy Three", phone="+15555550003", email="cy@example.com"),
)


@dataclass(frozen=True)
class Step:
    kind: EntryKind
    at: datetime
    delta: int = 0
    value: int = 0
    unused_after: int = 0  # the package's unused value after the entry, worked out by hand
    status: PackageStatus = PackageStatus.ACTIVE
    added: int = 0  # units bought (sale, top-up)
    paid: int = 0
    appointment: str | None = None


@dataclass(frozen=True)
class Sold:
    package_id: str
    client_id: str
    type: PackageTypeRecord
    steps: tuple[Step, ...]


def sale(t: PackageTypeRecord, at: datetime) -> Step:
    return Step(
        EntryKind.SALE,
        at,
        t.units,
        t.price_cents,
        t.price_cents,
        added=t.units,
        paid=t.price_cents,
    )


R, V = EntryKind.REDEMPTION, EntryKind.REVERSAL

PACKAGES = (
    # Sold at the very first instant of the week; two visits, one reversed; one more visit
    # at the very first instant of the next week (outside the period, inside "now").
    Sold(
        "p1",
        "c1",
        LASER,
        (
            sale(LASER, WEEK_START),
            Step(R, ny(2026, 3, 3), -1, 30_000, 150_000),
            Step(R, ny(2026, 3, 4), -1, 30_000, 120_000),
            Step(V, ny(2026, 3, 5), +1, 30_000, 150_000),
            Step(R, WEEK_END, -1, 30_000, 120_000),
        ),
    ),
    # Sold before; a visit before; in the week a no-show forfeited under the type's policy,
    # a late cancel that consumed nothing, and a top-up of 2 sessions for $200.
    Sold(
        "p2",
        "c2",
        FACIAL,
        (
            sale(FACIAL, ny(2026, 1, 10)),
            Step(R, ny(2026, 1, 20), -1, 10_000, 30_000),
            Step(EntryKind.NO_SHOW, ny(2026, 3, 4), -1, 10_000, 20_000),
            Step(EntryKind.LATE_CANCEL, ny(2026, 3, 5), 0, 0, 20_000),
            Step(EntryKind.TOP_UP, ny(2026, 3, 6), +2, 20_000, 40_000, added=2, paid=20_000),
        ),
    ),
    # Four visits last year, expired in the week with 2 sessions ($600) unused.
    Sold(
        "p3",
        "c3",
        LASER,
        (
            sale(LASER, ny(2025, 3, 1)),
            *(Step(R, ny(2025, 4, n), -1, 30_000, 180_000 - 30_000 * n) for n in range(1, 5)),
            Step(EntryKind.EXPIRY, ny(2026, 3, 5), -2, 60_000, 0, PackageStatus.EXPIRED),
        ),
    ),
    # Dollar credit sold in the week, $250 of it redeemed.
    Sold(
        "p4",
        "c1",
        CREDIT,
        (sale(CREDIT, ny(2026, 3, 6)), Step(R, ny(2026, 3, 7), -25_000, 25_000, 125_000)),
    ),
    # Cancelled in the week with everything unused; Stripe then refunded it.
    Sold(
        "p5",
        "c3",
        FACIAL,
        (
            sale(FACIAL, ny(2026, 2, 1)),
            Step(EntryKind.CANCELLATION, ny(2026, 3, 7), -4, 40_000, 0, PackageStatus.CANCELLED),
            Step(EntryKind.REFUND, ny(2026, 3, 7, 13), 0, 40_000, 0, PackageStatus.CANCELLED),
        ),
    ),
    # Reached expiry in the week under the VIP policy: in review, still open.
    Sold(
        "p6",
        "c2",
        CONSULT,
        (
            sale(CONSULT, ny(2026, 2, 15)),
            Step(EntryKind.EXPIRY_REVIEW, ny(2026, 3, 8), 0, 5_000, 5_000, PackageStatus.IN_REVIEW),
        ),
    ),
    # All six used last year; in the week a visit redeemed over balance (enforce off).
    Sold(
        "p7",
        "c1",
        LASER,
        (
            sale(LASER, ny(2025, 6, 1)),
            *(Step(R, ny(2025, 7, n), -1, 30_000, 180_000 - 30_000 * n) for n in range(1, 7)),
            Step(R, ny(2026, 3, 8), -1, 0, 0),
        ),
    ),
)


async def seed_types_and_clients(pool: asyncpg.Pool) -> None:
    for t in TYPES:
        await PackageTypeRepository(pool).upsert(t)
    for c in CLIENTS:
        await ClientRepository(pool).upsert(c)


async def record(pool: asyncpg.Pool, sold: Sold) -> None:
    """Each step through `LedgerActivities.record_entries`, with the balance right after it."""
    env, ledger = ActivityEnvironment(), LedgerActivities(pool)
    remaining = purchased = paid = 0
    for seq, step in enumerate(sold.steps, start=1):
        remaining += step.delta
        purchased += step.added
        paid += step.paid
        entry = Entry(
            seq=seq,
            key=f"{step.kind.value}-{seq}",
            kind=step.kind,
            units_delta=step.delta,
            balance_after=remaining,
            value_cents=step.value,
            appointment_id=step.appointment,
            actor="test",
            outcome=step.kind.value,
            at=step.at,
        )
        snapshot = PackageSnapshot(
            package_id=sold.package_id,
            client_id=sold.client_id,
            type_code=sold.type.type_code,
            name=sold.type.name,
            kind=sold.type.kind,
            status=step.status,
            remaining=remaining,
            purchased_units=purchased,
            paid_cents=paid,
            unused_value_cents=step.unused_after,
            purchased_at=sold.steps[0].at,
            expires_at=None,
        )
        await env.run(
            ledger.record_entries,
            LedgerBatchInput(
                package_id=sold.package_id,
                client_id=sold.client_id,
                effects=[LedgerEffect(entry=entry, snapshot=snapshot)],
                writer=LedgerWriter(run_id="report-data", history_length=seq),
            ),
        )


async def seed_week(pool: asyncpg.Pool) -> None:
    """The types, clients, packages and review items of the known week."""
    await seed_types_and_clients(pool)
    for sold in PACKAGES:
        await record(pool, sold)
    queue = ReviewQueue(pool)
    items = (
        ("r-open-zero", "refused:ZeroBalance", ny(2026, 3, 4), "open"),
        ("r-open-old", "no_match", ny(2026, 2, 20), "open"),
        ("r-done-expired", "refused:PackageExpired", ny(2026, 3, 6), "done"),
        ("r-before", "refused:ZeroBalance", ny(2026, 2, 27), "done"),
    )
    for item_id, reason, created, status in items:
        await queue.open(item_id=item_id, kind="unmatched_visit", reason=reason, detail=item_id)
        await pool.execute(
            "UPDATE review_items SET created_at = $2, status = $3 WHERE item_id = $1",
            item_id,
            created,
            status,
        )
