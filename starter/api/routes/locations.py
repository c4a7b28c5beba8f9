"""The spa group's locations: any staff lists them, a manager creates or changes one.

POST is safe to retry (201 made, 200 the same location was there, 409 naming the fields
of a different one under that id, or a platform id another location holds); PATCH
changes only the fields sent. A spa that configured none lists its one implied location.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from activities.repository import LocationRecord
from starter.api.deps import Deps, Manager, Staff
from starter.api.routes.staff import ERRORS
from starter.api.schemas import ErrorBody
from starter.api.setup_schemas import LocationCreate, LocationOut, LocationUpdate
from starter.locations import LocationChanges

router = APIRouter(prefix="/api/locations", tags=["locations"], responses=ERRORS)

LocationId = Annotated[str, Path(min_length=1, max_length=150)]


def location_out(record: LocationRecord, *, implied: bool = False) -> LocationOut:
    return LocationOut(**record.model_dump(), implied=implied)


@router.get("")
async def list_locations(deps: Deps, member: Staff) -> list[LocationOut]:
    """The default first; a spa that configured none has one, implied by its settings."""
    stored = await deps.locations.locations.list()
    if not stored:
        return [location_out(deps.locations.implied(), implied=True)]
    return [location_out(loc) for loc in stored]


@router.get("/{location_id}")
async def get_location(location_id: LocationId, deps: Deps, member: Staff) -> LocationOut:
    found = await deps.locations.get(location_id)
    return location_out(found, implied=await deps.locations.locations.get(location_id) is None)


@router.post(
    "",
    status_code=201,
    responses={
        200: {"model": LocationOut, "description": "the same location was already there"},
        409: {"model": ErrorBody, "description": "another location has that id or platform id"},
        422: {"model": ErrorBody, "description": "an unknown time zone, or a field out of bounds"},
    },
)
async def create_location(
    body: LocationCreate, response: Response, deps: Deps, member: Manager
) -> LocationOut:
    """Add a location (manager); the first one becomes the default."""
    saved = await deps.locations.create(LocationRecord(**body.model_dump()))
    if not saved.created:
        response.status_code = 200
    return location_out(saved.record)


@router.patch("/{location_id}")
async def update_location(
    location_id: LocationId, body: LocationUpdate, deps: Deps, member: Manager
) -> LocationOut:
    """Change a location (manager). A new time zone applies to packages sold from now on;
    those sold already keep the zone they were sold with (their reminders are planned)."""
    changes = LocationChanges(**body.model_dump(include=body.model_fields_set))
    return location_out(await deps.locations.update(location_id, changes))
