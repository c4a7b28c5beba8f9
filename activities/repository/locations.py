"""The spa group's locations: time zone, default flag, and the ids booking platforms use.

A location is found from a platform's id for it (a Boulevard `locationId` URN, a Mindbody
`siteId` + `locationId`, a Zenoti center id, a Jane location id); an id names at most one
location (unique indexes), so a webhook maps to one place or none.
"""

from __future__ import annotations

import builtins

import asyncpg
from pydantic import Field

from activities.repository.base import Row

# The one location of a spa that configured none, implied by its settings.
IMPLIED_ID = "main"


class UnknownLocation(LookupError):
    """No location has this id; str() names it."""


class LocationRecord(Row):
    location_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    timezone: str = Field(min_length=1)
    is_default: bool = False
    boulevard_location_id: str | None = None
    mindbody_site_id: str | None = None
    mindbody_location_id: str | None = None
    zenoti_center_id: str | None = None
    jane_location_id: str | None = None


PLATFORM_ID_FIELDS = (
    "boulevard_location_id",
    "mindbody_site_id",
    "mindbody_location_id",
    "zenoti_center_id",
    "jane_location_id",
)
_COLUMNS = (
    "location_id, name, timezone, is_default, boulevard_location_id, mindbody_site_id, "
    "mindbody_location_id, zenoti_center_id, jane_location_id"
)
_VALUES = "$1, $2, $3, $4, $5, $6, $7, $8, $9"


def _args(location: LocationRecord) -> tuple[object, ...]:
    return (
        location.location_id,
        location.name,
        location.timezone,
        location.is_default,
        location.boulevard_location_id,
        location.mindbody_site_id,
        location.mindbody_location_id,
        location.zenoti_center_id,
        location.jane_location_id,
    )


class LocationRepository:
    """Locations, and which one a platform's location id names."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def insert(self, location: LocationRecord) -> bool:
        """Create the location if the id is free (True when this call made it). The first
        location, or one marked default, becomes the default (the old default stops being
        it), in one transaction."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("LOCK TABLE locations IN SHARE ROW EXCLUSIVE MODE")
            if await conn.fetchval(
                "SELECT 1 FROM locations WHERE location_id = $1", location.location_id
            ):
                return False
            first = not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM locations)")
            if location.is_default or first:
                await conn.execute("UPDATE locations SET is_default = false WHERE is_default")
                location = location.model_copy(update={"is_default": True})
            await conn.execute(
                f"INSERT INTO locations ({_COLUMNS}) VALUES ({_VALUES})", *_args(location)
            )
        return True

    async def update(self, location: LocationRecord) -> LocationRecord | None:
        """Replace a location's fields (None: no such location). Marking it default takes
        the flag from the old default; the default stays the default until another is."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("LOCK TABLE locations IN SHARE ROW EXCLUSIVE MODE")
            stored = await conn.fetchrow(
                "SELECT is_default FROM locations WHERE location_id = $1", location.location_id
            )
            if stored is None:
                return None
            if location.is_default and not stored["is_default"]:
                await conn.execute("UPDATE locations SET is_default = false WHERE is_default")
            elif stored["is_default"]:
                location = location.model_copy(update={"is_default": True})
            row = await conn.fetchrow(
                f"""
                UPDATE locations SET
                    name = $2, timezone = $3, is_default = $4, boulevard_location_id = $5,
                    mindbody_site_id = $6, mindbody_location_id = $7, zenoti_center_id = $8,
                    jane_location_id = $9, updated_at = now()
                WHERE location_id = $1
                RETURNING {_COLUMNS}
                """,
                *_args(location),
            )
        assert row is not None  # locked above: still there
        return LocationRecord.model_validate(dict(row))

    async def get(self, location_id: str) -> LocationRecord | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM locations WHERE location_id = $1", location_id
        )
        return None if row is None else LocationRecord.model_validate(dict(row))

    async def list(self) -> builtins.list[LocationRecord]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM locations ORDER BY NOT is_default, location_id"
        )
        return [LocationRecord.model_validate(dict(row)) for row in rows]

    async def default(self) -> LocationRecord | None:
        row = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM locations WHERE is_default")
        return None if row is None else LocationRecord.model_validate(dict(row))

    async def for_sale(self, location_id: str | None) -> LocationRecord | None:
        """Where a sale belongs: the location named, else the default. None while the spa
        has configured none (then `main`, the implied one, may be named).

        Raises:
            UnknownLocation: no location has that id.
        """
        if location_id is None:
            return await self.default()
        found = await self.get(location_id)
        if found is None and not (location_id == IMPLIED_ID and await self.default() is None):
            raise UnknownLocation(f"no location {location_id!r}")
        return found

    async def of_package(self, package_id: str) -> LocationRecord | None:
        """The location a package was sold at (None: none, or the spa configured none)."""
        row = await self._pool.fetchrow(
            f"""
            SELECT {", ".join("l." + c.strip() for c in _COLUMNS.split(","))}
            FROM packages p JOIN locations l ON l.location_id = p.location_id
            WHERE p.package_id = $1
            """,
            package_id,
        )
        return None if row is None else LocationRecord.model_validate(dict(row))

    async def zones(self, spa_timezone: str) -> dict[str | None, str]:
        """Each location's zone by id; None (a package sold without a location, which was
        sold in the spa's zone) is the spa's."""
        zones: dict[str | None, str] = {loc.location_id: loc.timezone for loc in await self.list()}
        zones[None] = spa_timezone
        return zones

    async def for_platform_id(
        self, field: str, value: str, *, site_id: str | None = None
    ) -> str | None:
        """The location a platform's id names. Mindbody: `value` is the LocationId, matched
        within `site_id` (a location configured without a site matches any site)."""
        if field not in PLATFORM_ID_FIELDS or field == "mindbody_site_id":
            raise ValueError(f"not a platform location field: {field!r}")
        if field == "mindbody_location_id":
            return await self._pool.fetchval(  # type: ignore[no-any-return]
                """
                SELECT location_id FROM locations
                WHERE mindbody_location_id = $1
                  AND (mindbody_site_id IS NULL OR mindbody_site_id = $2)
                ORDER BY mindbody_site_id NULLS LAST LIMIT 1
                """,
                value,
                site_id,
            )
        return await self._pool.fetchval(  # type: ignore[no-any-return]
            f"SELECT location_id FROM locations WHERE {field} = $1", value
        )
