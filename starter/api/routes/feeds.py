"""Feeds for BI tools: the reconciliation, liability by category and location, and the
overrun list as CSV or JSON at stable addresses (`/feeds/{name}.csv|json`) that Power BI's
Web connector, Excel, Looker Studio or a script refresh on a schedule.

Read with a report token (`punchcard report token add`), never a staff token: a token that
opens only these feeds is safe to keep in a BI tool's credential store. It is taken as
`Authorization: Bearer <token>`, or as `?token=` because Power BI's "Web API" credential
sends its key as a query parameter (Web.Contents's ApiKeyName option) and accepts an
Authorization header only for anonymous sources, which would keep the token in the query
text instead of the credential store. Managers issue, list and revoke report tokens under
/api/reports/tokens.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from activities.reports import build_report
from activities.reports.tables import report_tables
from activities.reports.tokens import IssuedToken, ReportToken, ReportTokenStore
from starter.api.deps import Deps, Manager
from starter.reports import ReportRejected, feed_period
from workflows.models import Model

router = APIRouter(prefix="/feeds", tags=["feeds"])
tokens_router = APIRouter(prefix="/api/reports/tokens", tags=["reports"])

_bearer = HTTPBearer(
    auto_error=False, description="a report token from `punchcard report token add`"
)
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_REFUSED = {"WWW-Authenticate": 'Bearer realm="feeds"', **_HEADERS}


class Feed(StrEnum):
    RECONCILIATION = "reconciliation"
    LIABILITY = "liability"
    OVERRUNS = "overruns"


class FeedFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


async def report_reader(
    deps: Deps,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[
        str | None,
        Query(
            max_length=200,
            description="the report token, for tools that cannot send a header (Power BI's "
            '"Web API" credential with ApiKeyName="token")',
        ),
    ] = None,
) -> ReportToken:
    presented = credentials.credentials if credentials is not None else token
    if not presented:
        raise HTTPException(
            401,
            "missing report token: send Authorization: Bearer <token> or ?token= "
            "(punchcard report token add)",
            headers=_REFUSED,
        )
    found = await ReportTokenStore(deps.pool).verify(presented)
    if found is None:
        raise HTTPException(
            401,
            "unknown or revoked report token (staff tokens do not open the feeds)",
            headers=_REFUSED,
        )
    return found


Reader = Annotated[ReportToken, Depends(report_reader)]


@router.get(
    "/{feed}.{fmt}",
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            }
        }
    },
)
async def feed(
    feed: Feed,
    fmt: FeedFormat,
    deps: Deps,
    reader: Reader,
    period: Annotated[
        str | None,
        Query(
            max_length=40,
            description="last-week (default), an ISO week (2026-W10) or days "
            "(2026-03-02..2026-03-08); the overrun list is the latest audit's whatever the "
            "period",
        ),
    ] = None,
) -> Response:
    """One report as a flat table: a header and one row per figure (CSV), or an array of
    objects with the same keys (JSON); dollars with two decimals, dates as YYYY-MM-DD."""
    try:
        chosen = feed_period(period, timezone=deps.settings.spa_timezone)
    except ReportRejected as err:
        raise HTTPException(400, str(err), headers=_HEADERS) from err
    report = await build_report(deps.pool, chosen)
    table = (await report_tables(deps.pool, report))[feed.value]
    if fmt is FeedFormat.CSV:
        return Response(
            table.csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'inline; filename="{feed.value}.csv"', **_HEADERS},
        )
    return Response(
        json.dumps(table.records(), ensure_ascii=False),
        media_type="application/json",
        headers=_HEADERS,
    )


class NewReportToken(Model):
    name: str


@tokens_router.post("", status_code=201)
async def issue_token(body: NewReportToken, deps: Deps, member: Manager) -> IssuedToken:
    """A new read-only report token for a BI tool; its secret is in this answer only."""
    name = body.name.strip()
    if not name or len(name) > 100:
        raise HTTPException(422, "name the token for what reads it (1 to 100 characters)")
    return await ReportTokenStore(deps.pool).issue(name, created_by=member.staff_id)


@tokens_router.get("")
async def list_tokens(deps: Deps, member: Manager) -> list[ReportToken]:
    """Report tokens, newest first (their secrets are not kept)."""
    return await ReportTokenStore(deps.pool).list()


@tokens_router.delete("/{token_id}")
async def revoke_token(token_id: str, deps: Deps, member: Manager) -> ReportToken:
    """Revoke a report token: the feeds refuse it from the next request on."""
    revoked = await ReportTokenStore(deps.pool).revoke(token_id)
    if revoked is None:
        raise HTTPException(404, f"no report token {token_id!r}")
    return revoked
