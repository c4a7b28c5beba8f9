"""Reports for managers: the reconciliation on demand, the overrun audit of an uploaded
export, and the reports stored by the weekly schedule. Manager token required.

Also last week's reconciliation as a page a browser tab can open from the desk
(`page_router`): the token comes in a posted form, since a tab cannot send a header."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from html import escape
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from activities.reports import (
    OverrunAudit,
    ReconciliationReport,
    ReportStore,
    build_report,
    overruns_csv,
    reconciliation_csv,
    reconciliation_html,
)
from activities.repository import Role
from starter.api.deps import Deps, Manager
from starter.reports import audit_export, report_period
from workflows.models import Model

router = APIRouter(prefix="/api/reports", tags=["reports"])
page_router = APIRouter(include_in_schema=False)

_CSV_BODY: dict[str, object] = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}
MAX_BYTES = 20 * 1024 * 1024
_FORMATS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "text/html": {"schema": {"type": "string"}},
        }
    }
}


def _csv(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/reconciliation", response_model=ReconciliationReport, responses=_FORMATS)
async def reconciliation(
    deps: Deps,
    member: Manager,
    format: Annotated[Literal["json", "csv", "html"], Query()] = "json",
    first: Annotated[date | None, Query(alias="from", description="first day, YYYY-MM-DD")] = None,
    last: Annotated[date | None, Query(alias="to", description="last day, inclusive")] = None,
    location: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=150,
            description="only this location's packages, in its zone's days (GET "
            "/api/locations); without it, every location, with a breakdown by location",
        ),
    ] = None,
) -> ReconciliationReport | Response:
    """The reconciliation for whole days in the spa's time zone (default: last week, Monday
    to Sunday), computed now from the ledger: JSON, CSV, or an HTML page with a chart. A
    spa with several locations gets the figures by location too; `location` narrows the
    report to one (its packages; the review queue stays the whole spa's)."""
    where, zone = await _report_location(deps, location)
    period = report_period(first, last, timezone=zone)
    report = await build_report(deps.pool, period, location=where)
    stem = f"reconciliation-{period.first_day}-to-{period.last_day}" + (
        f"-{where}" if where else ""
    )
    if format == "csv":
        return _csv(reconciliation_csv(report), f"{stem}.csv")
    if format == "html":
        # The chart is drawn by matplotlib (CPU work): off the event loop.
        html = await asyncio.to_thread(reconciliation_html, report, spa_name=deps.settings.spa_name)
        return HTMLResponse(html)
    return report


async def _report_location(deps: Deps, location: str | None) -> tuple[str | None, str]:
    """The location a report is of (None: all; also for `main`, a spa's only, implied one)
    and the zone its days are counted in. Unknown: 404."""
    if location is None:
        return None, deps.settings.spa_timezone
    found = await deps.locations.get(location)
    if await deps.locations.locations.get(location) is None:  # the implied one: the spa
        return None, deps.settings.spa_timezone
    return found.location_id, found.timezone


@router.post("/overruns", response_model=OverrunAudit, openapi_extra=_CSV_BODY, responses=_FORMATS)
async def overruns(
    request: Request,
    deps: Deps,
    member: Manager,
    platform: Annotated[Literal["csv", "boulevard", "mindbody", "zenoti", "jane"], Query()] = "csv",
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> OverrunAudit | Response:
    """Audit an export of completed appointments (last 90 days) against purchases: clients
    whose visits exceed what they bought, with the value; unknown clients and services and
    bad rows are listed with their line numbers. The audit is stored."""
    body = await request.body()
    if len(body) > MAX_BYTES:
        raise HTTPException(413, f"file too large: at most {MAX_BYTES // (1024 * 1024)} MB")
    audit = await audit_export(
        body,
        pool=deps.pool,
        platform=platform,
        timezone=deps.settings.spa_timezone,
        actor=member.staff_id,
    )
    if format == "csv":
        return _csv(overruns_csv(audit), f"{audit.report_id}.csv")
    return audit


class StoredReportInfo(Model):
    report_id: str
    kind: str
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    generated_by: str
    email_status: str | None


@router.get("")
async def stored_reports(
    deps: Deps,
    member: Manager,
    kind: Annotated[Literal["reconciliation", "overrun_audit"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[StoredReportInfo]:
    """Reports stored by the weekly schedule and by overrun audits, newest first."""
    return [
        StoredReportInfo.model_validate(r.model_dump(include=set(StoredReportInfo.model_fields)))
        for r in await ReportStore(deps.pool).list(kind, limit)
    ]


@router.get("/{report_id}", responses=_FORMATS)
async def stored_report(
    report_id: str,
    deps: Deps,
    member: Manager,
    format: Annotated[Literal["csv", "html"], Query()] = "html",
) -> Response:
    """A stored report (the weekly reconciliation, or an overrun audit) as it was made."""
    stored = await ReportStore(deps.pool).get(report_id)
    if stored is None:
        raise HTTPException(404, f"no stored report {report_id!r}")
    if format == "html":
        if stored.html is None:
            raise HTTPException(404, f"report {report_id!r} has no HTML page: ask for format=csv")
        return HTMLResponse(stored.html)
    return _csv(stored.csv, f"{report_id}.csv")


# The report is a document of its own: its inline styles, nothing fetched, nothing run.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _page_refusal(status: int, text: str) -> HTMLResponse:
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Punchcard report</title></head><body><p>{escape(text)}</p></body></html>"
    )
    return HTMLResponse(page, status_code=status, headers=_PAGE_HEADERS)


@page_router.post("/reports/reconciliation")
async def reconciliation_page(request: Request, deps: Deps) -> HTMLResponse:
    """Last week's reconciliation, the page the Monday email carries, for the desk's
    manager link. The desk posts the staff token in a form, never in the address (where
    history and logs would keep it)."""
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=4)
    token = (fields.get("token") or [""])[0]
    member = await deps.staff.by_token(token) if token else None
    if member is None:
        return _page_refusal(401, "Signed out: sign in at the front desk page again.")
    if member.role is not Role.MANAGER:
        return _page_refusal(
            403, f"Only a manager may read the report ({member.staff_id} is front desk)."
        )
    period = report_period(None, None, timezone=deps.settings.spa_timezone)
    report = await build_report(deps.pool, period)
    html = await asyncio.to_thread(reconciliation_html, report, spa_name=deps.settings.spa_name)
    return HTMLResponse(html, headers=_PAGE_HEADERS)
