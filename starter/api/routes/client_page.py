"""The client's own page, `/me/{token}`: packages, visits, renewal and SMS consent.

Every client message links here (see `activities.repository.client_pages`). The token in
the path is the only credential: no login, no cookie, so a cross-site form cannot act with
a client's session (there is none); the forms post back to the same token path. A token
nobody issued is a 404, one revoked or expired a 410, each saying to ask the spa for a new
link and showing nothing else. The page names the client by first name only and shows no
staff, prices paid or other clients; it is plain HTML (no script) sized for a phone.
"""

from __future__ import annotations

import asyncio
import uuid
from html import escape
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from activities.repository.client_pages import (
    ClientPageLinks,
    ClientPageReader,
    PageState,
    PageVisit,
)
from starter.api.deps import Deps, Manager, Staff
from starter.api.routes.client_page_html import page, render_client_page
from starter.history_days import line_day, service_dates
from workers.worker import build_client_pages
from workflows.models import EntryKind

router = APIRouter()

_PAGES: dict[PageState, tuple[int, str]] = {
    "unknown": (404, "This link is not valid"),
    "revoked": (410, "This link was withdrawn"),
    "expired": (410, "This link has expired"),
}
_ASK = "Please ask {spa} for a new link: reply to any of our texts or give us a call."


def _links(deps: Deps) -> ClientPageLinks | None:
    url = deps.settings.api_public_url
    return None if not url else ClientPageLinks(deps.pool, public_url=url)


async def _client(deps: Deps, token: str) -> str | HTMLResponse:
    """The client a token opens, or the page that says why it opens nothing."""
    links = _links(deps)
    opened = await links.open(token) if links is not None else None
    if opened is None or opened.state != "open" or opened.client_id is None:
        status, title = _PAGES[opened.state if opened is not None else "unknown"]
        spa = deps.settings.spa_name
        return page(spa, title, f"<p>{escape(_ASK.format(spa=spa))}</p>", status=status)
    return opened.client_id


@router.get("/me/{token}", include_in_schema=False)
async def client_page(token: str, deps: Deps, saved: str | None = None) -> Response:
    client_id = await _client(deps, token)
    if isinstance(client_id, HTMLResponse):
        return client_id
    reader = ClientPageReader(deps.pool)
    name, packages, visits, opted_out = await asyncio.gather(
        reader.first_name(client_id),
        reader.packages(client_id),
        reader.visits(client_id),
        reader.sms_opt_out(client_id),
    )
    renewable = {
        p.package_id
        for p in packages
        if await reader.renewal_offer(p.package_id, client_id) is not None
    }
    days = await _visit_days(deps, visits)
    return render_client_page(
        spa=deps.settings.spa_name,
        timezone=deps.settings.spa_timezone,
        token=token,
        first_name=name or "",
        packages=packages,
        visits=list(zip(visits, days, strict=True)),
        renewable=renewable,
        sms_opt_out=opted_out,
        saved=saved,
    )


async def _visit_days(deps: Deps, visits: list[PageVisit]) -> list[str]:
    """Each visit's day in the spa's zone: the appointment's date of service where the
    package workflow knows it (as the desk shows it), else the day it was recorded."""
    ids = sorted({v.package_id for v in visits if v.appointment_id})
    found = await asyncio.gather(*(service_dates(deps.service, i) for i in ids))
    dates = {pid: d for pid, d in zip(ids, found, strict=True)}
    tz = deps.settings.spa_timezone
    days = []
    for v in visits:
        day = line_day(
            kind=EntryKind(v.kind),
            appointment_id=v.appointment_id,
            recorded_at=v.recorded_at,
            dates=dates.get(v.package_id, {}),
            timezone=tz,
        ).day
        days.append(f"{day:%b} {day.day}, {day.year}")
    return days


@router.post("/me/{token}/sms", include_in_schema=False)
async def client_sms_choice(token: str, request: Request, deps: Deps) -> Response:
    """The client's own SMS choice: "stop" takes effect at once; "start" is the client's
    consent, recorded like a START reply (in the inbound event log)."""
    client_id = await _client(deps, token)
    if isinstance(client_id, HTMLResponse):
        return client_id
    form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=5)
    choice = (form.get("choice") or [""])[0]
    if choice not in ("stop", "start"):
        raise HTTPException(422, "choice must be stop or start")
    opted_out = choice == "stop"
    await deps.service.clients.set_sms_opt_out(client_id, opted_out)
    await deps.inbound.record(
        provider="client_page",
        event_key=str(uuid.uuid4()),
        event_type=f"sms:{choice}",
        status="accepted",
        detail=f"opted {'out' if opted_out else 'in'} on the client's page",
        client_id=client_id,
    )
    # Post/redirect/get: a reload does not post again.
    return RedirectResponse(f"/me/{token}?saved={choice}", status_code=303, headers=NO_STORE)


@router.get("/me/{token}/renew/{package_id}", include_in_schema=False)
async def client_renew(token: str, package_id: str, deps: Deps) -> Response:
    """The renewal button: the package's open offer, checked out as its stable link is."""
    client_id = await _client(deps, token)
    if isinstance(client_id, HTMLResponse):
        return client_id
    spa = deps.settings.spa_name
    offer = await ClientPageReader(deps.pool).renewal_offer(package_id, client_id)
    if offer is None:
        body = f"<p>{escape(f'Please call {spa} to renew.')}</p>"
        return page(spa, "This package has no renewal offer open", body, status=404)
    try:
        result = await deps.payments.fresh_renewal_checkout(offer)
    except ApplicationError:
        body = f"<p>{escape(f'Please try again in a few minutes, or call {spa} to renew.')}</p>"
        return page(spa, "The payment page is not available right now", body, status=503)
    return RedirectResponse(result.url, status_code=303, headers=NO_STORE)


NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class PageLink(BaseModel):
    client_id: str
    url: str


@router.post("/api/clients/{client_id}/page-links", tags=["clients"])
async def page_link(client_id: str, deps: Deps, member: Staff) -> PageLink:
    """The client's page link to hand over in person (the live one, else a new one): what
    a client who lost it, or whose link expired or was revoked, asks the desk for."""
    links = build_client_pages(deps.settings, deps.pool)
    if links is None:
        raise HTTPException(409, "client pages are off (PUNCHCARD_API_PUBLIC_URL is unset)")
    if await ClientPageReader(deps.pool).first_name(client_id) is None:
        raise HTTPException(404, f"no client {client_id}")
    return PageLink(client_id=client_id, url=await links.link_for(client_id))


class RevokedPageLinks(BaseModel):
    client_id: str
    revoked: int


@router.post("/api/clients/{client_id}/page-links/revoke", tags=["clients"])
async def revoke_page_links(client_id: str, deps: Deps, member: Manager) -> RevokedPageLinks:
    """Withdraw every link to a client's page (410 from now on); the next message to the
    client carries a new one."""
    if await ClientPageReader(deps.pool).first_name(client_id) is None:
        raise HTTPException(404, f"no client {client_id}")
    links = ClientPageLinks(deps.pool, public_url=deps.settings.api_public_url or "")
    return RevokedPageLinks(client_id=client_id, revoked=await links.revoke(client_id))
