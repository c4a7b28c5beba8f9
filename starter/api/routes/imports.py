"""CSV imports: completed appointments (the same path as webhooks), and moving in —
clients and open packages from the old system, as import jobs with progress.

A move-in import answers 202 with its job at once; `GET /api/imports/{job_id}` shows its
progress (rows done of rows total, counts by outcome) and the report line by line. A dry
run is the same job with nothing changed: each line says what it would become.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request

from activities.imports import ImportOptions
from starter.api.deps import Deps, Manager, Staff
from starter.api.routes.staff import ERRORS
from starter.api.schemas import ErrorBody, ImportReport
from starter.imports import import_csv
from starter.moving_in import ImportStatus, parse_pairs

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


# --- moving in ------------------------------------------------------------------------------

Format = Annotated[
    Literal["generic", "mindbody", "boulevard"],
    Query(description="whose export: a generic file, or Mindbody's or Boulevard's headers"),
]
DryRun = Annotated[bool, Query(description="report what would happen; change nothing")]
Columns = Annotated[
    list[str] | None,
    Query(
        description="`field=Header`, repeated: read a field from a column the known "
        "headers do not name (see the README's table of fields)",
        max_length=30,
    ),
]
_JOB_ERRORS: dict[int | str, dict[str, object]] = {
    **ERRORS,
    413: {"model": ErrorBody, "description": "the file is larger than 20 MB"},
    422: {"model": ErrorBody, "description": "the file cannot be read (no header, too many rows…)"},
}


async def _body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_BYTES:
        raise HTTPException(413, f"file too large: at most {MAX_BYTES // (1024 * 1024)} MB")
    return body


@router.post("/clients", status_code=202, openapi_extra=_CSV_BODY, responses=_JOB_ERRORS)
async def import_clients(
    request: Request,
    deps: Deps,
    member: Manager,
    format: Format = "generic",
    dry_run: DryRun = False,
    column: Columns = None,
    file_name: Annotated[str | None, Query(max_length=200)] = None,
) -> ImportStatus:
    """Import clients (manager): name, phone, email and each platform's client id. Phones
    become E.164 in the spa's country; platform ids are linked; a row matching a client by
    platform id is that client (skipped, or updated when details differ); one matching
    only by phone or email is reported as a duplicate, never merged. Answers the job (202);
    follow it at GET /api/imports/{job_id}."""
    return await deps.imports.submit(
        "clients",
        await _body(request),
        actor=member.staff_id,
        format=format,
        dry_run=dry_run,
        file_name=file_name,
        mapping=parse_pairs(column, "column"),
    )


@router.post("/packages", status_code=202, openapi_extra=_CSV_BODY, responses=_JOB_ERRORS)
async def import_packages(
    request: Request,
    deps: Deps,
    member: Manager,
    format: Format = "generic",
    dry_run: DryRun = False,
    include_expired: Annotated[
        bool,
        Query(description="keep packages already expired, as expired, instead of refusing them"),
    ] = False,
    type_map: Annotated[
        list[str] | None,
        Query(
            alias="type",
            description="`Old package name=type_code`, repeated: the old system's names",
            max_length=200,
        ),
    ] = None,
    column: Columns = None,
    day_first: Annotated[bool, Query(description="read 03/04/2026 as 3 April")] = False,
    location: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=150,
            description="the location of rows whose Location column is empty or missing "
            "(default: the default location)",
        ),
    ] = None,
    file_name: Annotated[str | None, Query(max_length=200)] = None,
) -> ImportStatus:
    """Import open packages with their opening balances (manager). Each row becomes a
    running package whose ledger opens with an `opening_balance` entry (not a sale),
    reminders planned from its real expiry. The old purchase id is the key: the same file
    twice changes nothing. Answers the job (202); follow it at GET /api/imports/{job_id}."""
    return await deps.imports.submit(
        "packages",
        await _body(request),
        actor=member.staff_id,
        format=format,
        dry_run=dry_run,
        file_name=file_name,
        options=ImportOptions(
            include_expired=include_expired,
            type_map=parse_pairs(type_map, "type"),
            location_id=location,
        ),
        mapping=parse_pairs(column, "column"),
        day_first=day_first,
    )


@router.get("", responses=ERRORS)
async def import_jobs(
    deps: Deps,
    member: Manager,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[ImportStatus]:
    """The latest import jobs, newest first: status and counts, without their lines."""
    return await deps.imports.recent(limit)


@router.get("/{job_id}", responses=ERRORS)
async def import_job(
    deps: Deps,
    member: Manager,
    job_id: Annotated[str, Path(min_length=1, max_length=100)],
    problems_only: Annotated[
        bool, Query(description="only the lines not imported (duplicates, refusals)")
    ] = False,
    offset: Annotated[int, Query(ge=0, description="lines to skip (5,000 per answer)")] = 0,
) -> ImportStatus:
    """An import job: status (running, done, failed), rows done of rows total, counts by
    outcome, and the report by line (the file's line numbers, the header being line 1)."""
    return await deps.imports.status(job_id, problems_only=problems_only, offset=offset)
