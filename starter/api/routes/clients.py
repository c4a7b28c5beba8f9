"""Client records through the API: create, update, SMS consent, and what they were sent.

Search, detail and links are in `routes.staff` (the desk's). Creating is safe to retry:
201 when made, 200 when the same record was already there, 409 naming the fields of a
different one under that id (PATCH changes it).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from activities.repository import ClientRecord
from starter.api.deps import Deps, Manager, Staff
from starter.api.routes.staff import ERRORS
from starter.api.schemas import ClientOut, ErrorBody
from starter.api.setup_schemas import ClientCreate, ClientUpdate, MessageOut
from starter.clients import ClientChanges

router = APIRouter(prefix="/api/clients", tags=["clients"], responses=ERRORS)

ClientId = Annotated[str, Path(min_length=1, max_length=200)]


def client_out(record: ClientRecord) -> ClientOut:
    return ClientOut(**record.model_dump())


@router.post(
    "",
    status_code=201,
    responses={
        200: {"model": ClientOut, "description": "the same client was already there"},
        409: {"model": ErrorBody, "description": "another client has that id"},
    },
)
async def create_client(
    body: ClientCreate, response: Response, deps: Deps, member: Staff
) -> ClientOut:
    """Add a client (any staff: a walk-in is added at the desk). Sending the same record
    again changes nothing (200); opt-outs it carries are still recorded."""
    saved = await deps.clients.create(ClientRecord(**body.model_dump()))
    if not saved.created:
        response.status_code = 200
    return client_out(saved.record)


@router.patch("/{client_id}")
async def update_client(
    client_id: ClientId, body: ClientUpdate, deps: Deps, member: Staff
) -> ClientOut:
    """Change the name, phone, email or home location (only the fields sent; `null`
    clears phone, email or the home location)."""
    changes = ClientChanges(**body.model_dump(include=body.model_fields_set))
    return client_out(await deps.clients.update(client_id, changes))


@router.post("/{client_id}/sms-opt-out")
async def sms_opt_out(client_id: ClientId, deps: Deps, member: Staff) -> ClientOut:
    """Stop SMS to the client at their request (any staff: what an inbound STOP does)."""
    return client_out(await deps.clients.set_sms_opt_out(client_id, True))


@router.post("/{client_id}/sms-opt-in")
async def sms_opt_in(client_id: ClientId, deps: Deps, member: Manager) -> ClientOut:
    """Resume SMS (manager: only with the client's consent, as after a START)."""
    return client_out(await deps.clients.set_sms_opt_out(client_id, False))


@router.get("/{client_id}/messages")
async def client_messages(client_id: ClientId, deps: Deps, member: Staff) -> list[MessageOut]:
    """Every message to the client, oldest first: sent, failed, or withheld and why."""
    return [MessageOut(**m.model_dump()) for m in await deps.clients.messages(client_id)]
