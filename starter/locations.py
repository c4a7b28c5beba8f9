"""The spa group's locations as staff manage them (CLI and HTTP API alike), and the
questions the rest of the starter asks of them: where a sale belongs, which zone a package
keeps, which location a platform's location id names.

A spa that configures no location has one, implied by its settings (`PUNCHCARD_SPA_NAME`,
`PUNCHCARD_SPA_TIMEZONE`), id `main`; its packages carry no location at all, so nothing
about them changes. Once locations exist, one is the default (the first, or the one
marked so): sales that name none, and packages sold before locations existed, belong to
it.

`create` is safe to retry (the same location again changes nothing; a different one under
the same id is a `Conflict` naming what differs); `update` changes only the fields sent.
"""

from __future__ import annotations

import functools
import re
from zoneinfo import available_timezones

import asyncpg

from activities.repository import LocationRecord, LocationRepository
from activities.repository.locations import IMPLIED_ID, PLATFORM_ID_FIELDS, UnknownLocation
from starter.packages import Conflict, Invalid, NotFound
from starter.saved import Saved, listed
from workflows.models import Model

BOULEVARD_URN = "urn:blvd:Location:"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Which field holds a platform's location id, by the platform's name in visits and links.
PLATFORM_FIELDS = {
    "boulevard": "boulevard_location_id",
    "mindbody": "mindbody_location_id",
    "zenoti": "zenoti_center_id",
    "jane": "jane_location_id",
}


class LocationChanges(Model):
    """An update: only the fields set change (None clears a platform id)."""

    name: str | None = None
    timezone: str | None = None
    is_default: bool | None = None
    boulevard_location_id: str | None = None
    mindbody_site_id: str | None = None
    mindbody_location_id: str | None = None
    zenoti_center_id: str | None = None
    jane_location_id: str | None = None


def check_timezone(name: str) -> str:
    """An IANA zone name (`America/Los_Angeles`); raises `Invalid` naming `timezone`."""
    if name not in _zones():
        raise Invalid(
            "timezone", f"unknown time zone {name!r} (use an IANA name such as America/New_York)"
        )
    return name


def boulevard_location(value: str | None) -> str | None:
    """Boulevard's location id as its webhooks send it: a bare UUID becomes the URN."""
    if value is None:
        return None
    value = value.strip()
    return f"{BOULEVARD_URN}{value.lower()}" if _UUID.match(value) else value


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


class LocationService:
    def __init__(self, pool: asyncpg.Pool, *, spa_name: str, spa_timezone: str) -> None:
        self.locations = LocationRepository(pool)
        self._spa_name = spa_name
        self._spa_timezone = spa_timezone

    def implied(self) -> LocationRecord:
        """The one location of a spa that configured none: its settings."""
        return LocationRecord(
            location_id=IMPLIED_ID,
            name=self._spa_name,
            timezone=self._spa_timezone,
            is_default=True,
        )

    async def get(self, location_id: str) -> LocationRecord:
        found = await self.locations.get(location_id)
        if found is not None:
            return found
        if location_id == IMPLIED_ID and not await self.locations.list():
            return self.implied()
        raise NotFound(f"no location {location_id!r}")

    async def for_sale(self, location_id: str | None) -> LocationRecord | None:
        """Where a sale belongs: the location named, else the default. None (no location
        on the package at all) while the spa has configured none."""
        try:
            return await self.locations.for_sale(location_id)
        except UnknownLocation as err:
            raise NotFound(str(err)) from None

    async def zones(self) -> dict[str | None, str]:
        """Each location's zone by id; None (a package without location) is the spa's."""
        return await self.locations.zones(self._spa_timezone)

    async def zone_of(self, location_id: str | None) -> str:
        """The zone a package of this location counts its days in."""
        zones = await self.zones()
        return zones.get(location_id, zones[None])

    async def for_platform(
        self, platform: str, external_id: str | None, *, site_id: str | None = None
    ) -> str | None:
        """The location a platform's location id names (None: not said, or not mapped)."""
        field = PLATFORM_FIELDS.get(platform)
        if field is None or not external_id:
            return None
        value = boulevard_location(external_id) if platform == "boulevard" else external_id
        assert value is not None
        return await self.locations.for_platform_id(field, value, site_id=site_id)

    async def create(self, record: LocationRecord) -> Saved[LocationRecord]:
        record = self._checked(record)
        await self._platform_ids_free(record)
        if await self.locations.insert(record):
            return Saved(record=await self.get(record.location_id), created=True)
        stored = await self.get(record.location_id)
        differs = [
            name
            for name in LocationRecord.model_fields
            if name != "is_default" and getattr(stored, name) != getattr(record, name)
        ]
        if record.is_default and not stored.is_default:
            differs.append("is_default")
        if differs:
            raise Conflict(
                f"location {record.location_id!r} already exists with a different "
                f"{listed(differs)}: update it instead of creating it"
            )
        return Saved(record=stored, created=False)

    async def update(self, location_id: str, changes: LocationChanges) -> LocationRecord:
        stored = await self.locations.get(location_id)
        if stored is None:
            await self.get(location_id)  # NotFound, unless it is the implied one
            raise Conflict(
                f"location {location_id!r} is implied by the spa's settings: create it "
                "(POST /api/locations) to configure it"
            )
        fields = changes.model_dump(include=changes.model_fields_set)
        if fields.get("is_default") is False and stored.is_default:
            raise Conflict(
                f"{location_id!r} is the default location: mark another one default instead"
            )
        if fields.get("is_default") is None:
            fields.pop("is_default", None)
        merged = self._checked(LocationRecord.model_validate(stored.model_dump() | fields))
        await self._platform_ids_free(merged)
        updated = await self.locations.update(merged)
        if updated is None:
            raise NotFound(f"no location {location_id!r}")
        return updated

    def _checked(self, record: LocationRecord) -> LocationRecord:
        check_timezone(record.timezone)
        if record.mindbody_site_id is not None and record.mindbody_location_id is None:
            raise Invalid("mindbody_location_id", "a Mindbody site needs the LocationId within it")
        ids = {f: (getattr(record, f) or "").strip() or None for f in PLATFORM_ID_FIELDS}
        ids["boulevard_location_id"] = boulevard_location(ids["boulevard_location_id"])
        return record.model_copy(update=ids)

    async def _platform_ids_free(self, record: LocationRecord) -> None:
        """Each platform id names one location: one held by another is a `Conflict`."""
        for platform, field in PLATFORM_FIELDS.items():
            value = getattr(record, field)
            if value is None:
                continue
            holder = await self.locations.for_platform_id(
                field, value, site_id=record.mindbody_site_id
            )
            if holder is not None and holder != record.location_id:
                raise Conflict(f"{platform} location {value!r} is already location {holder!r}")
