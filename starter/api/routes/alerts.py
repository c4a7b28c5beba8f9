"""Open staff alerts: the queue the desk and managers work down (any staff reads it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from starter.api.deps import Deps, Staff
from starter.api.routes.staff import ERRORS
from starter.api.setup_schemas import AlertOut

router = APIRouter(prefix="/api/alerts", tags=["alerts"], responses=ERRORS)


@router.get("")
async def open_alerts(
    deps: Deps, member: Staff, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[AlertOut]:
    """Unacknowledged alerts, oldest first: bookings at zero, 80% used, pace, expiry review."""
    rows = await deps.service.ledger.open_alerts(limit)
    return [AlertOut(**a.model_dump(exclude={"acknowledged_at", "acknowledged_by"})) for a in rows]
