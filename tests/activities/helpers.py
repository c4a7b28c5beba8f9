"""Ledger entries for the activity tests: a 6-session package sold, redeemed and recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio.testing import ActivityEnvironment

from activities.ledger import LedgerActivities
from workflows.contracts import LedgerEntryInput, LedgerEntryResult
from workflows.models import Entry, EntryKind, PackageKind, PackageSnapshot, PackageStatus

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
) -> LedgerEntryInput:
    """An entry of a 6-session, $1,800 package and the snapshot right after it."""
    sale = kind is EntryKind.SALE
    return LedgerEntryInput(
        package_id=package_id,
        client_id=client_id,
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
) -> LedgerEntryInput:
    return ledger_input(
        1,
        "sale",
        remaining=6,
        kind=EntryKind.SALE,
        package_id=package_id,
        client_id=client_id,
        purchased_at=purchased_at,
    )


async def record(pool: asyncpg.Pool, input: LedgerEntryInput) -> LedgerEntryResult:
    """Run the activity in a real activity context, as the worker would."""
    return await ActivityEnvironment().run(LedgerActivities(pool).record_entry, input)
