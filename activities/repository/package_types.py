"""The catalogue of package types: what the spa sells, and the terms copied into each sale."""

from __future__ import annotations

import builtins

import asyncpg
from pydantic import Field

from activities.repository.base import Row
from workflows.models import ExpiryStart, PackageKind, PackageTerms


class PackageTypeRecord(Row):
    """What the spa sells; the terms are copied into each package at sale."""

    type_code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    kind: PackageKind = PackageKind.SESSIONS
    units: int = Field(gt=0)
    price_cents: int = Field(ge=0)
    expiry_months: int | None = Field(default=None, gt=0, description="None: the spa default")
    categories: builtins.list[str] = Field(default_factory=builtins.list)
    no_show_forfeits: bool = False
    late_cancel_forfeits: bool = False
    vip_rollover_max: int = Field(default=0, ge=0)
    min_interval_days: int | None = Field(default=None, gt=0)
    enforce_zero_balance: bool = True
    match_priority: int = Field(
        default=100, description="rule 4: among covering packages, lower goes first"
    )
    max_freeze_days: int = Field(default=90, ge=0, description="0: cannot be frozen")
    expiry_starts: ExpiryStart = "purchase"
    max_unused_months: int = Field(
        default=24, gt=0, description="first_visit: a package never used expires this late"
    )

    def terms(self) -> PackageTerms:
        """The terms frozen into a package sold today (expiry is computed by the seller)."""
        return PackageTerms(
            type_code=self.type_code,
            name=self.name,
            kind=self.kind,
            units=self.units,
            price_cents=self.price_cents,
            categories=self.categories,
            no_show_forfeits=self.no_show_forfeits,
            late_cancel_forfeits=self.late_cancel_forfeits,
            vip_rollover_max=self.vip_rollover_max,
            min_interval_days=self.min_interval_days,
            enforce_zero_balance=self.enforce_zero_balance,
            max_freeze_days=self.max_freeze_days,
            expiry_starts=self.expiry_starts,
        )


_TYPE_COLUMNS = (
    "type_code, name, kind, units, price_cents, expiry_months, categories, no_show_forfeits, "
    "late_cancel_forfeits, vip_rollover_max, min_interval_days, enforce_zero_balance, match_priority, "
    "max_freeze_days, expiry_starts, max_unused_months"
)


class PackageTypeRepository:
    """The catalogue of package types."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert(self, package_type: PackageTypeRecord) -> None:
        """Create or replace a type; packages already sold keep their own terms."""
        await self._pool.execute(
            f"""
            INSERT INTO package_types ({_TYPE_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
            ON CONFLICT (type_code) DO UPDATE SET
                name = EXCLUDED.name,
                kind = EXCLUDED.kind,
                units = EXCLUDED.units,
                price_cents = EXCLUDED.price_cents,
                expiry_months = EXCLUDED.expiry_months,
                categories = EXCLUDED.categories,
                no_show_forfeits = EXCLUDED.no_show_forfeits,
                late_cancel_forfeits = EXCLUDED.late_cancel_forfeits,
                vip_rollover_max = EXCLUDED.vip_rollover_max,
                min_interval_days = EXCLUDED.min_interval_days,
                enforce_zero_balance = EXCLUDED.enforce_zero_balance,
                match_priority = EXCLUDED.match_priority,
                max_freeze_days = EXCLUDED.max_freeze_days,
                expiry_starts = EXCLUDED.expiry_starts,
                max_unused_months = EXCLUDED.max_unused_months
            """,
            *_values(package_type),
        )

    async def insert(self, package_type: PackageTypeRecord) -> bool:
        """Create a type only if the code is free; True when this call created it."""
        created = await self._pool.fetchval(
            f"""
            INSERT INTO package_types ({_TYPE_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
            ON CONFLICT (type_code) DO NOTHING
            RETURNING type_code
            """,
            *_values(package_type),
        )
        return created is not None

    async def get(self, type_code: str) -> PackageTypeRecord | None:
        row = await self._pool.fetchrow(
            f"SELECT {_TYPE_COLUMNS} FROM package_types WHERE type_code = $1", type_code
        )
        return None if row is None else PackageTypeRecord.model_validate(dict(row))

    async def list(self) -> builtins.list[PackageTypeRecord]:
        rows = await self._pool.fetch(
            f"SELECT {_TYPE_COLUMNS} FROM package_types ORDER BY type_code"
        )
        return [PackageTypeRecord.model_validate(dict(row)) for row in rows]


def _values(t: PackageTypeRecord) -> tuple[object, ...]:
    """The row's values in `_TYPE_COLUMNS` order ($1 … $13)."""
    return (
        t.type_code,
        t.name,
        t.kind.value,
        t.units,
        t.price_cents,
        t.expiry_months,
        t.categories,
        t.no_show_forfeits,
        t.late_cancel_forfeits,
        t.vip_rollover_max,
        t.min_interval_days,
        t.enforce_zero_balance,
        t.match_priority,
        t.max_freeze_days,
        t.expiry_starts,
        t.max_unused_months,
    )
