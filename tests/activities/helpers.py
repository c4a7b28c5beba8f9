"""Ledger entries for the activity tests: a 6-session package sold, redeemed and recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio.testing import ActivityEnvironment

from activities.ledger import LedgerActivities
from workflows.contracts import LedgerBatchInput, LedgerBatchResult, LedgerWriter
from workflows.models import (
    Entry,
    EntryKind,
    LedgerEffect,
    PackageKind,
    PackageSnapshot,
    PackageStatus,
)

SOLD_AT = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def ledger_input(
    seq: int,
    key: str,
    *,
    remaining: int,
    kind: EntryKind = EntryKind.REDEMPTION,
    package_id: str = "pkg-1",
    client_id: str = "c-ana",
    purchased_at: datetime = SOLD_AT,
    status: PackageStatus = PackageStatus.ACTIVE,
) -> LedgerEffect:
    """An entry of a 6-session, $1,800 package and the snapshot right after it."""
    sale = kind is EntryKind.SALE
    return LedgerEffect(
        entry=Entry(
            seq=seq,
            key=key,
            kind=kind,
            units_delta=6 if sale else -1,
            balance_after=remaining,
            value_cents=180_000 if sale else 30_000,
            appointment_id=None if sale else key,
            actor="front-desk",
            outcome="sold" if sale else "redeemed",
            at=purchased_at + timedelta(days=seq),
        ),
        snapshot=PackageSnapshot(
            package_id=package_id,
            client_id=client_id,
            type_code="laser6",
            name="Laser hair removal, 6 sessions",
            kind=PackageKind.SESSIONS,
            status=status,
            remaining=remaining,
            purchased_units=6,
            paid_cents=180_000,
            unused_value_cents=remaining * 30_000,
            purchased_at=purchased_at,
            expires_at=purchased_at + timedelta(days=365),
        ),
    )


def sale(
    *, package_id: str = "pkg-1", client_id: str = "c-ana", purchased_at: datetime = SOLD_AT
) -> LedgerEffect:
    return ledger_input(
        1,
        "sale",
        remaining=6,
        kind=EntryKind.SALE,
        package_id=package_id,
        client_id=client_id,
        purchased_at=purchased_at,
    )


async def record(
    pool: asyncpg.Pool, *effects: LedgerEffect, run: str = "run-1", history: int | None = None
) -> LedgerBatchResult:
    """Run the activity on one batch in a real activity context, as the worker would. The
    writer's history length defaults to ten events per seq, so later writes are newer."""
    first = effects[0]
    batch = LedgerBatchInput(
        package_id=first.snapshot.package_id,
        client_id=first.snapshot.client_id,
        effects=list(effects),
        writer=LedgerWriter(
            run_id=run, history_length=first.entry.seq * 10 if history is None else history
        ),
    )
    return await ActivityEnvironment().run(LedgerActivities(pool).record_entries, batch)
