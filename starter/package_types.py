"""The package types the spa sells, as staff manage them (CLI and HTTP API alike).

`create` is safe to retry (the same type again changes nothing; a different one under the
same code is a `Conflict` naming what differs); `save` creates or replaces. Packages
already sold keep the terms they were sold with either way.
"""

from __future__ import annotations

import asyncpg

from activities.repository import PackageTypeRecord, PackageTypeRepository
from starter.packages import Conflict, NotFound
from starter.saved import Saved, listed


class PackageTypeService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.types = PackageTypeRepository(pool)

    async def get(self, type_code: str) -> PackageTypeRecord:
        found = await self.types.get(type_code)
        if found is None:
            raise NotFound(f"no package type {type_code!r}")
        return found

    async def list(self) -> list[PackageTypeRecord]:
        return await self.types.list()

    async def create(self, record: PackageTypeRecord) -> Saved[PackageTypeRecord]:
        if await self.types.insert(record):
            return Saved(record=record, created=True)
        stored = await self.get(record.type_code)
        differs = [
            name
            for name in PackageTypeRecord.model_fields
            if getattr(stored, name) != getattr(record, name)
        ]
        if differs:
            raise Conflict(
                f"package type {record.type_code!r} already exists with a different "
                f"{listed(differs)}: replace it instead of creating it"
            )
        return Saved(record=stored, created=False)

    async def save(self, record: PackageTypeRecord) -> Saved[PackageTypeRecord]:
        """Create or replace the type."""
        existed = await self.types.get(record.type_code) is not None
        await self.types.upsert(record)
        return Saved(record=record, created=not existed)
