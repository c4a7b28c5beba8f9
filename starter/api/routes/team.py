"""Staff and their tokens (manager only). A token is in exactly one answer, the one that
made it (`Cache-Control: no-store`); it is stored hashed and never shown again, so a
second create of the same id is a 409 and a lost token is replaced with a new one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from activities.repository import StaffMember
from starter.api.deps import Deps, Manager
from starter.api.routes.staff import ERRORS
from starter.api.schemas import ErrorBody
from starter.api.setup_schemas import StaffCreate, StaffOut, StaffToken
from starter.staff import Issued

router = APIRouter(prefix="/api/staff", tags=["staff"], responses=ERRORS)

StaffId = Annotated[str, Path(min_length=1, max_length=150)]


def staff_out(member: StaffMember) -> StaffOut:
    return StaffOut(**member.model_dump())


def token_out(issued: Issued, response: Response) -> StaffToken:
    response.headers["Cache-Control"] = "no-store"
    return StaffToken(**issued.member.model_dump(), token=issued.token)


@router.get("")
async def list_staff(deps: Deps, member: Manager) -> list[StaffOut]:
    """Every staff member and whether their token works (no tokens)."""
    return [staff_out(m) for m in await deps.team.list()]


@router.post(
    "",
    status_code=201,
    responses={409: {"model": ErrorBody, "description": "a staff member has that id"}},
)
async def create_staff(
    body: StaffCreate, response: Response, deps: Deps, member: Manager
) -> StaffToken:
    """Add a staff member; the answer carries their token, once."""
    issued = await deps.team.create(
        StaffMember(staff_id=body.staff_id, name=body.name or body.staff_id, role=body.role)
    )
    return token_out(issued, response)


@router.post("/{staff_id}/token")
async def new_token(
    staff_id: StaffId, response: Response, deps: Deps, member: Manager
) -> StaffToken:
    """A new token for the member, once: the old one stops working, and a revoked member
    is active again."""
    return token_out(await deps.team.issue_token(staff_id), response)


@router.post("/{staff_id}/revoke")
async def revoke_staff(staff_id: StaffId, deps: Deps, member: Manager) -> StaffOut:
    """Revoke the member's token (again changes nothing); their record stays for the audit."""
    return staff_out(await deps.team.revoke(staff_id))
