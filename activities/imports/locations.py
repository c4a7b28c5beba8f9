"""A location named in an import file: by its id, its name, or a platform's id for it."""

from __future__ import annotations

import asyncio

from activities.repository.locations import IMPLIED_ID, LocationRecord, LocationRepository

READ_EVERY_SECONDS = 5.0  # a batch reads the locations once, a long import now and then


class UnknownLocationRef(Exception):
    """The file names a location that is not set up."""


class LocationMatcher:
    def __init__(self, locations: LocationRepository) -> None:
        self._locations = locations
        self._read: tuple[float, list[LocationRecord]] | None = None

    async def all(self) -> list[LocationRecord]:
        now = asyncio.get_running_loop().time()
        if self._read is None or now - self._read[0] > READ_EVERY_SECONDS:
            self._read = (now, await self._locations.list())
        return self._read[1]

    async def match(self, ref: str | None) -> LocationRecord | None:
        """The location `ref` names, the default when it names none; None while the spa
        has configured none (then only `main`, the implied one, may be named).

        Raises:
            UnknownLocationRef: naming the reference, and how to fix it.
        """
        locations = await self.all()
        if ref is None:
            return next((loc for loc in locations if loc.is_default), None)
        folded = " ".join(ref.split()).casefold()
        for loc in locations:
            names = (loc.location_id, loc.name, loc.boulevard_location_id, loc.zenoti_center_id)
            more = (loc.jane_location_id, loc.mindbody_location_id)
            if any(
                n is not None and " ".join(n.split()).casefold() == folded for n in names + more
            ):
                return loc
            if loc.boulevard_location_id and loc.boulevard_location_id.endswith(":" + folded):
                return loc  # the bare UUID of Boulevard's URN
        if not locations and ref == IMPLIED_ID:
            return None
        raise UnknownLocationRef(
            f"unknown location {ref!r}: set it up first (POST /api/locations), or name it "
            "by its id or name"
        )
