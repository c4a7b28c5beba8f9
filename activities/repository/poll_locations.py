"""Polled locations (Zenoti centers, Jane clinics) and their durable cursors."""

from __future__ import annotations

import builtins
from datetime import datetime

import asyncpg
from pydantic import Field

from activities.repository.base import Row


class PollLocation(Row):
    platform: str = Field(min_length=1)
    location_id: str = Field(min_length=1)
    label: str | None = None
    active: bool = True
    cursor_at: datetime | None = None
    last_run_at: datetime | None = None
    last_result: str | None = None


_COLUMNS = "platform, location_id, label, active, cursor_at, last_run_at, last_result"


class PollLocationRepository:
    """Which locations are polled, and how far each has been read."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, platform: str, location_id: str, label: str | None = None) -> PollLocation:
        """Connect a location (or reconnect a deactivated one); its cursor is kept."""
        row = await self._pool.fetchrow(
            f"""
            INSERT INTO poll_locations (platform, location_id, label) VALUES ($1, $2, $3)
            ON CONFLICT (platform, location_id) DO UPDATE SET
                label = COALESCE(EXCLUDED.label, poll_locations.label),
                active = true
            RETURNING {_COLUMNS}
            """,
            platform,
            location_id,
            label,
        )
        assert row is not None  # INSERT … RETURNING always yields the row
        return PollLocation.model_validate(dict(row))

    async def get(self, platform: str, location_id: str) -> PollLocation | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM poll_locations WHERE platform = $1 AND location_id = $2",
            platform,
            location_id,
        )
        return None if row is None else PollLocation.model_validate(dict(row))

    async def list(self, *, active_only: bool = False) -> builtins.list[PollLocation]:
        rows = await self._pool.fetch(
            f"""
            SELECT {_COLUMNS} FROM poll_locations
            WHERE active OR NOT $1
            ORDER BY platform, location_id
            """,
            active_only,
        )
        return [PollLocation.model_validate(dict(row)) for row in rows]

    async def deactivate(self, platform: str, location_id: str) -> bool:
        """Stop polling a location; returns False when there is no such location."""
        status = await self._pool.execute(
            "UPDATE poll_locations SET active = false WHERE platform = $1 AND location_id = $2",
            platform,
            location_id,
        )
        return status != "UPDATE 0"

    async def record_run(
        self, platform: str, location_id: str, *, cursor_at: datetime | None, result: str
    ) -> datetime | None:
        """Note a run's result and move the cursor forward to `cursor_at` (never back).

        Never moving back keeps a late retry of an older run from re-opening a window a
        newer run already closed. Returns the cursor as stored (None: unknown location).
        """
        return await self._pool.fetchval(  # type: ignore[no-any-return]
            """
            UPDATE poll_locations SET
                cursor_at = CASE
                    WHEN $3::timestamptz IS NULL THEN cursor_at
                    WHEN cursor_at IS NULL THEN $3::timestamptz
                    ELSE GREATEST(cursor_at, $3::timestamptz)
                END,
                last_run_at = now(),
                last_result = $4
            WHERE platform = $1 AND location_id = $2
            RETURNING cursor_at
            """,
            platform,
            location_id,
            cursor_at,
            result,
        )

    async def set_cursor(self, platform: str, location_id: str, cursor_at: datetime | None) -> bool:
        """Operator override: re-read from `cursor_at` (None: as on the first run)."""
        status = await self._pool.execute(
            "UPDATE poll_locations SET cursor_at = $3 WHERE platform = $1 AND location_id = $2",
            platform,
            location_id,
            cursor_at,
        )
        return status != "UPDATE 0"
