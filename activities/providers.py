"""The spa's providers: who performs treatments (and so who redeemed a session)."""

from __future__ import annotations

import builtins

import asyncpg
from pydantic import BaseModel, ConfigDict, Field


class ProviderRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    provider_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    role: str | None = None
    active: bool = True


_COLUMNS = "provider_id, name, role, active"


class ProviderRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert(self, provider: ProviderRecord) -> None:
        await self._pool.execute(
            f"""
            INSERT INTO providers ({_COLUMNS}) VALUES ($1, $2, $3, $4)
            ON CONFLICT (provider_id) DO UPDATE SET
                name = EXCLUDED.name, role = EXCLUDED.role, active = EXCLUDED.active
            """,
            provider.provider_id,
            provider.name,
            provider.role,
            provider.active,
        )

    async def get(self, provider_id: str) -> ProviderRecord | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM providers WHERE provider_id = $1", provider_id
        )
        return None if row is None else ProviderRecord.model_validate(dict(row))

    async def list(self) -> builtins.list[ProviderRecord]:
        rows = await self._pool.fetch(f"SELECT {_COLUMNS} FROM providers ORDER BY name")
        return [ProviderRecord.model_validate(dict(row)) for row in rows]
