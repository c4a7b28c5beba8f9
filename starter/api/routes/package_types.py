"""The package types on sale: any staff reads them, a manager creates or replaces one.

POST is safe to retry (201 made, 200 the same type was there, 409 naming the fields of a
different one under that code); PUT creates or replaces. Packages already sold keep the
terms they were sold with.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from activities.repository import PackageTypeRecord
from starter.api.deps import Deps, Manager, Staff
from starter.api.routes.staff import ERRORS
from starter.api.schemas import ErrorBody
from starter.api.setup_schemas import PackageTypeBody, PackageTypeCreate, PackageTypeOut

router = APIRouter(prefix="/api/package-types", tags=["package types"], responses=ERRORS)

TypeCode = Annotated[str, Path(min_length=1, max_length=150)]


def type_out(record: PackageTypeRecord) -> PackageTypeOut:
    return PackageTypeOut(**record.model_dump())


@router.get("")
async def list_types(deps: Deps, member: Staff) -> list[PackageTypeOut]:
    return [type_out(t) for t in await deps.types.list()]


@router.get("/{type_code}")
async def get_type(type_code: TypeCode, deps: Deps, member: Staff) -> PackageTypeOut:
    return type_out(await deps.types.get(type_code))


@router.post(
    "",
    status_code=201,
    responses={
        200: {"model": PackageTypeOut, "description": "the same type was already there"},
        409: {"model": ErrorBody, "description": "another type has that code"},
    },
)
async def create_type(
    body: PackageTypeCreate, response: Response, deps: Deps, member: Manager
) -> PackageTypeOut:
    """Add a package type (manager)."""
    saved = await deps.types.create(PackageTypeRecord(**body.model_dump()))
    if not saved.created:
        response.status_code = 200
    return type_out(saved.record)


@router.put(
    "/{type_code}",
    responses={201: {"model": PackageTypeOut, "description": "the type was created"}},
)
async def replace_type(
    type_code: TypeCode, body: PackageTypeBody, response: Response, deps: Deps, member: Manager
) -> PackageTypeOut:
    """Create or replace a package type (manager); 201 when it is new."""
    saved = await deps.types.save(PackageTypeRecord(type_code=type_code, **body.model_dump()))
    if saved.created:
        response.status_code = 201
    return type_out(saved.record)
