"""The front-desk check-in page: static HTML, JS and CSS shipped inside the package.

The page has no secrets and reads everything through the JSON API with the staff
member's own token, so these routes need no auth. Only the files named below are
served; anything else under /desk is a 404 (no path from the URL reaches the disk).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, HTTPException, Response

router = APIRouter(include_in_schema=False)

ASSETS: dict[str, str] = {
    "desk.js": "text/javascript; charset=utf-8",
    "desk.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Everything the page needs comes from this origin; nothing may frame it. Its one form
# that leaves the page posts to this origin too (the manager's report, in a new tab).
_PAGE_HEADERS = {
    **_HEADERS,
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
}


@cache
def _read(name: str) -> bytes:
    return resources.files("starter.api").joinpath("desk", name).read_bytes()


@router.get("/desk")
async def desk_page() -> Response:
    return Response(
        _read("index.html"), media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS
    )


@router.get("/favicon.ico")
async def favicon() -> Response:
    """Browsers ask for /favicon.ico on pages that name no icon; answer with the desk's."""
    return Response(_read("favicon.svg"), media_type=ASSETS["favicon.svg"], headers=_HEADERS)


@router.get("/desk/{asset}")
async def desk_asset(asset: str) -> Response:
    media_type = ASSETS.get(asset)
    if media_type is None:
        raise HTTPException(404, f"no desk asset {asset!r}")
    return Response(_read(asset), media_type=media_type, headers=_HEADERS)
