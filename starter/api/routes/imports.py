"""CSV import of a booking-platform export of completed appointments (same path as webhooks)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from starter.api.deps import Deps, Staff
from starter.api.schemas import ImportReport
from starter.imports import import_csv

router = APIRouter(prefix="/api/imports", tags=["imports"])

_CSV_BODY: dict[str, object] = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}

MAX_BYTES = 20 * 1024 * 1024


@router.post("/appointments", openapi_extra=_CSV_BODY)
async def import_appointments(
    request: Request,
    deps: Deps,
    member: Staff,
    platform: Annotated[Literal["csv", "boulevard", "mindbody", "zenoti", "jane"], Query()] = "csv",
) -> ImportReport:
    """Import completed appointments; the same file twice changes nothing, and each bad row
    is reported with its line number while the others import."""
    body = await request.body()
    if len(body) > MAX_BYTES:
        raise HTTPException(413, f"file too large: at most {MAX_BYTES // (1024 * 1024)} MB")
    return await import_csv(
        body,
        platform=platform,
        actor=member.staff_id,
        timezone=deps.settings.spa_timezone,
        links=deps.links,
        gateway=deps.gateway,
    )
