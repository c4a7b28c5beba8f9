"""The stable renewal link a client clicks: `/renew/{token}` → a fresh checkout.

The link in a reminder and the CRM's `renewal_link` name the offer, not a checkout (a
Stripe Checkout Session dies after 24 hours). A click makes the checkout with the
configured processor, or reuses the offer's open one, and answers 303 to it. A link
nobody issued is a 404; one revoked, expired with its package, or already paid is a 410;
each says what to do instead (call the spa). Managers can revoke a package's links.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from activities.payments.renewal_links import LinkState
from starter.api.deps import Deps, Manager

router = APIRouter()

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}
_PAGES: dict[LinkState, tuple[int, str, str]] = {
    "unknown": (
        404,
        "This renewal link is not valid",
        "Check that the whole link was copied from your message, or call {spa} to renew.",
    ),
    "revoked": (
        410,
        "This renewal link was withdrawn",
        "Please call {spa} and we will renew your package with you.",
    ),
    "expired": (
        410,
        "This renewal link has expired",
        "It expired with the package it renews. Please call {spa} to renew.",
    ),
    "renewed": (
        410,
        "This package has already been renewed",
        "Your payment for this renewal has arrived. Questions? Call {spa}.",
    ),
}


def _page(spa: str, status: int, title: str, text: str) -> HTMLResponse:
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title>"
        f"<h1>{escape(title)}</h1><p>{escape(text.format(spa=spa))}</p></html>"
    )
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


@router.get("/renew/{token}", include_in_schema=False)
async def renew(token: str, deps: Deps) -> Response:
    spa = deps.settings.spa_name
    links = deps.payments.links
    if links is None:
        status, title, text = _PAGES["unknown"]
        return _page(spa, status, title, text)
    clicked = await links.click(token)
    if clicked.state != "open" or clicked.offer is None:
        status, title, text = _PAGES[clicked.state]
        return _page(spa, status, title, text)
    try:
        result = await deps.payments.fresh_renewal_checkout(clicked.offer)
    except ApplicationError:
        return _page(
            spa,
            503,
            "The payment page is not available right now",
            "Please try the link again in a few minutes, or call {spa} to renew.",
        )
    return RedirectResponse(result.url, status_code=303, headers=_HEADERS)


class RevokedLinks(BaseModel):
    package_id: str
    revoked: int


@router.post("/api/packages/{package_id}/renewal-links/revoke", tags=["packages"])
async def revoke_renewal_links(package_id: str, deps: Deps, member: Manager) -> RevokedLinks:
    """Withdraw every renewal link of a package (they answer 410 from now on)."""
    if deps.payments.links is None:
        raise HTTPException(409, "renewal links are off (PUNCHCARD_API_PUBLIC_URL is unset)")
    revoked = await deps.payments.links.revoke(package_id)
    return RevokedLinks(package_id=package_id, revoked=revoked)
